/**
 * `scan-worker rejected`: the newest rejected events.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { formatRejections, wholeNumber } from "../ops/operator.ts";
import { openStore } from "../store/open.ts";
import { defineCommand } from "./command.ts";

/** The `rejected` command. */
export const rejected = defineCommand({
  name: "rejected",
  summary: "the newest rejected events",
  description:
    `Prints the newest rows of RejectedEvents, newest first: the EventId (when the event had a
usable one), why it was rejected, and its JSON as received.`,
  flags: [
    { name: "limit", type: "string", value: "N", help: "how many (20)" },
    { name: "json", type: "boolean", help: "as a JSON array" },
  ],
  needs: ["database"],
  logTo: "stderr",
  examples: ["scan-worker rejected", "scan-worker rejected --limit 100 --json"],
  async run({ config, flags, io }) {
    const limit = typeof flags.limit === "string" ? wholeNumber(flags.limit, "--limit", 1) : 20;
    const store = await openStore(config, { readOnly: true });
    try {
      const rows = await store.rejections(limit);
      io.stdout(flags.json === true ? JSON.stringify(rows) + "\n" : formatRejections(rows));
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});

/**
 * `scan-worker status`: the store's key figures, as text or JSON.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { formatStatus, statusReport } from "../ops/status.ts";
import { openStore } from "../store/open.ts";
import { defineCommand } from "./command.ts";

/** The `status` command. */
export const status = defineCommand({
  name: "status",
  summary: "checkpoint, parcels, rejections, schema version, newest event",
  description:
    `Prints the checkpoint (and when it last moved), the parcel and rejection counts, the schema
version, and the newest applied event with its age: how far behind the couriers the table is.
Reads only; the database must exist.`,
  flags: [{ name: "json", type: "boolean", help: "as one JSON object" }],
  needs: ["database"],
  logTo: "stderr",
  examples: ["scan-worker status", "scan-worker status --json --db sqlite:./scan-worker.db"],
  async run({ config, flags, io }) {
    const store = await openStore(config, { readOnly: true });
    try {
      const report = statusReport(config.databaseForLog, await store.status(), Date.now());
      io.stdout(flags.json === true ? JSON.stringify(report) + "\n" : formatStatus(report));
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});

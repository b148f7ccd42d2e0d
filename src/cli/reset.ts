/**
 * `scan-worker reset --to <EventId>`: move the checkpoint, under the feed lock.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { logger } from "../log.ts";
import { resetCheckpoint, wholeNumber } from "../ops/operator.ts";
import { openStore } from "../store/open.ts";
import { defineCommand } from "./command.ts";

/** The `reset` command. */
export const reset = defineCommand({
  name: "reset",
  summary: "move the checkpoint (replay or skip)",
  description:
    `Moves the checkpoint to EventId. Back replays events: safe, since applying a page again
changes nothing stored and adds no rejection twice. Forward skips them for good. It takes the
feed lock first and refuses (exit 1) while a worker holds it; it asks for confirmation on a
terminal, and without --yes refuses (exit 2) when stdin is not a terminal.`,
  flags: [
    { name: "to", type: "string", value: "EventId", help: "the new checkpoint" },
    { name: "yes", type: "boolean", help: "do not ask for confirmation" },
  ],
  needs: ["database"],
  logTo: "stderr",
  examples: ["scan-worker reset --to 83000", "scan-worker reset --to 0 --yes"],
  async run({ config, flags, io }) {
    const eventId = wholeNumber(
      typeof flags.to === "string" ? flags.to : undefined,
      "--to",
      0,
    );
    const store = await openStore(config.database);
    try {
      const outcome = await resetCheckpoint(store, eventId, flags.yes === true, {
        interactive: io.stdinIsTerminal,
        ask: (question) => (io.prompt(question) ?? "").trim().toLowerCase().startsWith("y"),
      });
      logger("reset").warning("Checkpoint moved from {from} to {to} by reset", { ...outcome });
      io.stdout(`checkpoint moved from ${outcome.from} to ${outcome.to}\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});

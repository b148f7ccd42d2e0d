/**
 * `scan-worker reset --to <EventId>`: move the checkpoint, under the feed lock.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { logger } from "../log.ts";
import { FetchFailedError, ScanApiClient } from "../api/client.ts";
import type { ApiLinkConfig } from "../config.ts";
import { pageEnd } from "../domain/project.ts";
import { describeMove, type FeedReaches, resetCheckpoint, wholeNumber } from "../ops/operator.ts";
import { openStore } from "../store/open.ts";
import { defineCommand } from "./command.ts";

/** The `reset` command. */
export const reset = defineCommand({
  name: "reset",
  summary: "move the checkpoint (replay or skip)",
  description:
    `Moves the checkpoint to EventId and says how far. Back replays events: safe, since applying
a page again changes nothing stored and adds no rejection twice. Forward skips them for good,
and only as far as the feed reaches: it asks the Scan Event API for the page at EventId and
refuses (exit 1) when there is none, unless --beyond-feed. It takes the feed lock first and
refuses (exit 1) while a worker holds it; it asks for confirmation on a terminal, and without
--yes refuses (exit 2) when stdin is not a terminal.`,
  flags: [
    { name: "to", type: "string", value: "EventId", help: "the new checkpoint", required: true },
    { name: "yes", type: "boolean", help: "do not ask for confirmation" },
    {
      name: "beyond-feed",
      type: "boolean",
      help: "move forward even past the feed's last event (or with the API unreachable)",
    },
  ],
  needs: ["database", "apiLink"],
  logTo: "stderr",
  examples: [
    "scan-worker reset --to 83000",
    "scan-worker reset --to 0 --yes",
    "scan-worker reset --to 120000 --yes --beyond-feed",
  ],
  async run({ config, flags, io }) {
    const eventId = wholeNumber(String(flags.to), "--to", 0);
    const store = await openStore(config);
    try {
      const outcome = await resetCheckpoint(store, eventId, {
        yes: flags.yes === true,
        beyondFeed: flags["beyond-feed"] === true,
        reaches: feedReaches(config),
        confirm: {
          interactive: io.stdinIsTerminal,
          ask: (question) => (io.prompt(question) ?? "").trim().toLowerCase().startsWith("y"),
        },
      });
      const move = describeMove(outcome.from, outcome.to);
      logger("reset").warning("Checkpoint moved from {from} to {to} by reset: {move}", {
        ...outcome,
        move,
      });
      io.stdout(`checkpoint moved from ${outcome.from} to ${outcome.to}, ${move}\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});

/** Ask the API for one event at `eventId` or after (three attempts, then give up). */
function feedReaches(config: ApiLinkConfig): FeedReaches {
  const client = new ScanApiClient({
    url: config.apiUrl,
    limit: 1,
    token: config.apiToken,
    timeoutMs: config.apiTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    backoff: { baseMs: 200, capMs: 1000 },
    attempts: 3,
    logger: logger("api"),
  });
  return async (eventId) => {
    try {
      const page = await client.fetchPage(eventId, new AbortController().signal);
      // An event at `eventId` or later (an API that ignores FromEventId proves nothing).
      return pageEnd(eventId - 1, page.events) >= eventId;
    } catch (error) {
      if (error instanceof FetchFailedError) throw new Error(error.failure.problem);
      throw error;
    }
  };
}

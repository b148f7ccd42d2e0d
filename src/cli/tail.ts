/**
 * `scan-worker tail`: print the stream's events as they arrive, optionally only a type or a
 * parcel, from now or from an EventId.
 *
 * @module
 */

import { DeliverPolicy } from "@nats-io/jetstream";
import { type EventBody, subjectFilter } from "../domain/message.ts";
import { EXIT, UsageError } from "../errors.ts";
import { logger } from "../log.ts";
import { seqOfEventId } from "../nats/mod.ts";
import { wholeNumber } from "../ops/operator.ts";
import { defineCommand } from "./command.ts";
import type { CliIo } from "./io.ts";
import { streamLink } from "./wiring.ts";

/**
 * How `tail` spaces its attempts to reach the broker: someone is watching, so never more than
 * 5 s apart (the worker's RETRY_* settings are for the worker).
 */
const CONNECT_RETRY = { retryBaseMs: 500, retryMaxMs: 5000 } as const;

/** An event for people: one line. */
export function formatEvent(body: EventBody): string {
  const run = body.RunId === null ? "" : `, run ${body.RunId}`;
  const status = body.StatusCode === "" ? "" : `, status ${body.StatusCode}`;
  return `${body.EventId} ${body.Type} parcel ${body.ParcelId} at ${body.CreatedDateTimeUtc}${status}${run}\n`;
}

/** An abort signal for SIGINT/SIGTERM, and how to stop listening. */
function onStop(io: CliIo): { signal: AbortSignal; stop: () => void } {
  const controller = new AbortController();
  const stop = io.onSignal((signal) => {
    logger("tail").info("Received {signal}: stopping", { signal });
    controller.abort();
  });
  return { signal: controller.signal, stop };
}

/** The `tail` command. */
export const tail = defineCommand({
  name: "tail",
  summary: "print events from the stream as they arrive",
  description:
    `Reads the NATS JetStream stream the worker publishes to (NATS_URL, NATS_STREAM) and prints
each event on a line, or as its JSON body with --json: from now on, or from an EventId. --type
and --parcel keep only one type or one parcel. Retries reaching the broker every 0.5 to 5 s
until it answers. Stops on SIGINT/SIGTERM.`,
  flags: [
    { name: "type", type: "string", value: "T", help: "only events of this type (PICKUP, …)" },
    { name: "parcel", type: "string", value: "P", help: "only events of this parcel" },
    {
      name: "from",
      type: "string",
      value: "EventId",
      help: "start at this event (default: new ones)",
    },
    { name: "json", type: "boolean", help: "print each event's JSON body" },
  ],
  needs: ["natsLink"],
  settingHelp: {
    NATS_URL:
      "the NATS server whose stream is read: nats://[user:pass@]host:4222 or nats://token@host",
  },
  logTo: "stderr",
  examples: [
    "NATS_URL=nats://broker:4222 scan-worker tail",
    "scan-worker tail --type delivery --json",
    "scan-worker tail --parcel 5002 --from 1",
  ],
  async run({ config, flags, io }) {
    if (config.nats === null) {
      throw new UsageError("tail reads the stream NATS_URL names: set NATS_URL");
    }
    const type = typeof flags.type === "string" ? flags.type : null;
    const parcel = typeof flags.parcel === "string"
      ? wholeNumber(flags.parcel, "--parcel", 1)
      : null;
    const from = typeof flags.from === "string" ? wholeNumber(flags.from, "--from", 1) : null;
    const { signal, stop } = onStop(io);
    const link = await streamLink({ ...config, ...CONNECT_RETRY })(signal);
    try {
      if (link === null) return EXIT.ok;
      const start = from === null
        ? { deliver_policy: DeliverPolicy.New }
        : { opt_start_seq: await seqOfEventId(link, from) };
      const consumer = await link.js.consumers.get(link.stream, {
        ...start,
        filter_subjects: subjectFilter(type, parcel),
      });
      const messages = await consumer.consume();
      signal.addEventListener("abort", () => messages.stop(), { once: true });
      if (signal.aborted) messages.stop();
      for await (const message of messages) {
        const body = message.json<EventBody>();
        io.stdout(flags.json === true ? `${message.string()}\n` : formatEvent(body));
      }
      return EXIT.ok;
    } finally {
      stop();
      await link?.close();
    }
  },
});

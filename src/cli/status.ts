/**
 * `scan-worker status`: the store's key figures, as text or JSON.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { formatStatus, statusReport } from "../ops/status.ts";
import { openStore } from "../store/open.ts";
import { defineCommand } from "./command.ts";
import { groupReport, requireNats } from "./group.ts";
import { formatGroupStatus } from "../ops/group_status.ts";

/** The `status` command. */
export const status = defineCommand({
  name: "status",
  summary: "checkpoint, parcels, rejections, schema version, newest event",
  description:
    `Prints the checkpoint (and when it last moved), the parcel and rejection counts, the schema
version, and the newest applied event with its age: how far behind the couriers the table is.
Reads only; the database must exist. With NATS_URL and --group NAME (NATS_GROUP), also the
group's consumer: messages pending, unacknowledged and redelivered.`,
  flags: [{ name: "json", type: "boolean", help: "as one JSON object" }],
  needs: ["database", "natsLink", "group"],
  logTo: "stderr",
  examples: [
    "scan-worker status",
    "scan-worker status --json --db sqlite:./scan-worker.db",
    "NATS_URL=nats://broker:4222 scan-worker status --group ledger --db postgres://scan@db/ledger",
  ],
  async run({ config, flags, io }) {
    if (config.natsGroup !== null) requireNats(config);
    const store = await openStore(config, { readOnly: true });
    try {
      const report = statusReport(config.databaseForLog, await store.status(), Date.now());
      const group = config.natsGroup === null ? null : await groupReport(config, config.natsGroup);
      if (flags.json === true) {
        io.stdout(JSON.stringify(group === null ? report : { ...report, group }) + "\n");
      } else {
        io.stdout(formatStatus(report) + (group === null ? "" : formatGroupStatus(group)));
      }
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});

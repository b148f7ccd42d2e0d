/**
 * `scan-worker parcel <ParcelId>`: one parcel's row.
 *
 * @module
 */

import { CommandError, EXIT } from "../errors.ts";
import { formatParcel, wholeNumber } from "../ops/operator.ts";
import { openStore } from "../store/open.ts";
import { defineCommand } from "./command.ts";

/** The `parcel` command. */
export const parcel = defineCommand({
  name: "parcel",
  summary: "one parcel's row",
  description:
    `Prints a parcel's ParcelStates row: its last event, pickup and delivery times, all in UTC.
Exits 1 when the parcel is not in the table.`,
  flags: [{ name: "json", type: "boolean", help: "as one JSON object" }],
  positionals: [{ name: "ParcelId", example: "5002" }],
  needs: ["database"],
  logTo: "stderr",
  examples: ["scan-worker parcel 5002", "scan-worker parcel 5002 --json"],
  async run({ config, flags, args, io }) {
    const parcelId = wholeNumber(args[0], "ParcelId", 1);
    const store = await openStore(config, { readOnly: true });
    try {
      const row = await store.parcel(parcelId);
      if (row === null) throw new CommandError(`parcel ${parcelId} is not in ParcelStates`);
      io.stdout(flags.json === true ? JSON.stringify(row) + "\n" : formatParcel(row));
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});

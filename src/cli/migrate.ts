/**
 * `scan-worker migrate`: apply pending migrations and print what was applied.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { openStore } from "../store/open.ts";
import { defineCommand } from "./command.ts";

/** The `migrate` command. */
export const migrate = defineCommand({
  name: "migrate",
  summary: "apply pending database migrations",
  description:
    `Applies the migrations this program has and the database lacks, in one transaction under a
lock (two instances cannot migrate at once), and prints each one applied. An applied migration
that was edited since, or a database migrated by a newer scan-worker, stops it with exit 1.`,
  flags: [],
  needs: ["database"],
  logTo: "stderr",
  examples: ["scan-worker migrate --db postgres://scan:secret@db:5432/scan"],
  async run({ config, io }) {
    const store = await openStore(config);
    try {
      const applied = await store.migrate();
      if (applied.length === 0) {
        const schemaVersion = await store.schemaVersion();
        io.stdout(`schema is up to date (version ${schemaVersion})\n`);
      }
      for (const m of applied) {
        io.stdout(
          `applied ${String(m.version).padStart(3, "0")}_${m.name} (${m.checksum.slice(0, 12)})\n`,
        );
      }
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});

/**
 * The store contract, the schema: migrations applied once, the version read alone, the readiness
 * probe, an unmigrated or edited database refused.
 *
 * @module
 */

import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { MigrationError, SchemaMissingError } from "../../src/errors.ts";
import { type ContractTest } from "./_contract.ts";

/** Register the schema tests of the contract with `test`. */
export function schemaContract(test: ContractTest): void {
  test("migrate applies the schema once and starts at checkpoint 0", async (_h, store) => {
    const first = await store.migrate();
    assertEquals(first[0] && [first[0].version, first[0].name], [1, "init"]);
    assertEquals(first.map((m) => m.version), first.map((_, i) => i + 1));
    assertEquals(await store.migrate(), []);
    assertEquals(await store.readCheckpoint(), 0);
    await store.verifySchema();
    const status = await store.status();
    assertEquals([status.schemaVersion, status.parcels, status.newestEventUtc], [
      first.length,
      0,
      null,
    ]);
  });

  test(
    "the schema version is read alone: 0 before migrating, the last migration after",
    async (_h, store) => {
      assertEquals(await store.schemaVersion(), 0);
      const applied = await store.migrate();
      assertEquals(await store.schemaVersion(), applied.at(-1)?.version);
      assertEquals(await store.schemaVersion(), (await store.status()).schemaVersion);
    },
  );

  test("ping answers on a migrated database and on an empty one", async (_h, store) => {
    await store.ping();
    await store.migrate();
    await store.ping();
  });

  test("an unmigrated database is reported as such", async (_h, store) => {
    await assertRejects(store.verifySchema(), SchemaMissingError, /scan-worker migrate/);
  });

  test("an edited applied migration stops the store", async (h, store) => {
    await store.migrate();
    await h.tamperMigrationChecksum();
    await assertRejects(store.migrate(), MigrationError, /001_init\.sql was edited/);
    await assertRejects(store.verifySchema(), MigrationError, /001_init\.sql was edited/);
  });
}

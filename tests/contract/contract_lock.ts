/**
 * The store contract, the feed lock: one holder at a time.
 *
 * @module
 */

import { assertEquals } from "../helpers/assert.ts";
import { type ContractTest } from "./_contract.ts";

/** Register the lock tests of the contract with `test`. */
export function lockContract(test: ContractTest): void {
  test("only one instance holds the feed lock; it passes on when released", async (h, store) => {
    await store.migrate();
    const other = await h.open();
    try {
      const lock = await store.tryLockFeed();
      assertEquals(lock === null, false);
      assertEquals(await lock?.held(), true);
      assertEquals(await other.tryLockFeed(), null);
      await lock?.release();
      const taken = await other.tryLockFeed();
      assertEquals(taken === null, false);
      assertEquals(await store.tryLockFeed(), null);
      await taken?.release();
    } finally {
      await other.close();
    }
  });
}

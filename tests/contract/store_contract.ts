/**
 * The store contract: one suite every store adapter must pass, against a real database, in parts
 * by concern (schema, page writes, replays, text, lock, outbox). An adapter's test file supplies a
 * {@link StoreHarness} that opens stores on a fresh database and reads its tables back in one
 * common shape.
 *
 * @module
 */

import type { ContractTest, StoreHarness } from "./_contract.ts";
import { schemaContract } from "./contract_schema.ts";
import { pageContract, replayContract } from "./contract_pages.ts";
import { textContract } from "./contract_text.ts";
import { lockContract } from "./contract_lock.ts";
import { outboxContract } from "./contract_outbox.ts";

export type { ParcelRow, RejectionRow, StoreHarness } from "./_contract.ts";

/**
 * Register the contract's tests for one store.
 * @param name the store, prefixed to each test name.
 * @param makeHarness a fresh database per test.
 */
export function storeContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  const test: ContractTest = (title, body) => {
    Deno.test(`${name} store: ${title}`, async () => {
      const harness = await makeHarness();
      const store = await harness.open();
      try {
        await body(harness, store, (text) => harness.storedTime?.(text) ?? text);
      } finally {
        await store.close();
        await harness.cleanup();
      }
    });
  };
  for (
    const part of [
      schemaContract,
      pageContract,
      replayContract,
      textContract,
      lockContract,
      outboxContract,
    ]
  ) {
    part(test);
  }
}

/**
 * What one resilient wrapper around a store would cost: a `Proxy` that runs every method call
 * through `storeCall` (the decorator docs/stores.md weighs), against the store as it is, where
 * each method calls it itself. The wrapped store here runs `storeCall` twice (its own and the
 * wrapper's), so the difference is an upper bound of the wrapper's cost. In-memory SQLite, the
 * same 1000-event pages for both.
 *
 * @module
 */

import { projectPage } from "../src/domain/project.ts";
import { feedShape, pageEvents } from "../src/simulator/model.ts";
import { SqliteStore } from "../src/store/sqlite.ts";
import { storeCall } from "../src/store/_call.ts";
import { SQLITE_ERRORS } from "../src/store/sqlite_errors.ts";
import type { Store } from "../src/store/store.ts";
import { writingPage } from "../src/store/_call.ts";
import type { PageResult } from "../src/domain/project.ts";

/** What each wrapped method is called in errors, from its arguments. */
const DOING: Record<string, (...args: never[]) => string> = {
  applyPage: (result: PageResult) => writingPage(result),
  ping: () => "checking the database",
};

/** `store` with each named method run through `storeCall` by a proxy. */
function resilient(store: Store): Store {
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      const doing = typeof key === "string" ? DOING[key] : undefined;
      if (doing === undefined) return value.bind(target);
      return (...args: never[]) =>
        storeCall(SQLITE_ERRORS, doing(...args), () => value.apply(target, args), 1);
    },
  });
}

const shape = feedShape({ seed: 1, events: 1_000_000, parcels: 100_000 });
const plain = new SqliteStore(":memory:");
const wrapped = resilient(new SqliteStore(":memory:"));
await plain.migrate();
await wrapped.migrate();
const checkpoints = new Map<Store, number>([[plain, 0], [wrapped, 0]]);

/** Write the next 1000-event page to `store`, timing only the write. */
async function nextPage(store: Store, b: Deno.BenchContext): Promise<void> {
  const checkpoint = checkpoints.get(store) ?? 0;
  const events = pageEvents(shape, checkpoint + 1, 1000, 1_000_000).map((e) => e.raw);
  const result = projectPage(checkpoint, events);
  b.start();
  await store.applyPage(result);
  b.end();
  checkpoints.set(store, result.to);
}

Deno.bench("store call: applyPage of 1000, as the stores are", {
  group: "page",
  baseline: true,
}, async (b) => await nextPage(plain, b));

Deno.bench("store call: applyPage of 1000, through a resilient proxy", {
  group: "page",
}, async (b) => await nextPage(wrapped, b));

Deno.bench("store call: ping, as the stores are", { group: "call", baseline: true }, async () => {
  await plain.ping();
});

Deno.bench("store call: ping, through a resilient proxy", { group: "call" }, async () => {
  await wrapped.ping();
});

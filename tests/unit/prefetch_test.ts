/**
 * The prefetcher's turns of the event loop: a page the loop waits for, once it arrives full, is
 * projected after the turns its source's requests need (`REQUEST_TURNS` by default), and at once
 * for a source that needs none (the stream source reads its next page on a later turn itself).
 */
import { setImmediate } from "node:timers";
import { assertEquals } from "../helpers/assert.ts";
import type { FetchedPage, PageSource } from "../../src/source.ts";
import { Prefetcher } from "../../src/worker/prefetch.ts";

/**
 * The order of a waited-for page's projection and a callback queued for the next turn of the
 * event loop when the page arrives, with a source of `requestTurns`.
 */
async function orderWith(requestTurns: number | undefined): Promise<string[]> {
  const order: string[] = [];
  const first = Promise.withResolvers<FetchedPage>();
  const source: PageSource = {
    ...(requestTurns === undefined ? {} : { requestTurns }),
    fetchPage(from: number) {
      if (from === 1) return first.promise;
      return Promise.resolve({ from, events: [], full: false, attempts: 1, ms: 0 });
    },
  };
  const pages = new Prefetcher({
    source,
    signal: new AbortController().signal,
    project: (fetched) => fetched.from === 1 && order.push("page 1 projected"),
  });
  const taken = pages.take(1); // the loop waits for page 1
  const events = [{ EventId: 1 }, { EventId: 2 }];
  first.resolve({ from: 1, events, full: true, attempts: 1, ms: 0 });
  setImmediate(() => order.push("next turn"));
  await taken;
  await new Promise((resolve) => setImmediate(resolve)); // the queued callback has run
  await pages.cancel();
  return order;
}

Deno.test("a waited-for full page is projected after the turns an HTTP request needs", async () => {
  assertEquals(await orderWith(undefined), ["next turn", "page 1 projected"]);
});

Deno.test("a source that needs no turns has its waited-for page projected at once", async () => {
  assertEquals(await orderWith(0), ["page 1 projected", "next turn"]);
});

/**
 * The re-reads of the head (`src/worker/reread.ts`): where each starts, what it covered, and
 * when one is due at the head.
 */
import { assertEquals } from "../helpers/assert.ts";
import { HeadRereads } from "../../src/worker/reread.ts";
import type { PageSource } from "../../src/source.ts";

const HOLES = [{ lo: 3, hi: 4, sinceMs: 0 }, { lo: 20, hi: 21, sinceMs: 0 }];

/** A source whose pages hold `ids` from `from` on, at most `limit`, and the asked positions. */
function source(ids: number[], limit: number): { source: PageSource; asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    source: {
      fetchPage(from: number) {
        asked.push(from);
        const events = ids.filter((id) => id >= from).slice(0, limit).map((EventId) => ({
          EventId,
        }));
        return Promise.resolve({ from, events, full: events.length === limit, attempts: 1, ms: 0 });
      },
    },
  };
}

Deno.test("a full re-read page moves the next one past it; a short one starts again from the first hole", async () => {
  const signal = new AbortController().signal;
  const rereads = new HeadRereads(1000);
  const feed = source([5, 6, 7, 22, 23], 3);
  const first = await rereads.read(HOLES, 30, 100, feed.source, signal);
  assertEquals(first?.covered, { from: 3, to: 7, startedMs: 100 });
  const second = await rereads.read(HOLES, 30, 200, feed.source, signal);
  assertEquals(second?.covered, { from: 20, to: 30, startedMs: 200 }, "short: all from 20 on");
  await rereads.read(HOLES, 30, 300, feed.source, signal);
  assertEquals(feed.asked, [3, 20, 3]);
});

Deno.test("no hole, no re-read; an aborted request is no re-read either", async () => {
  const rereads = new HeadRereads(1000);
  const feed = source([5], 3);
  assertEquals(await rereads.read([], 30, 0, feed.source, new AbortController().signal), null);
  assertEquals(feed.asked, []);
  const aborted = new AbortController();
  const failing: PageSource = {
    fetchPage() {
      aborted.abort();
      return Promise.reject(new Error("aborted"));
    },
  };
  assertEquals(await rereads.read(HOLES, 30, 0, failing, aborted.signal), null);
});

Deno.test("at the head a re-read is due once per poll interval", async () => {
  const rereads = new HeadRereads(60_000);
  assertEquals(rereads.due("wait"), true, "none yet");
  await rereads.read(HOLES, 30, 0, source([], 3).source, new AbortController().signal);
  assertEquals(rereads.due("wait"), false, "one just now");
  assertEquals(rereads.due("drained"), true, "the end of a drain always reads once more");
});

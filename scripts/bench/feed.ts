/**
 * The bench's feed: the simulator's model, page by page, as events or as rendered bodies, and
 * an API that serves those bodies from memory.
 *
 * @module
 */

import { type FeedShape, pageEvents, pageText, type SimEvent } from "../../src/simulator/model.ts";

/** The feed the bench drains: its shape, its length and the page size asked for. */
export interface BenchFeed {
  readonly shape: FeedShape;
  readonly events: number;
  readonly limit: number;
}

/** The feed's pages in order, as the worker asks for them (page k+1 after page k's last EventId). */
export function* feedPages(feed: BenchFeed): Generator<{ from: number; events: SimEvent[] }> {
  for (let from = 1;;) {
    const events = pageEvents(feed.shape, from, feed.limit, feed.events);
    const last = events.at(-1);
    if (last === undefined) return;
    yield { from, events };
    from = last.eventId + 1;
  }
}

/**
 * An API that costs next to nothing: every page the worker will ask for, rendered once and
 * served from memory.
 */
export function instantApi(feed: BenchFeed): { url: string; close: () => Promise<void> } {
  const encoder = new TextEncoder();
  const empty = encoder.encode(pageText([]));
  const bodies = new Map<number, Uint8Array<ArrayBuffer>>();
  for (const page of feedPages(feed)) bodies.set(page.from, encoder.encode(pageText(page.events)));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const from = Number(new URL(request.url).searchParams.get("FromEventId"));
    return new Response(bodies.get(from) ?? empty, {
      headers: { "content-type": "application/json" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/scans/scanevents`,
    close: () => server.shutdown(),
  };
}

/**
 * The simulator's own speed in pages/s: pages read back to back over HTTP, after as many again
 * to warm it up (its first pages run before the JIT has compiled the page code).
 */
export async function simulatorSpeed(url: string, feed: BenchFeed): Promise<number> {
  const pages = Math.max(1, Math.min(300, Math.floor(Math.ceil(feed.events / feed.limit) / 2)));
  let from = 1;
  let started = performance.now();
  for (let i = 0; i < 2 * pages; i++) {
    if (i === pages) started = performance.now();
    const text = await (await fetch(`${url}?FromEventId=${from}&Limit=${feed.limit}`)).text();
    const last = text.lastIndexOf('"EventId":');
    from = Number(/\d+/.exec(text.slice(last + 10))?.[0] ?? from) + 1;
  }
  return Math.round(pages / ((performance.now() - started) / 1000));
}

/**
 * How fast the simulator derives and serialises a page (server-side cost only), at the start
 * and deep into a 10-million-event backlog.
 */
import { feedShape, pageEvents, pageText } from "../src/simulator/model.ts";

const shape = feedShape({ seed: 1, events: 10_000_000, malformedRate: 0.001 });

function body(from: number): string {
  return pageText(pageEvents(shape, from, 1000, shape.events));
}

Deno.bench("simulator: page of 1000 events at the start of the feed", () => {
  body(1);
});

Deno.bench("simulator: page of 1000 events at EventId 9,000,000", () => {
  body(9_000_000);
});

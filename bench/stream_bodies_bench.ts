/**
 * The downstream reader's parse of one page of 1000 message bodies as the relay publishes them:
 * decoded in one call, split, parsed, and read back as the API's raw events (RunId under `User`),
 * against `JSON.parse` alone, the floor of that stage.
 */
import { bodyOf } from "../src/domain/message.ts";
import { validateEvent } from "../src/domain/validate.ts";
import { feedShape, pageEvents } from "../src/simulator/model.ts";
import { parseBodies } from "../src/stream/_bodies.ts";

const shape = feedShape({ seed: 1, events: 1_000_000, parcels: 100_000 });
const texts = pageEvents(shape, 500_001, 1000, 1_000_000).flatMap((event) => {
  const result = validateEvent(event.raw);
  return result.ok ? [bodyOf(result.event)] : [];
});
const encoder = new TextEncoder();
const taken = {
  bytes: encoder.encode(texts.map((text) => `${text}\0`).join("")),
  lengths: texts.map((text) => encoder.encode(text).length),
  traceparents: texts.map(() => null),
};

Deno.bench(`page of ${texts.length} bodies: parseBodies`, () => {
  parseBodies(taken);
});

Deno.bench(`page of ${texts.length} bodies: JSON.parse of each alone`, () => {
  for (const text of texts) JSON.parse(text);
});

import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { oracle } from "../helpers/oracle.ts";
import { feedShape } from "../../src/simulator/model.ts";
import { denoTask } from "../helpers/suite.ts";

Deno.test("deno task demo drains 100,000 simulated events and prints a true summary", async () => {
  const { code, stdout, stderr } = await denoTask(["demo"]);
  assertEquals(code, 0, stdout + stderr);

  // The demo's feed: seed 1, 100,000 events, 0.05 % malformed.
  const expected = oracle(feedShape({ seed: 1, events: 100_000, malformedRate: 0.0005 }), 100_000);
  const value = (name: string) => new RegExp(`^  ${name} +(.+)$`, "m").exec(stdout)?.[1];
  assertEquals(value("events"), "100000");
  assertEquals(value("checkpoint"), String(expected.checkpoint));
  assertEquals(value("parcels"), String(expected.parcels.length));
  assertEquals(value("picked up"), String(expected.pickedUp));
  assertEquals(value("delivered"), String(expected.delivered));
  assertEquals(value("rejected"), String(expected.rejectedIds.length));
  assertOk(Number(value("events/s")) > 0);
  assertOk(/^\d+\.\d\d s$/.test(value("elapsed") ?? ""));
  assertIncludes(stdout, "sample parcels");
  assertEquals(stdout.match(/^ {2}parcel \d+: last event \d+ /gm)?.length, 3);
});

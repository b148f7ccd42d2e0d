/** `simulate`'s flags: help and the parser read each default from one table. */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { parseSimulateFlags, SIMULATE_FLAGS } from "../../src/simulator/options.ts";
import { simulate } from "../../src/cli/simulate.ts";
import { ConfigError } from "../../src/errors.ts";

Deno.test("simulate's help shows each flag's default, the one the parser applies", () => {
  const help = new Map(simulate.flags.map((f) => [f.name, f.help]));
  assertEquals([...help.keys()], Object.keys(SIMULATE_FLAGS));
  assertEquals(help.get("events"), "backlog size (100000)");
  assertEquals(help.get("parcels"), "parcels in the backlog (events/8)");
  assertEquals(help.get("late-ms"), "how late a late event is (8000)");
  const s = parseSimulateFlags({});
  assertEquals(
    [s.host, s.port, s.shape.seed, s.shape.events, s.rate, s.maxLimit, s.faults.slowMs, s.late],
    [
      SIMULATE_FLAGS.host.fallback,
      SIMULATE_FLAGS.port.fallback,
      SIMULATE_FLAGS.seed.fallback,
      SIMULATE_FLAGS.events.fallback,
      SIMULATE_FLAGS.rate.fallback,
      SIMULATE_FLAGS["max-limit"].fallback,
      SIMULATE_FLAGS["slow-ms"].fallback,
      { every: SIMULATE_FLAGS["late-every"].fallback, ms: SIMULATE_FLAGS["late-ms"].fallback },
    ],
  );
  assertEquals(
    [s.host, s.port, s.shape.seed, s.shape.events, s.rate, s.maxLimit, s.faults.slowMs],
    ["127.0.0.1", 0, 1, 100_000, 0, 1000, 2000],
  );
  assertEquals(Object.values(s.faults).filter((v) => v !== 2000), [0, 0, 0, 0, 0]);
});

Deno.test("simulate's flags are still checked against their ranges", () => {
  assertEquals(parseSimulateFlags({ events: "5", "fail-rate": "0.5" }).faults.failRate, 0.5);
  assertThrows(() => parseSimulateFlags({ port: "70000" }), ConfigError, /--port/);
  assertThrows(() => parseSimulateFlags({ "slow-rate": "2" }), ConfigError, /share from 0 to 1/);
  assertThrows(() => parseSimulateFlags({ parcels: "0" }), ConfigError, /at least 1/);
});

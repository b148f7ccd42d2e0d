import { assertEquals } from "../helpers/assert.ts";
import { check, cycles, groupOf, isPrivate, layerOf } from "../../scripts/deps.ts";

Deno.test("deps: a module's group is its folder, or itself at the top of src/", () => {
  assertEquals([groupOf("store/sqlite.ts"), groupOf("retry.ts")], ["store", "retry.ts"]);
  assertEquals(layerOf("domain") < layerOf("store"), true);
  assertEquals(layerOf("store") < layerOf("worker"), true);
  assertEquals(layerOf("worker") < layerOf("ops"), true);
  assertEquals(layerOf("nats") < layerOf("relay") && layerOf("nats") < layerOf("stream"), true);
  assertEquals(layerOf("relay"), layerOf("stream"));
  assertEquals(layerOf("source.ts") < layerOf("api"), true);
  assertEquals(layerOf("nowhere"), -1);
});

Deno.test("deps: an import up the layers, or across one layer, is a problem", () => {
  const problems = check(
    new Map([
      ["api/client.ts", ["ops/monitor.ts", "retry.ts"]],
      ["store/postgres.ts", ["api/wire.ts"]],
      ["ops/monitor.ts", ["api/client.ts"]],
      ["api/wire.ts", []],
      ["retry.ts", []],
    ]),
  );
  assertEquals(problems.map((p) => p.kind).sort(), ["cycle", "sideways", "upward"]);
  assertEquals(
    problems.find((p) => p.kind === "upward")?.message,
    `api/client.ts imports ops/monitor.ts (layer ${layerOf("ops")} above ${layerOf("api")})`,
  );
});

Deno.test("deps: cycles are found, acyclic graphs pass", () => {
  assertEquals(
    cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])).map((c) => c.sort()),
    [["a", "b", "c"]],
  );
  assertEquals(cycles(new Map([["a", ["b"]], ["b", []]])), []);
  assertEquals(check(new Map([["cli/main.ts", ["store/open.ts"]], ["store/open.ts", []]])), []);
});

Deno.test("deps: a file starting with _ is private to its folder: others import its mod.ts", () => {
  assertEquals([isPrivate("relay/_backlog.ts"), isPrivate("relay/mod.ts")], [true, false]);
  const graph = new Map([
    ["cli/run.ts", ["relay/mod.ts"]],
    ["cli/wiring.ts", ["relay/_relay.ts"]],
    ["relay/mod.ts", ["relay/_relay.ts"]],
    ["relay/_relay.ts", []],
  ]);
  assertEquals(check(graph), [{
    kind: "private",
    message: "cli/wiring.ts imports relay/_relay.ts (private to relay/: import its mod.ts)",
  }]);
});

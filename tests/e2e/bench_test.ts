/**
 * `deno task bench` on a small feed: every measurement it reports is made and adds up (the
 * figures themselves are for docs/performance.md, never asserted here: speed is not a test).
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { NATS_IGNORE, NATS_SKIP } from "../helpers/nats_server.ts";
import { PG_SKIP } from "../helpers/postgres.ts";
import { denoTask } from "../helpers/suite.ts";

Deno.test("deno task bench measures every ceiling, the stages, and the NATS figures", async () => {
  const args = ["bench", "--events", "6000", "--limit", "500"];
  args.push("--naive-events", "300", "--store", PG_SKIP === null ? "all" : "sqlite", "--json");
  if (NATS_IGNORE) args.push("--skip-nats");
  const { code, stdout, stderr } = await denoTask(args);
  assertEquals(code, 0, stdout + stderr);
  const report = JSON.parse(stdout);
  assertEquals([report.events, report.limit], [6000, 500]);
  const stores = Object.keys(report.stores);
  assertEquals(stores, PG_SKIP === null ? ["sqlite", "postgres"] : ["sqlite"]);
  for (const kind of stores) {
    const store = report.stores[kind];
    for (const name of ["storeLimit", "pipelineLimit", "worker", "naive"]) {
      assertOk(store[name].eventsPerSecond > 0, `${kind} ${name}`);
    }
    assertEquals(store.worker.events, 6000, `${kind}: the worker drained the whole feed`);
    assertEquals(store.naive.events, 300);
    const stages = store.worker.stages;
    for (const stage of ["decodeMs", "parseMs", "projectMs", "writeMs", "cpuMs"]) {
      assertOk(stages[stage] > 0, `${kind} worker ${stage}: ${stages[stage]}`);
    }
    assertEquals(
      Math.round(
        stages.cpuMs - stages.decodeMs - stages.parseMs - stages.projectMs -
          (kind === "sqlite" ? stages.writeMs : 0),
      ),
      Math.round(stages.restMs),
    );
    assertOk(store.ratios.workerToPipelineLimit > 0 && store.ratios.workerToStoreLimit > 0);
    if (NATS_SKIP === null) {
      const nats = store.nats;
      assertEquals(nats.worker.published, 6000, `${kind}: every event published`);
      assertEquals(nats.downstream.events, 6000, `${kind}: the downstream worker read them all`);
      assertOk(nats.relayEventsPerSecond > 0 && nats.worker.commitToAck.p99Ms > 0);
      assertOk(store.ratios.natsWorkerToWorker > 0 && store.ratios.downstreamToWorker > 0);
      const reader = nats.downstream.reader;
      for (const stage of ["receiveMs", "parseMs", "validateMs", "writeMs", "cpuMs"]) {
        assertOk(reader[stage] > 0, `${kind} downstream ${stage}: ${reader[stage]}`);
      }
      const staged = reader.receiveMs + reader.parseMs + reader.validateMs +
        (kind === "sqlite" ? reader.writeMs : 0);
      assertOk(
        Math.abs(reader.cpuMs - staged - reader.restMs) < 0.05,
        `${kind}: the downstream stages and the rest add up to its CPU: ${JSON.stringify(reader)}`,
      );
    } else {
      assertEquals(store.nats, null);
    }
  }
});

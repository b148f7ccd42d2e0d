/**
 * `deno task bench` on a small feed: every measurement it reports is made and adds up (the
 * figures themselves are for docs/performance.md, never asserted here: speed is not a test).
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { NATS_IGNORE, NATS_SKIP } from "../helpers/nats_server.ts";
import { PG_SKIP } from "../helpers/postgres.ts";
import { denoTask } from "../helpers/suite.ts";

/** Two decimals, as the bench rounds its ratios. */
const round = (x: number) => Math.round(x * 100) / 100;

Deno.test("deno task bench measures every ceiling, the stages, and the NATS figures", async () => {
  const args = ["bench", "--events", "6000", "--limit", "500"];
  args.push("--naive-events", "300", "--store", PG_SKIP === null ? "all" : "sqlite", "--json");
  if (NATS_IGNORE) args.push("--skip-nats");
  const { code, stdout, stderr } = await denoTask(args);
  assertEquals(code, 0, stdout + stderr);
  const report = JSON.parse(stdout);
  assertEquals([report.events, report.limit], [6000, 500]);
  if (NATS_SKIP === null) {
    const broker = report.brokerLimit;
    const ways = Object.values(broker.ways) as { messagesPerSecond: number; messages: number }[];
    assertOk(ways.length >= 2 && ways.every((w) => w.messagesPerSecond > 0 && w.messages > 0));
    assertEquals(broker.messagesPerSecond, Math.max(...ways.map((w) => w.messagesPerSecond)));
    assertEquals(broker.ways[broker.best].messagesPerSecond, broker.messagesPerSecond);
    assertEquals(broker.ways.ackPerBatch.messages, 6000, "the feed's accepted events, all");
    const runs = [...broker.runs].sort((a: number, b: number) => a - b);
    assertEquals(runs.length, 3);
    assertEquals(broker.ways.ackPerBatch.messagesPerSecond, runs[1], "the median run");
    const delivery = broker.delivery;
    const reads = Object.values(delivery.ways) as { messagesPerSecond: number; messages: number }[];
    assertEquals(reads.map((w) => w.messages), [6000, 6000], "each reader read the whole stream");
    assertOk(reads.every((w) => w.messagesPerSecond > 0));
    assertEquals(delivery.messagesPerSecond, Math.max(...reads.map((w) => w.messagesPerSecond)));
  } else {
    assertEquals(report.brokerLimit, null);
  }
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
    const machine = store.worker.machine;
    assertEquals(machine.cores, navigator.hardwareConcurrency);
    assertOk(
      machine.coresBusy > 0 && machine.coresBusy <= machine.cores + 0.2 && machine.cpuMsPerPage > 0,
      `${kind}: the machine's load while the worker ran: ${JSON.stringify(machine)}`,
    );
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
      const broker = report.brokerLimit.messagesPerSecond;
      assertEquals(store.ratios.relayToBrokerLimit, round(nats.relayEventsPerSecond / broker));
      assertEquals(
        store.ratios.natsWorkerToCeiling,
        round(nats.worker.eventsPerSecond / Math.min(store.worker.eventsPerSecond, broker)),
      );
      const delivered = report.brokerLimit.delivery.messagesPerSecond;
      assertEquals(
        store.ratios.downstreamToCeiling,
        round(nats.downstream.eventsPerSecond / Math.min(store.worker.eventsPerSecond, delivered)),
      );
      for (const run of [nats.worker, nats.downstream]) {
        assertOk(run.machine.brokerCpuMsPerPage > 0, `${kind}: the broker's CPU was measured`);
      }
      for (
        const [label, stages] of [["full outbox", nats.relayStages], [
          "beside ingest",
          nats.worker.relayStages,
        ]]
      ) {
        assertEquals(stages.batches > 0, true, `${kind} relay ${label}: batches`);
        for (const stage of ["readMs", "encodeMs", "publishMs", "ackWaitMs", "commitMs"]) {
          assertOk(stages[stage] >= 0, `${kind} relay ${label} ${stage}: ${stages[stage]}`);
        }
      }
      assertOk(nats.relayMachine.cpuMsPerPage > 0, `${kind}: the machine's load under the relay`);
      const full = nats.relayStages;
      assertOk(full.encodeMs > 0 && full.publishMs > 0 && full.cpuMs > 0);
      const onThread = full.encodeMs + full.publishMs +
        (kind === "sqlite" ? full.readMs + full.commitMs : 0);
      assertEquals(Math.round(full.cpuMs - onThread), Math.round(full.restMs));
    } else {
      assertEquals(store.nats, null);
    }
  }
});

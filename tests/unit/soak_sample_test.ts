/**
 * The soak's arithmetic (scripts/soak/sample.ts): the least-squares slope, reading a metric,
 * the warm-up left out of a slope, and the heap's low points kept between samples.
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import {
  leastSquares,
  Lows,
  metricValue,
  type Sample,
  slopeOf,
  tableRow,
} from "../../scripts/soak/sample.ts";

Deno.test("leastSquares gives the slope of a line, and of noise around it", () => {
  assertEquals(leastSquares([[0, 1], [1, 3], [2, 5]]), 2);
  assertEquals(leastSquares([[0, 10], [1, 12], [2, 10], [3, 12]]), 0.4);
  assertEquals(leastSquares([[0, 1]]), null);
  assertEquals(leastSquares([[1, 1], [1, 2]]), null);
});

Deno.test("metricValue reads an unlabelled sample, not a longer name or a comment", () => {
  const text = [
    "# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.",
    "nodejs_heap_size_used_bytes_other 1",
    "nodejs_heap_size_used_bytes 20971520",
    "scan_worker_checkpoint_event_id 42",
  ].join("\n");
  assertEquals(metricValue(text, "nodejs_heap_size_used_bytes"), 20971520);
  assertEquals(metricValue(text, "scan_worker_checkpoint_event_id"), 42);
  assertEquals(metricValue(text, "nodejs_external_memory_bytes"), null);
});

function sample(seconds: number, rssMb: number, heapMb: number): Sample {
  return { seconds, processes: { worker: { rssMb, heapMb, externalMb: 1 } } };
}

Deno.test("slopeOf leaves the warm-up out and gives MB per hour", () => {
  // Climbing fast for the first 10 minutes, then 6 MB per hour.
  const samples = [sample(0, 50, 10), sample(300, 150, 30)];
  for (let minute = 10; minute <= 40; minute += 10) {
    samples.push(sample(minute * 60, 200 + minute / 10, 20));
  }
  assertEquals(slopeOf(samples, "worker", "rssMb", 600), {
    points: 4,
    mbPerHour: 6,
    errorMbPerHour: 0,
  });
  assertEquals(slopeOf(samples, "worker", "heapMb", 600), {
    points: 4,
    mbPerHour: 0,
    errorMbPerHour: 0,
  });
  assertEquals(slopeOf(samples, "worker", "rssMb", 3000), {
    points: 0,
    mbPerHour: null,
    errorMbPerHour: null,
  });
  assertEquals(slopeOf(samples, "other", "rssMb", 0), {
    points: 0,
    mbPerHour: null,
    errorMbPerHour: null,
  });
});

Deno.test("slopeOf with a floor fits each window's lowest value, not the sawtooth above it", () => {
  // A flat floor of 100 MB with a tooth climbing to 130 MB in each 60-second window, the last
  // window cut short at its top: the samples' slope climbs, the floors' does not.
  const samples: Sample[] = [];
  for (let seconds = 0; seconds <= 350; seconds += 10) {
    samples.push(sample(seconds, 100 + (seconds % 60) * 0.6, 20));
  }
  const raw = slopeOf(samples, "worker", "rssMb", 0).mbPerHour ?? 0;
  assertOk(raw > 5, `raw ${raw}`);
  assertEquals(slopeOf(samples, "worker", "rssMb", 0, 60), {
    points: 6,
    mbPerHour: 0,
    errorMbPerHour: 0,
  });
  // One more sample at the top of a tooth opens a window of its own: too short to have a floor.
  samples.push(sample(370, 130, 20));
  assertEquals(slopeOf(samples, "worker", "rssMb", 0, 60), {
    points: 6,
    mbPerHour: 0,
    errorMbPerHour: 0,
  });
});

Deno.test("Lows lowers a sample's memory to the lowest reading since the last sample", async () => {
  const readings = [30, 12, 25];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    const heap = (readings.shift() ?? 99) * 1024 * 1024;
    return new Response(`nodejs_heap_size_used_bytes ${heap}\nnodejs_external_memory_bytes 0\n`);
  });
  try {
    const lows = new Lows();
    const processes = [{
      name: "worker",
      pid: 1,
      metricsUrl: `http://127.0.0.1:${server.addr.port}/`,
    }];
    for (let i = 0; i < 3; i++) await lows.probe(processes);
    const taken = sample(10, 10_000, 40);
    lows.apply(taken);
    assertEquals([taken.processes.worker?.heapMb, taken.processes.worker?.externalMb], [12, 0]);
    const rss = taken.processes.worker?.rssMb ?? 0;
    assertOk(rss > 1 && rss < 10_000, `rss ${rss}`);
    // Started again: a new sample keeps its own reading.
    const next = sample(20, 100, 40);
    lows.apply(next);
    assertEquals(next.processes.worker?.heapMb, 40);
    assertEquals(tableRow(next, ["worker"]), "     20 |     100     40      1         -");
  } finally {
    await server.shutdown();
  }
});

import { assertEquals, assertIncludes } from "../helpers/assert.ts";
import { WorkerMonitor } from "../../src/ops/monitor.ts";
import { projectPage } from "../../src/domain/project.ts";

function monitorAt(clock: { now: number }) {
  return new WorkerMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000, now: () => clock.now });
}

Deno.test("healthz: alive while stepping or waiting, 503 when one I/O step lasts too long", () => {
  const clock = { now: 1_000_000 };
  const monitor = monitorAt(clock);
  monitor.step("fetch");
  clock.now += 59_000;
  assertEquals(monitor.health.liveness().ok, true);
  clock.now += 2_000;
  const stuck = monitor.health.liveness();
  assertEquals([stuck.ok, stuck.reason], [false, 'stuck in step "fetch" for 61 s']);
  monitor.step("wait");
  clock.now += 600_000;
  assertEquals(monitor.health.liveness().ok, true, "waiting between polls is normal");
  monitor.step("standby");
  clock.now += 600_000;
  assertEquals(monitor.health.liveness().ok, true, "standing by is normal");
});

Deno.test("healthz: a fetch that keeps failing and trying again is alive; one attempt that hangs is not", () => {
  const clock = { now: 1_000_000 };
  const monitor = monitorAt(clock);
  monitor.step("fetch");
  // Ten minutes of a failing API: each request fails after 5 s and waits 30 s for the next.
  for (let i = 0; i < 17; i++) {
    clock.now += 5_000;
    monitor.request("http_5xx", 5_000);
    monitor.retry("api", 30_000);
    clock.now += 30_000;
    assertEquals(monitor.health.liveness().ok, true, `after ${i + 1} failed attempts`);
  }
  assertEquals(monitor.health.liveness().details.stepSeconds, 595);
  assertEquals(monitor.health.liveness().details.quietSeconds, 0, "waiting for its next attempt");
  // A Retry-After longer than the limit: alive while it waits, and for the limit after it.
  monitor.request("http_429", 10);
  monitor.retry("api", 300_000);
  clock.now += 300_000 + 59_000;
  assertEquals(monitor.health.liveness().ok, true);
  // The next attempt hangs.
  clock.now += 2_000;
  const stuck = monitor.health.liveness();
  assertEquals([stuck.ok, stuck.reason], [false, 'stuck in step "fetch" for 61 s']);
  assertEquals(stuck.details.quietSeconds, 61);
  // The stream's reads and retries count the same way; a new fetch step starts its own clock.
  monitor.step("write");
  monitor.step("fetch");
  monitor.read("stream");
  monitor.retry("stream", 40_000);
  clock.now += 40_000 + 59_000;
  assertEquals(monitor.health.liveness().ok, true);
  clock.now += 2_000;
  assertEquals(monitor.health.liveness().ok, false);
  monitor.read("ok");
  assertEquals(monitor.health.liveness().ok, true);
});

Deno.test("healthz: a request that ends during another step does not hide a stuck write", () => {
  const clock = { now: 1_000_000 };
  const monitor = monitorAt(clock);
  monitor.step("write");
  clock.now += 30_000;
  monitor.request("ok", 20); // the next page, fetched ahead
  monitor.retry("api", 60_000);
  clock.now += 31_000;
  assertEquals(monitor.health.liveness().reason, 'stuck in step "write" for 61 s');
});

Deno.test("readyz: a downstream worker's reads of the stream are its polls", () => {
  const clock = { now: 1_000_000 };
  const monitor = monitorAt(clock);
  monitor.read("ok");
  assertEquals(monitor.health.readiness(null).ok, true);
  monitor.read("stream");
  assertEquals(monitor.health.readiness(null).reason, "last poll failed (stream)");
  monitor.read("ok");
  clock.now += 31_000;
  assertEquals(monitor.health.readiness(null).reason, "no successful poll for 31 s");
});

Deno.test("readyz: needs the database and a recent successful poll", () => {
  const clock = { now: 1_000_000 };
  const monitor = monitorAt(clock);
  assertEquals(monitor.health.readiness(null).reason, "no successful poll yet");
  monitor.request("ok", 12);
  assertEquals(monitor.health.readiness(null).ok, true);
  assertEquals(
    monitor.health.readiness("connection refused").reason,
    "database unreachable: connection refused",
  );
  monitor.request("http_5xx", 3);
  assertEquals([monitor.health.readiness(null).ok, monitor.health.readiness(null).reason], [
    false,
    "last poll failed (http_5xx)",
  ]);
  monitor.request("ok", 8);
  assertEquals(monitor.health.readiness(null).ok, true);
  clock.now += 31_000;
  assertEquals(monitor.health.readiness(null).reason, "no successful poll for 31 s");
  monitor.writeFailed(new Error("disk full"));
  assertEquals(monitor.health.readiness(null).reason, "last page write failed: Error: disk full");
});

Deno.test("readyz: a standby instance is ready while its database answers", () => {
  const monitor = monitorAt({ now: 5 });
  monitor.step("standby");
  const verdict = monitor.health.readiness(null);
  assertEquals([verdict.ok, verdict.details.role], [true, "standby"]);
  assertEquals(monitor.health.readiness("timeout").reason, "database unreachable: timeout");
});

Deno.test("readyz: an instance whose write failed as it lost the lock is ready once it stands by", () => {
  const monitor = monitorAt({ now: 5 });
  monitor.lock(true);
  monitor.writeFailed(new Error("Connection terminated unexpectedly"));
  assertEquals(
    monitor.health.readiness(null).reason,
    "last page write failed: Error: Connection terminated unexpectedly",
  );
  monitor.lock(false); // another instance took the lock meanwhile: this one writes no more
  monitor.step("standby");
  assertEquals(monitor.health.readiness(null).reason, "standing by");
});

Deno.test("metrics count events, pages, requests and retries, and expose lag and the lock", async () => {
  const clock = { now: Date.parse("2021-05-11T10:01:00Z") };
  const monitor = monitorAt(clock);
  const result = projectPage(0, [
    { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T09:00:00Z" },
    { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T09:00:00Z" },
    { EventId: 2, ParcelId: 8, Type: "", CreatedDateTimeUtc: "2021-05-11T10:00:00Z" },
    { EventId: 3, ParcelId: 8, Type: "STATUS", CreatedDateTimeUtc: "2021-05-11T10:00:00.5Z" },
  ]);
  monitor.request("ok", 20);
  monitor.request("timeout", 1000);
  monitor.retry("api", 500);
  monitor.retry("stream", 500);
  monitor.pageWritten(result, { rejected: result.rejections, outboxed: 0 }, 4);
  monitor.lock(true);
  const text = await monitor.registry.metrics();
  const value = (name: string) => new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1];
  assertEquals(value("scan_worker_events_applied_total"), "2");
  assertEquals(value("scan_worker_events_rejected_total"), "1");
  assertEquals(value("scan_worker_events_skipped_total"), "1");
  assertEquals(value("scan_worker_pages_total"), "1");
  assertEquals(value("scan_worker_checkpoint_event_id"), "3");
  assertEquals(value("scan_worker_newest_event_age_seconds"), "59.5");
  assertEquals(value("scan_worker_feed_lock_held"), "1");
  assertEquals(value("scan_worker_last_successful_poll_age_seconds"), "0");
  assertIncludes(text, 'scan_worker_api_requests_total{outcome="ok"} 1');
  assertIncludes(text, 'scan_worker_api_requests_total{outcome="timeout"} 1');
  assertIncludes(text, 'scan_worker_retries_total{kind="api"} 1');
  assertIncludes(text, 'scan_worker_retries_total{kind="stream"} 1');
  assertIncludes(text, "scan_worker_page_duration_seconds_count 1");
  assertIncludes(text, "\nprocess_resident_memory_bytes ");
});

Deno.test("process and runtime metrics have their standard names and plausible values", async () => {
  const monitor = monitorAt({ now: Date.now() });
  const text = await monitor.registry.metrics();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
  assertEquals(value("process_resident_memory_bytes") > 10_000_000, true);
  assertEquals(value("process_cpu_seconds_total") > 0, true);
  assertEquals(Math.abs(value("process_start_time_seconds") - Date.now() / 1000) < 3600, true);
  assertEquals(value("nodejs_heap_size_used_bytes") > 1_000_000, true);
  assertEquals(value("nodejs_eventloop_lag_p99_seconds") >= 0, true);
  assertEquals(/^scan_worker_(process|nodejs)_/m.test(text), false);
  // What Deno cannot measure without --allow-all is left out, not exported as a 0.
  assertEquals(
    /^(process_open_fds|process_virtual_memory_bytes|nodejs_active_handles)/m.test(text),
    false,
  );
});

Deno.test("readyz: not ready while ingest is paused by a full outbox, with the relay's figures", () => {
  const monitor = monitorAt({ now: 1_000_000 });
  monitor.request("ok", 5);
  monitor.connected(false);
  monitor.relay.backlog(52_879, 41.5);
  monitor.relay.paused(true);
  const verdict = monitor.health.readiness(null);
  assertEquals([verdict.ok, verdict.reason], [
    false,
    "ingest paused: the outbox is full (52879 rows, OUTBOX_MAX_ROWS)",
  ]);
  assertEquals(verdict.details.relay, {
    connected: false,
    rows: 52_879,
    lagSeconds: 41.5,
    paused: true,
  });
  monitor.relay.paused(false);
  assertEquals(monitor.health.readiness(null).reason, "ready");
});

Deno.test("without a relay, /readyz says nothing of it and its gauges read 0", async () => {
  const monitor = monitorAt({ now: 1_000_000 });
  assertEquals("relay" in monitor.health.readiness(null).details, false);
  const text = await monitor.registry.metrics();
  assertIncludes(text, "\nscan_worker_outbox_rows 0\n");
  assertIncludes(text, "\nscan_worker_ingest_paused 0\n");
});

Deno.test("relay metrics count publishes, duplicates, resyncs and errors by cause", async () => {
  const monitor = monitorAt({ now: 1_000_000 });
  monitor.connected(true);
  monitor.relay.published(10, 3);
  monitor.relay.resynced();
  monitor.relay.failed("publish");
  monitor.relay.committedToAcked(0.02);
  const text = await monitor.registry.metrics();
  assertIncludes(text, "\nscan_worker_relay_published_total 10\n");
  assertIncludes(text, "\nscan_worker_relay_duplicates_total 3\n");
  assertIncludes(text, "\nscan_worker_relay_resyncs_total 1\n");
  assertIncludes(text, 'scan_worker_relay_errors_total{cause="publish"} 1');
  assertIncludes(text, "scan_worker_relay_commit_to_ack_seconds_count 1");
  assertIncludes(text, "\nscan_worker_relay_connected 1\n");
});

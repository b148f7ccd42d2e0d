/**
 * The consumer group's pure parts: the setting, the consumer it creates, how messages become a
 * page, the member's readiness and metrics, and `run --group` without `--source nats`.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { assertEquals, assertIncludes, assertThrows } from "../helpers/assert.ts";
import { runMain } from "../helpers/cli.ts";
import { type ConfigSources, resolveConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/errors.ts";
import { GroupMonitor } from "../../src/ops/group_monitor.ts";
import { MSSQL_SQL } from "../../src/store/mssql_sql.ts";
import { groupConsumerConfig, projectBatch } from "../../src/stream/mod.ts";

const sources = (env: Record<string, string> = {}, flags: Record<string, string> = {}) =>
  ({ flags, env, dotenv: {}, stdoutIsTerminal: false }) as ConfigSources;

/** A message as a member receives it: only its body is read. */
const message = (body: string) => ({ string: () => body }) as unknown as JsMsg;

Deno.test("NATS_GROUP (--group) names the group; unset, there is none; a bad name is refused", () => {
  assertEquals(resolveConfig(sources()).natsGroup, null);
  assertEquals(resolveConfig(sources({ NATS_GROUP: " ledger " })).natsGroup, "ledger");
  assertEquals(
    resolveConfig(sources({ NATS_GROUP: "ledger" }, { group: "audit-2" })).natsGroup,
    "audit-2",
  );
  assertThrows(
    () => resolveConfig(sources({ NATS_GROUP: "led.ger" })),
    ConfigError,
    /^invalid NATS_GROUP \(--group\): "led.ger" is not a group name \(1 to 64 of A-Z a-z 0-9 _ -\)$/,
  );
});

Deno.test("the group's consumer: durable, pull, explicit acks, all messages, 30 s ack wait, 20000 in flight", () => {
  const config = groupConsumerConfig("ledger");
  assertEquals(config.durable_name, "ledger");
  assertEquals(config.ack_policy, "explicit");
  assertEquals(config.deliver_policy, "all");
  assertEquals(config.ack_wait, 30_000_000_000);
  assertEquals(config.max_ack_pending, 20_000);
  assertEquals(config.max_deliver, -1);
  assertEquals(config.deliver_subject, undefined);
});

Deno.test("a batch of messages is projected as a page: every event counts, RunId back under User", () => {
  const result = projectBatch([
    message(
      '{"EventId":9,"ParcelId":7,"Type":"STATUS","CreatedDateTimeUtc":"2021-05-11T10:09:00.0000000Z","StatusCode":"","RunId":"R9"}',
    ),
    message(
      '{"EventId":3,"ParcelId":7,"Type":"PICKUP","CreatedDateTimeUtc":"2021-05-11T10:03:00.0000000Z","StatusCode":"","RunId":null}',
    ),
  ]);
  assertEquals([result.applied, result.skipped, result.to], [2, 0, 9]);
  assertEquals(result.changes.map((c) => [c.parcelId, c.lastEventId, c.runId, c.pickupEventId]), [
    [7, 9, "R9", 3],
  ]);
});

Deno.test("a message whose body is not a JSON object becomes a rejection", () => {
  const result = projectBatch([message("not json"), message("[1]")]);
  assertEquals(result.applied, 0);
  assertEquals(result.rejections.map((r) => r.payload), ['"not json"', '"[1]"']);
});

Deno.test("a member is ready with its database and broker; not while the broker is unreachable or a write failed", () => {
  const monitor = new GroupMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 }, "ledger");
  assertEquals(monitor.health.readiness(null).reason, "the broker is unreachable");
  monitor.connected(true);
  monitor.fetched(true);
  assertEquals(monitor.health.readiness(null).ok, true);
  assertEquals(monitor.health.readiness("timeout").reason, "database unreachable: timeout");
  monitor.fetched(false);
  assertEquals(monitor.health.readiness(null).reason, "the broker is unreachable");
  monitor.fetched(true);
  monitor.connected(false);
  assertEquals(monitor.health.readiness(null).ok, false);
  monitor.connected(true);
  monitor.writeFailed(new Error("disk full"));
  assertEquals(monitor.health.readiness(null).reason, "last batch write failed: Error: disk full");
});

Deno.test("a member of an idle group is alive: each empty fetch shows it moves", () => {
  const clock = { now: 1_000_000 };
  const options = { stuckAfterMs: 60_000, pollFreshMs: 30_000, now: () => clock.now };
  const idle = new GroupMonitor(options, "ledger");
  idle.connected(true);
  for (let second = 0; second < 70; second++) {
    idle.groupStep("fetch"); // the group has nothing: fetch, read the counts, fetch again
    clock.now += 1000;
    idle.fetched(true, 0);
  }
  assertEquals(idle.health.liveness().ok, true);
  assertEquals(idle.health.liveness().details.stepSeconds, 70);
  // A fetch that truly hangs is still caught.
  clock.now += 61_000;
  assertEquals(idle.health.liveness().reason, 'stuck in step "fetch" for 61 s');
});

Deno.test("a member whose write failed is ready again once the group has nothing for it", () => {
  const monitor = new GroupMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 }, "ledger");
  monitor.connected(true);
  monitor.fetched(true, 20);
  monitor.writeFailed(new Error("connection reset")); // the batch goes back to the group
  monitor.fetched(true, 20); // taken again: it is written next, and says then how that went
  assertEquals(
    monitor.health.readiness(null).reason,
    "last batch write failed: Error: connection reset",
  );
  monitor.fetched(false);
  monitor.fetched(true, 0);
  assertEquals(monitor.health.readiness(null).reason, "ready");
});

Deno.test("a member that cannot reach the broker at its start is alive while it tries again", async () => {
  const clock = { now: 1_000_000 };
  const options = { stuckAfterMs: 60_000, pollFreshMs: 30_000, now: () => clock.now };
  const waiting = new GroupMonitor(options, "ledger");
  const hanging = new GroupMonitor(options, "ledger");
  waiting.connectFailed(1000); // the link reports each failed attempt before waiting
  clock.now += 600_000;
  assertEquals(waiting.health.liveness().ok, true);
  assertEquals(hanging.health.liveness().reason, 'stuck in step "start" for 600 s');
  assertIncludes(await waiting.registry.metrics(), 'scan_worker_retries_total{kind="stream"} 1');
  // Connected, it joins the group: I/O that can be stuck again.
  waiting.connected(true);
  clock.now += 61_000;
  assertEquals(waiting.health.liveness().reason, 'stuck in step "start" for 61 s');
});

Deno.test("a member's metrics: batches, redeliveries, ack failures, and the consumer's counts", async () => {
  const monitor = new GroupMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 }, "ledger");
  const batch = projectBatch([
    message(
      '{"EventId":1,"ParcelId":7,"Type":"PICKUP","CreatedDateTimeUtc":"2021-05-11T10:00:00.0000000Z","StatusCode":"","RunId":null}',
    ),
  ]);
  monitor.batchWritten(batch, { rejected: [], outboxed: 0 }, 1, 3);
  monitor.ackFailed(40);
  monitor.groupState({ pending: 12, ackPending: 5, redelivered: 2, waiting: 1 });
  const text = await monitor.registry.metrics();
  assertIncludes(text, "scan_worker_group_batches_total 1");
  assertIncludes(text, "scan_worker_group_redeliveries_total 1");
  assertIncludes(text, "scan_worker_group_ack_failures_total 40");
  assertIncludes(text, 'scan_worker_group_pending_messages{group="ledger"} 12');
  assertIncludes(text, 'scan_worker_group_ack_pending_messages{group="ledger"} 5');
  assertIncludes(text, "scan_worker_events_applied_total 1");
  assertIncludes(text, "scan_worker_checkpoint_event_id 0");
});

Deno.test("run --group without --source nats is a usage error", async () => {
  const result = await runMain(["run", "--group", "ledger"], {
    env: { NATS_URL: "nats://127.0.0.1:1", DATABASE_URL: "sqlite::memory:" },
  });
  assertEquals(result.code, 2);
  assertIncludes(
    result.stderr,
    "--group (NATS_GROUP) joins a group reading the stream: add --source nats",
  );
});

Deno.test("status --group without NATS_URL is a usage error", async () => {
  const result = await runMain(["status", "--group", "ledger"], {
    env: { DATABASE_URL: "sqlite::memory:" },
  });
  assertEquals(result.code, 2);
  assertIncludes(result.stderr, "--group (NATS_GROUP) reads the group's consumer: set NATS_URL");
});

Deno.test("SQL Server: a batch writes the page's parcel rows and rejections, and neither reads nor locks WorkerStates", () => {
  const batch = MSSQL_SQL.applyBatch;
  assertEquals(/WorkerStates|OutboxEvents/.test(batch), false);
  const shared = (text: string) =>
    text.slice(text.indexOf("DECLARE @c TABLE"), text.indexOf("ORDER BY r.n;") + 13);
  assertEquals(shared(batch), shared(MSSQL_SQL.applyPage));
  assertIncludes(batch, "FROM dbo.ParcelStates AS p WITH (UPDLOCK, HOLDLOCK)");
  assertIncludes(batch, "ParcelId           bigint        NOT NULL PRIMARY KEY");
  assertIncludes(
    batch,
    "COMMIT TRANSACTION;\nSELECT (SELECT r.n FROM @r AS r ORDER BY r.n FOR JSON PATH) AS stored;",
  );
});

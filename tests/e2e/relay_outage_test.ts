/**
 * The relay's signals during a broker outage, end to end against a private NATS server that is
 * killed: the backlog gauges and /readyz agree with the rows the database holds, in the run that
 * filled the outbox and in a run started while the broker is still away; they fall to 0 once
 * the broker is back.
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { props, type RunningMain, startMain } from "../helpers/cli.ts";
import { NATS_IGNORE, startNats } from "../helpers/nats_server.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { tempDatabase } from "../helpers/tables.ts";

/** The outbox as the database holds it: its rows and the oldest one's age in seconds. */
function outboxOf(path: string): { rows: number; ageSeconds: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const row = db.prepare("SELECT count(*) AS n, min(CreatedAtUtc) AS oldest FROM OutboxEvents")
      .get() as { n: number; oldest: string | null };
    const ageMs = row.oldest === null ? 0 : Date.now() - Date.parse(row.oldest);
    return { rows: row.n, ageSeconds: ageMs / 1000 };
  } finally {
    db.close();
  }
}

/** What /metrics and /readyz say about the relay. */
async function relaySignals(base: string) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
  const ready = await fetch(`${base}/readyz`);
  return {
    rows: sample("scan_worker_outbox_rows"),
    lag: sample("scan_worker_relay_lag_seconds"),
    paused: sample("scan_worker_ingest_paused"),
    readyStatus: ready.status,
    reason: String((await ready.json()).reason ?? ""),
  };
}

/** Poll until `check` holds of the relay's signals (a state, not a time), at most 30 s. */
async function signalsUntil(
  base: string,
  check: (signals: Awaited<ReturnType<typeof relaySignals>>) => boolean,
  what: string,
): Promise<Awaited<ReturnType<typeof relaySignals>>> {
  const deadline = performance.now() + 30_000;
  let last = await relaySignals(base);
  while (!check(last)) {
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await relaySignals(base);
  }
  return last;
}

/** The metrics URL a run logged. */
async function metricsUrl(worker: RunningMain): Promise<string> {
  const line = await worker.waitForLog((l) =>
    String(l.message).startsWith("Health and metrics on")
  );
  return String(props(line).url);
}

/** The gauges and /readyz against the database, while ingest is paused by a full outbox. */
async function assertSignalsMatchDatabase(base: string, dbPath: string): Promise<void> {
  const signals = await signalsUntil(
    base,
    (s) => s.paused === 1 && s.rows === outboxOf(dbPath).rows,
    "the gauges to show the database's outbox",
  );
  const outbox = outboxOf(dbPath);
  assertEquals(signals.rows, outbox.rows);
  assertOk(outbox.rows >= 500, `${outbox.rows} rows wait`);
  // The lag is the oldest row's age: read after the scrape, so at most a little older.
  assertOk(
    signals.lag > 0 && signals.lag <= outbox.ageSeconds + 0.5 &&
      signals.lag >= outbox.ageSeconds - 10,
    `lag ${signals.lag} s, the oldest row ${outbox.ageSeconds} s old`,
  );
  assertEquals(signals.readyStatus, 503);
  assertOk(
    signals.reason.startsWith(`ingest paused: the outbox is full (${outbox.rows} rows`),
    signals.reason,
  );
}

Deno.test({
  name:
    "with the broker down, the backlog gauges and /readyz say what the database holds, also after a restart",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const sim = await startSimulator(["--events", "3000", "--seed", "21"]);
    const db = tempDatabase("scan-worker-outage-");
    const env = {
      NATS_URL: server.url,
      SCAN_API_URL: sim.url,
      DATABASE_URL: db.url,
      SCAN_API_LIMIT: "100",
      OUTBOX_MAX_ROWS: "500",
      RETRY_BASE_MS: "20",
      RETRY_MAX_MS: "300",
    };
    try {
      await server.kill("SIGKILL");
      const first = startMain(["run", "--metrics-port", "0"], { env });
      await assertSignalsMatchDatabase(await metricsUrl(first), db.path);
      first.signal("SIGINT");
      assertEquals((await first.done).code, 0);

      // Started again with the broker still away: the rows of the first run are counted.
      const again = startMain(["run", "--metrics-port", "0"], { env });
      const base = await metricsUrl(again);
      await assertSignalsMatchDatabase(base, db.path);
      await server.start();
      const emptied = await signalsUntil(
        base,
        (s) => s.rows === 0 && s.paused === 0 && outboxOf(db.path).rows === 0,
        "the outbox to empty once the broker is back",
      );
      assertEquals([emptied.lag, emptied.readyStatus], [0, 200]);
      again.signal("SIGINT");
      const result = await again.done;
      assertEquals(result.code, 0, result.stdout.slice(-2000));
    } finally {
      await sim.stop();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

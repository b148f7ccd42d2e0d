/**
 * A real Prometheus scrapes a running worker: the worker's /metrics passes `promtool check
 * metrics`; every metric name the alert rules and the Grafana dashboard use is one the worker
 * exports; Prometheus evaluates the real alert rules against the live series, quiet while the
 * worker polls, and ScanWorkerFeedStalled fires once the test's API goes away (its threshold
 * and `for` shortened in the test's copy, the expression otherwise the real one).
 */
import { parse, stringify } from "yaml";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { GroupMonitor } from "../../src/ops/group_monitor.ts";
import { kill, props, spawnCli } from "../helpers/cli.ts";
import { serveFeed } from "../helpers/feed_server.ts";
import { FIXTURE_FEED, FIXTURE_TABLES } from "./fixture.ts";
import { PROMETHEUS_IGNORE, promtool, startPrometheus } from "./_prometheus.ts";

const RULES = new URL("../../deploy/prometheus/alerts.yml", import.meta.url);
const DASHBOARD = new URL("../../deploy/grafana/scan-worker.json", import.meta.url);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
}
type Rules = { groups: { name: string; rules: Rule[] }[] };

/** Metric names an expression uses (recording rules' names, with a colon, left out). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:scan_worker|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) =>
    m[1] as string
  );
}

/** Every metric family /metrics declares (`# TYPE name type`), with its type. */
function exported(text: string): Map<string, string> {
  return new Map(
    [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
}

/** Whether `name` is exported: a family, or a histogram's or summary's series. */
function isExported(families: Map<string, string>, name: string): boolean {
  if (families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && ["histogram", "summary"].includes(families.get(base) ?? "");
}

/** Poll `check` until it returns a value (not undefined), at most `timeoutMs`. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

Deno.test({
  name:
    "Prometheus scrapes a running worker; its rules are quiet while it polls and the feed-stalled alert fires once the API is gone",
  ignore: PROMETHEUS_IGNORE,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scan-worker-scraped-" });
    const feed = serveFeed(FIXTURE_FEED);
    let feedOpen = true;
    const worker = spawnCli(["run", "--metrics-port", "0"], {
      env: {
        SCAN_API_URL: feed.url,
        SCAN_API_LIMIT: "3",
        SCAN_API_TIMEOUT_MS: "1000",
        DATABASE_URL: `sqlite:${dir}/scan.db`,
        POLL_INTERVAL_MS: "200",
        RETRY_BASE_MS: "100",
        RETRY_MAX_MS: "500",
        LOG_FORMAT: "json",
      },
    });
    let prometheus: Awaited<ReturnType<typeof startPrometheus>> | null = null;
    try {
      const listening = await worker.waitForLog((l) =>
        String(l.message).startsWith("Health and metrics on")
      );
      const base = String(props(listening).url);
      await worker.waitForLog((l) => String(l.message).startsWith("Caught up"));

      // The exposition itself: promtool's lint, and the names the rules and dashboard use.
      const text = await (await fetch(`${base}/metrics`)).text();
      const lint = await promtool(["check", "metrics"], text);
      assertEquals(lint.code, 0, lint.output);
      // A consumer group's member serves the worker's metrics and its group's: the names the
      // group's alert and panels use come from its registry, as a member serves it (and
      // tests/e2e/group_test.ts reads them from a live member).
      const member = await new GroupMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 }, "g")
        .registry.metrics();
      const memberLint = await promtool(["check", "metrics"], member);
      assertEquals(memberLint.code, 0, memberLint.output);
      const families = new Map([...exported(member), ...exported(text)]);
      const rules = parse(await Deno.readTextFile(RULES)) as Rules;
      const ruleNames = rules.groups.flatMap((g) => g.rules.flatMap((r) => metricNames(r.expr)));
      const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD)) as {
        panels: { title: string; targets?: { expr: string }[] }[];
        templating: { list: { definition?: string }[] };
      };
      const panelNames = dashboard.panels.flatMap((p) =>
        (p.targets ?? []).flatMap((t) => metricNames(t.expr))
      );
      const variableNames = dashboard.templating.list.flatMap((v) =>
        metricNames(v.definition ?? "")
      );
      assertOk(ruleNames.length > 10 && panelNames.length > 20, "the names were read");
      for (
        const [source, names] of [["alerts.yml", ruleNames], ["dashboard", panelNames], [
          "dashboard variables",
          variableNames,
        ]] as const
      ) {
        const unknown = [...new Set(names)].filter((n) => !isExported(families, n));
        assertEquals(unknown, [], `${source} uses metrics the worker does not export`);
      }
      // Every panel has a query; a misspelt name would not be exported (checked above).
      for (const panel of dashboard.panels.filter((p) => p.targets !== undefined)) {
        assertOk((panel.targets ?? []).length > 0, panel.title);
      }

      // The rules Prometheus evaluates: the real ones, with the feed-stalled threshold and its
      // `for` shortened so the test need not wait minutes.
      const stalled = rules.groups.flatMap((g) => g.rules).find((r) =>
        r.alert === "ScanWorkerFeedStalled"
      );
      assertOk(stalled, "alerts.yml has ScanWorkerFeedStalled");
      assertEquals(stalled.expr.split("> 120").length, 2, "one threshold to shorten");
      stalled.expr = stalled.expr.replace("> 120", "> 10");
      stalled.for = "1s";
      const target = new URL(base).host;
      prometheus = await startPrometheus({
        global: { scrape_interval: "1s", evaluation_interval: "1s" },
        rule_files: ["alerts.yml"],
        scrape_configs: [{ job_name: "scan-worker", static_configs: [{ targets: [target] }] }],
      }, { "alerts.yml": stringify(rules) });
      const server = prometheus;

      // Scraped: the checkpoint is the fixture's, this instance is the active one.
      await eventually("Prometheus holds the worker's checkpoint", async () => {
        const [sample] = await server.query('scan_worker_checkpoint_event_id{job="scan-worker"}');
        return sample?.value[1] === String(FIXTURE_TABLES.checkpoint) ? true : undefined;
      });
      const [held] = await server.query("scan_worker_feed_lock_held");
      assertEquals(held?.value[1], "1");

      // Quiet while it polls: wait until the rules have been evaluated on scraped series twice.
      const since = Date.now() / 1000;
      await eventually("the rules are evaluated", async () => {
        const response = await fetch(`${server.url}/api/v1/rules`);
        const body = await response.json() as {
          data: { groups: { lastEvaluation: string }[] };
        };
        return body.data.groups.every((g) => Date.parse(g.lastEvaluation) / 1000 > since + 2)
          ? true
          : undefined;
      });
      const quiet = await server.alerts();
      assertEquals(
        quiet.filter((a) => a.state === "firing" || a.labels.alertname === "ScanWorkerFeedStalled"),
        [],
      );

      // The API goes away: the worker's polls fail, and the alert fires.
      await feed.close();
      feedOpen = false;
      const fired = await eventually("ScanWorkerFeedStalled fires", async () => {
        const alerts = await server.alerts();
        return alerts.find((a) =>
          a.labels.alertname === "ScanWorkerFeedStalled" && a.state === "firing"
        );
      });
      assertEquals(
        [fired.labels.job, fired.labels.instance, fired.labels.severity],
        ["scan-worker", target, "critical"],
      );
    } finally {
      await prometheus?.stop();
      kill(worker.process, "SIGTERM");
      await worker.done;
      if (feedOpen) await feed.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * deploy/prometheus/alerts.yml: `promtool check rules` accepts it, `promtool test rules` passes
 * its unit tests (alerts.test.yml), every alert has a case where it fires and one where it stays
 * quiet, and every alert links a heading of docs/operations.md that exists. promtool comes from
 * Debian's `prometheus` package; without it these tests say so and are skipped, except in CI
 * (`.ci/run` installs it), where they fail.
 */
import { parse } from "yaml";
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { promtool, PROMTOOL_IGNORE } from "./_prometheus.ts";

const PROMETHEUS_DIR = new URL("../../deploy/prometheus/", import.meta.url);
const RULES = new URL("alerts.yml", PROMETHEUS_DIR).pathname;
const RULE_TESTS = new URL("alerts.test.yml", PROMETHEUS_DIR).pathname;

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTests {
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const ALERTS = (parse(await Deno.readTextFile(RULES)) as { groups: { rules: Rule[] }[] }).groups
  .flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

Deno.test({
  name: "promtool check rules accepts deploy/prometheus/alerts.yml",
  ignore: PROMTOOL_IGNORE,
  async fn() {
    const result = await promtool(["check", "rules", RULES]);
    assertEquals(result.code, 0, result.output);
    assertIncludes(result.output, "SUCCESS");
  },
});

Deno.test({
  name:
    "promtool test rules passes deploy/prometheus/alerts.test.yml, and fails a wrong expectation",
  ignore: PROMTOOL_IGNORE,
  async fn() {
    const passed = await promtool(["test", "rules", RULE_TESTS]);
    assertEquals(passed.code, 0, passed.output);
    // The same tool on a case whose expectation is wrong: it must say FAILED.
    const dir = await Deno.makeTempDir({ prefix: "scan-worker-rules-" });
    try {
      const wrong = {
        rule_files: [RULES],
        evaluation_interval: "1m",
        tests: [{
          interval: "1m",
          input_series: [{
            series: 'scan_worker_feed_lock_held{job="scan-worker",instance="a"}',
            values: "1x10",
          }],
          alert_rule_test: [{
            eval_time: "10m",
            alertname: "ScanWorkerNoActiveInstance",
            exp_alerts: [{ exp_labels: { severity: "critical", job: "scan-worker" } }],
          }],
        }],
      };
      await Deno.writeTextFile(`${dir}/wrong.test.yml`, JSON.stringify(wrong));
      const failed = await promtool(["test", "rules", `${dir}/wrong.test.yml`]);
      assertEquals(failed.code !== 0, true, failed.output);
      assertIncludes(failed.output, "FAILED");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("every alert has a firing and a quiet unit test, a severity, a summary and a runbook heading", async () => {
  const tests = parse(await Deno.readTextFile(RULE_TESTS)) as RuleTests;
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
  const operations = await Deno.readTextFile(
    new URL("../../docs/operations.md", import.meta.url),
  );
  // GitHub's anchors: lower case, spaces to dashes, punctuation dropped.
  const anchors = new Set(
    operations.split("\n").filter((line) => line.startsWith("#")).map((line) =>
      line.replace(/^#+\s*/, "").toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-")
    ),
  );
  assertOk(ALERTS.length >= 8, `${ALERTS.length} alerts`);
  for (const rule of ALERTS) {
    const name = rule.alert as string;
    const mine = cases.filter((c) => c.alertname === name);
    assertOk(mine.some((c) => c.exp_alerts.length > 0), `${name}: no case where it fires`);
    assertOk(mine.some((c) => c.exp_alerts.length === 0), `${name}: no case where it stays quiet`);
    assertOk(["critical", "warning"].includes(rule.labels?.severity ?? ""), `${name}: severity`);
    assertIncludes(rule.annotations?.summary ?? "", "Check first", `${name}: summary`);
    const runbook = rule.annotations?.runbook_url ?? "";
    assertEquals(runbook, `docs/operations.md#${name.toLowerCase()}`, `${name}: runbook_url`);
    assertOk(anchors.has(name.toLowerCase()), `${name}: docs/operations.md has no "### ${name}"`);
  }
  // No case tests an alert that does not exist.
  const names = new Set(ALERTS.map((r) => r.alert));
  assertEquals(cases.filter((c) => !names.has(c.alertname)).map((c) => c.alertname), []);
});

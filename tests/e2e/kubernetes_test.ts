/**
 * deploy/kubernetes/: every object parses (`yaml`) and passes the Kubernetes schemas
 * (`kubernetes-models`); and what the manifests say about the program is true of it: each
 * container's command line parses with the program's own command registry, each environment
 * variable is a setting that command reads and its value resolves, the probes' paths are
 * served by the real listener on the port the settings give, and the pods run as non-root on a
 * read-only root filesystem with room for the peak memory docs/performance.md reports.
 */
import { getLogger } from "@logtape/logtape";
import * as apps from "kubernetes-models/apps/v1";
import * as batch from "kubernetes-models/batch/v1";
import * as policy from "kubernetes-models/policy/v1";
import * as core from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";
import { ConfigError } from "../../src/errors.ts";
import { resolveSections, settingsOf } from "../../src/config.ts";
import { COMMANDS } from "../../src/cli/commands.ts";
import { sectionsOf } from "../../src/cli/help.ts";
import { parseCommandLine } from "../../src/cli/main.ts";
import { serveOps } from "../../src/ops/http.ts";
import { WorkerMonitor } from "../../src/ops/monitor.ts";
import { assertEquals, assertOk } from "../helpers/assert.ts";

const DIR = new URL("../../deploy/kubernetes/", import.meta.url);

/**
 * Flags the manifests use that the program gains in a branch not merged yet. Each entry must
 * NOT be in the registry yet: once it is, this test fails and the entry goes.
 */
const PENDING_FLAGS: readonly { command: string; flag: string; by: string }[] = [];

type Json = Record<string, unknown>;
interface K8sObject {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; labels?: Record<string, string> };
  readonly [key: string]: unknown;
}

/** The schema class of each apiVersion and kind the base uses. */
const MODELS: Record<string, Record<string, new (data: never) => { validate(): void }>> = {
  "v1": core as never,
  "apps/v1": apps as never,
  "batch/v1": batch as never,
  "policy/v1": policy as never,
};

async function readYaml(name: string): Promise<Json[]> {
  const text = await Deno.readTextFile(new URL(name, DIR));
  return parseAllDocuments(text).map((doc) => {
    if (Array.isArray(doc)) throw new Error(`${name}: not a YAML stream`);
    const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
    assertEquals(problems, [], `${name} parses without errors or warnings`);
    return doc.toJS() as Json;
  });
}

const kustomization = (await readYaml("kustomization.yaml"))[0] as Json;
const RESOURCES = kustomization.resources as string[];
const OBJECTS: K8sObject[] = [];
for (const file of RESOURCES) {
  for (const doc of await readYaml(file)) OBJECTS.push({ ...doc, file } as unknown as K8sObject);
}
const byKind = (kind: string) => OBJECTS.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => {
  const found = OBJECTS.find((o) => o.kind === kind && o.metadata.name === name);
  assertOk(found, `${kind} ${name} is in the base`);
  return found;
};

interface Container {
  name: string;
  args: string[];
  env?: { name: string; value?: string; valueFrom?: Json }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources: { requests: { memory: string }; limits: { memory: string } };
  securityContext: Json;
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface PodSpec {
  containers: Container[];
  securityContext: Json;
  terminationGracePeriodSeconds?: number;
}
/** Every workload with its pod spec (Deployments and Jobs). */
const WORKLOADS = [...byKind("Deployment"), ...byKind("Job")].map((o) => {
  const template = (o.spec as Json).template as { metadata: { labels: Json }; spec: PodSpec };
  return { object: o, labels: template.metadata.labels, pod: template.spec };
});

/** The data of a ConfigMap or Secret. */
function dataOf(kind: "ConfigMap" | "Secret", name: string): Record<string, string> {
  const o = named(kind, name) as unknown as { data?: Json; stringData?: Json };
  return { ...(o.data ?? {}), ...(o.stringData ?? {}) } as Record<string, string>;
}

/** A container's environment as the kubelet gives it (references resolved). */
function environment(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, dataOf("ConfigMap", from.configMapRef.name));
    if (from.secretRef) Object.assign(env, dataOf("Secret", from.secretRef.name));
  }
  for (const e of c.env ?? []) {
    const ref = (e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef) as
      | { name: string; key: string }
      | undefined;
    if (ref === undefined) {
      env[e.name] = e.value ?? "";
      continue;
    }
    const data = dataOf(e.valueFrom?.secretKeyRef ? "Secret" : "ConfigMap", ref.name);
    assertOk(ref.key in data, `${c.name}: ${e.name} refers to a missing key ${ref.key}`);
    env[e.name] = data[ref.key] as string;
  }
  return env;
}

/** The container's args without pending flags (checked to be still pending). */
function withoutPending(args: readonly string[]): string[] {
  const command = COMMANDS.find((c) => c.name === args[0]);
  const out = [...args];
  for (const pending of PENDING_FLAGS.filter((p) => p.command === args[0])) {
    const known = new Set([
      ...(command?.flags ?? []).map((f) => f.name),
      ...(command ? sectionsOf(command) : []).flatMap((s) =>
        settingsOf([s]).flatMap((x) => x.flag ?? [])
      ),
    ]);
    assertEquals(
      known.has(pending.flag),
      false,
      `--${pending.flag} is now a flag of ${pending.command}: remove it from PENDING_FLAGS`,
    );
    const at = out.indexOf(`--${pending.flag}`);
    if (at >= 0) out.splice(at, 2);
  }
  return out;
}

Deno.test("kustomization.yaml lists every manifest in deploy/kubernetes/, and each exists", async () => {
  const files: string[] = [];
  for await (const entry of Deno.readDir(DIR)) {
    if (entry.isFile && entry.name.endsWith(".yaml") && entry.name !== "kustomization.yaml") {
      files.push(entry.name);
    }
  }
  assertEquals([...RESOURCES].sort(), files.sort());
  assertEquals(kustomization.kind, "Kustomization");
});

Deno.test("every object passes the Kubernetes schemas (kubernetes-models)", () => {
  assertOk(OBJECTS.length >= 10, `${OBJECTS.length} objects`);
  for (const o of OBJECTS) {
    const Model = MODELS[o.apiVersion]?.[o.kind];
    assertOk(Model, `${o.file}: no schema for ${o.apiVersion} ${o.kind}`);
    const { file: _file, ...data } = o;
    try {
      new Model(data as never).validate();
    } catch (error) {
      throw new Error(`${o.file}: ${o.kind} ${o.metadata.name}: ${(error as Error).message}`);
    }
  }
  // The validation can fail: a wrong type is refused.
  let refused = false;
  try {
    new apps.Deployment({
      metadata: { name: "x" },
      spec: { selector: {}, template: {}, replicas: "two" },
    } as never).validate();
  } catch {
    refused = true;
  }
  assertEquals(refused, true);
});

Deno.test("each container's command line and environment are the program's own, and resolve", () => {
  const seen: string[] = [];
  for (const { object, pod } of WORKLOADS) {
    for (const c of pod.containers) {
      const where = `${object.file}: ${object.kind} ${object.metadata.name}`;
      const request = parseCommandLine(withoutPending(c.args));
      assertEquals(request.kind, "command", `${where}: ${c.args.join(" ")}`);
      if (request.kind !== "command") continue;
      const sections = sectionsOf(request.command);
      const reads = new Set(sections.flatMap((s) => settingsOf([s]).map((x) => x.variable)));
      const env = environment(c);
      for (const name of Object.keys(env)) {
        assertOk(
          reads.has(name),
          `${where}: ${name} is not a setting "${request.command.name}" reads`,
        );
      }
      try {
        resolveSections(
          { flags: request.values, env, dotenv: {}, stdoutIsTerminal: false },
          sections,
        );
      } catch (error) {
        if (error instanceof ConfigError) throw new Error(`${where}: ${error.message}`);
        throw error;
      }
      seen.push(`${request.command.name}:${Object.keys(env).length > 0}`);
    }
  }
  assertEquals(seen.sort(), ["migrate:true", "run:true", "run:true"]);
});

Deno.test("the probes ask the real listener for paths it serves, on the port the settings give", async () => {
  const monitor = new WorkerMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 });
  const ops = serveOps({
    host: "127.0.0.1",
    port: 0,
    monitor,
    checkDatabase: () => Promise.resolve(),
    databaseTimeoutMs: 2000,
    logger: getLogger(["scan-worker-test", "kubernetes"]),
  });
  try {
    const served = async (path: string) => {
      const response = await fetch(`${ops.url}${path}`);
      await response.body?.cancel();
      return response.status !== 404;
    };
    assertEquals(await served("/no-such-path"), false);
    const probed = new Set<string>();
    for (const { object, pod } of WORKLOADS.filter((w) => w.object.kind === "Deployment")) {
      for (const c of pod.containers) {
        const env = environment(c);
        assertEquals(
          env.METRICS_HOST,
          "0.0.0.0",
          `${object.metadata.name}: probes come from outside`,
        );
        const probes = [c.startupProbe, c.livenessProbe, c.readinessProbe];
        assertOk(
          probes.every((p) => p !== undefined),
          `${object.metadata.name} has all three probes`,
        );
        for (const probe of probes as Probe[]) {
          const { path, port } = probe.httpGet;
          const number = typeof port === "number"
            ? port
            : c.ports?.find((p) => p.name === port)?.containerPort;
          assertEquals(String(number), env.METRICS_PORT, `${object.metadata.name} ${path} port`);
          assertOk(await served(path), `${object.metadata.name}: ${path} is not served`);
          probed.add(path);
        }
        assertEquals(c.livenessProbe?.httpGet.path, "/healthz");
        assertEquals(c.readinessProbe?.httpGet.path, "/readyz");
      }
    }
    assertEquals([...probed].sort(), ["/healthz", "/readyz"]);
    // What the manifests say of a standby: alive and ready while its database answers.
    monitor.step("standby");
    for (const path of ["/healthz", "/readyz"]) {
      const response = await fetch(`${ops.url}${path}`);
      const body = await response.json();
      assertEquals([path, response.status], [path, 200], JSON.stringify(body));
      if (path === "/readyz") assertEquals([body.role, body.reason], ["standby", "standing by"]);
    }
  } finally {
    await ops.shutdown();
  }
});

Deno.test("the ingest worker: two replicas, a budget, a grace period over a request in flight", () => {
  const ingest = named("Deployment", "scan-worker") as unknown as {
    spec: { replicas: number; template: { spec: PodSpec } };
  };
  assertEquals(ingest.spec.replicas, 2);
  const pod = ingest.spec.template.spec;
  const env = environment(pod.containers[0] as Container);
  const api = resolveSections(
    { flags: {}, env, dotenv: {}, stdoutIsTerminal: false },
    ["api", "worker"],
  );
  assertOk(
    (pod.terminationGracePeriodSeconds ?? 30) * 1000 > api.apiTimeoutMs + api.lockRetryMs,
    "the grace period covers a request in flight and a page write",
  );
  assertEquals((pod.containers[0] as Container).args.includes("--no-migrate"), true);
  const budget = named("PodDisruptionBudget", "scan-worker") as unknown as {
    spec: { minAvailable: number };
  };
  assertEquals(budget.spec.minAvailable, 1);
});

Deno.test("every container runs the image kustomization.yaml names", () => {
  const images = (kustomization.images as { name: string }[]).map((i) => i.name);
  for (const { object, pod } of WORKLOADS) {
    for (const c of pod.containers as (Container & { image: string })[]) {
      assertOk(images.includes(c.image), `${object.metadata.name}: image ${c.image}`);
    }
  }
});

Deno.test("selectors find their pods; references find their ConfigMaps and Secrets", () => {
  const podLabels = WORKLOADS.map((w) => w.labels);
  const matches = (selector: Json) =>
    podLabels.filter((labels) =>
      Object.entries(selector).every(([k, v]) => (labels as Json)[k] === v)
    ).length;
  for (const o of [...byKind("Deployment"), ...byKind("PodDisruptionBudget")]) {
    const selector = ((o.spec as Json).selector as { matchLabels: Json }).matchLabels;
    assertEquals(matches(selector), 1, `${o.kind} ${o.metadata.name} selects one workload`);
  }
  for (const o of byKind("Service")) {
    assertEquals(matches((o.spec as Json).selector as Json), 1, `Service ${o.metadata.name}`);
    assertEquals((o.spec as Json).publishNotReadyAddresses, true);
  }
  for (const { pod } of WORKLOADS) for (const c of pod.containers) environment(c);
});

Deno.test("pods run as non-root on a read-only root filesystem, sized above the measured peak RSS", async () => {
  // The largest peak RSS docs/performance.md reports, in MB.
  const performance = await Deno.readTextFile(
    new URL("../../docs/performance.md", import.meta.url),
  );
  const peaks = performance.split("\n").filter((line) => /RSS/.test(line)).flatMap((line) =>
    [...line.matchAll(/(\d+)(?:–(\d+))? MB/g)].map((m) => Number(m[2] ?? m[1]))
  );
  assertOk(peaks.length > 0, "docs/performance.md reports a peak RSS");
  const peakMb = Math.max(...peaks);
  const mebibytes = (text: string) => {
    const m = /^(\d+)Mi$/.exec(text);
    assertOk(m, `${text} is given in Mi`);
    return Number(m[1]) * 1024 * 1024 / 1e6;
  };
  for (const { object, pod } of WORKLOADS) {
    assertEquals(pod.securityContext.runAsNonRoot, true, object.metadata.name);
    for (const c of pod.containers) {
      assertEquals(c.securityContext.readOnlyRootFilesystem, true, object.metadata.name);
      assertEquals(c.securityContext.allowPrivilegeEscalation, false, object.metadata.name);
      if (object.kind === "Deployment") {
        assertOk(
          mebibytes(c.resources.requests.memory) >= peakMb,
          `${object.metadata.name}: request ${c.resources.requests.memory} < ${peakMb} MB`,
        );
        assertOk(mebibytes(c.resources.limits.memory) > mebibytes(c.resources.requests.memory));
      }
    }
  }
});

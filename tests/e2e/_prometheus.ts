/**
 * Prometheus's own tools for the deploy tests: `promtool` and a private `prometheus` server (on a
 * free loopback port, its storage in a temporary folder that is removed when it stops, also on
 * failure). Both come from Debian's `prometheus` package. Where a binary is missing the tests
 * that need it are skipped with a printed reason, except in CI (`CI=true`, where `.ci/run`
 * installs the package), where they run and fail.
 *
 * @module
 */

/** Why `binary` cannot run here, or null. */
function missing(binary: string): string | null {
  try {
    const result = new Deno.Command(binary, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return result.success ? null : `${binary} --version fails`;
  } catch {
    return `${binary} is not installed (apt-get install prometheus)`;
  }
}

const IN_CI = Deno.env.get("CI") === "true";

/** Why promtool cannot run here, or null. */
export const PROMTOOL_SKIP: string | null = missing("promtool");
/** Whether the promtool tests are skipped (never in CI). */
export const PROMTOOL_IGNORE: boolean = PROMTOOL_SKIP !== null && !IN_CI;
if (PROMTOOL_IGNORE) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log(`promtool tests skipped: ${PROMTOOL_SKIP}`);
}

/** Why a private Prometheus server (and promtool) cannot run here, or null. */
export const PROMETHEUS_SKIP: string | null = missing("prometheus") ?? PROMTOOL_SKIP;
/** Whether the tests with a private Prometheus are skipped (never in CI). */
export const PROMETHEUS_IGNORE: boolean = PROMETHEUS_SKIP !== null && !IN_CI;
if (PROMETHEUS_IGNORE) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log(`Prometheus end-to-end test skipped: ${PROMETHEUS_SKIP}`);
}

/** Run promtool with `args` (and `stdin`); its exit code and all it printed. */
export async function promtool(
  args: string[],
  stdin?: string,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const result = await child.output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}

/** A private Prometheus server. */
export interface PrivatePrometheus {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** An instant query's result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** The alerts it holds now (pending and firing). */
  alerts(): Promise<{ labels: Record<string, string>; state: string }[]>;
  /** Stop it and remove its folder. */
  stop(): Promise<void>;
}

/** A free loopback port (the OS picks one; it is closed again at once). */
function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/**
 * Start Prometheus with `config` (its prometheus.yml, as an object) and `files` (name → text,
 * written beside it, e.g. rule files). Resolves once it answers /-/ready.
 */
export async function startPrometheus(
  config: Record<string, unknown>,
  files: Record<string, string> = {},
): Promise<PrivatePrometheus> {
  const dir = await Deno.makeTempDir({ prefix: "scan-worker-prometheus-" });
  let child: Deno.ChildProcess | null = null;
  const stop = async () => {
    if (child !== null) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already ended.
      }
      await child.status;
      child = null;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await Deno.writeTextFile(`${dir}/prometheus.yml`, JSON.stringify(config));
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    child = new Deno.Command("prometheus", {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      cwd: dir,
      stdout: "null",
      stderr: "null",
    }).spawn();
    const running = child;
    let exited = false;
    running.status.then(() => exited = true);
    for (let i = 0;; i++) {
      if (exited) throw new Error("prometheus exited at start");
      const ready = await fetch(`${url}/-/ready`).then(async (r) => {
        await r.body?.cancel();
        return r.ok;
      }, () => false);
      if (ready) break;
      if (i >= 300) throw new Error(`prometheus did not get ready on ${url} within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const api = async (path: string) => {
      const response = await fetch(`${url}${path}`);
      const body = await response.json();
      if (body.status !== "success") throw new Error(`${path}: ${JSON.stringify(body)}`);
      return body.data;
    };
    return {
      url,
      query: async (expr) => (await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
      alerts: async () => (await api("/api/v1/alerts")).alerts,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

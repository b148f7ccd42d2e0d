/**
 * A private PostgreSQL server for one test: `initdb` and `pg_ctl` in a temporary folder, on a
 * free port, for tests that must stop, restart or reconfigure a server. The machine's shared
 * server is never touched. Removed by `destroy()`, which every test calls in `finally`.
 *
 * @module
 */

/** Where the server binaries are (Debian: /usr/lib/postgresql/<version>/bin), or null. */
export const PG_BIN: string | null = (() => {
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name).sort();
    const bin = `/usr/lib/postgresql/${versions.at(-1)}/bin`;
    Deno.statSync(`${bin}/initdb`);
    return bin;
  } catch {
    return null;
  }
})();

/** Why private clusters cannot run here, or null. */
export const CLUSTER_SKIP: string | null = PG_BIN === null
  ? "no PostgreSQL server binaries under /usr/lib/postgresql (initdb, pg_ctl)"
  : null;

/** A private PostgreSQL server. */
export interface PrivateCluster {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** A URL for database `name` as the superuser `postgres`. */
  url(name?: string): string;
  /** Stop it (`fast`: sessions are ended, like a service restart). */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Start it again, on the same port and data. */
  start(): Promise<void>;
  /** Stop it and remove its folder. */
  destroy(): Promise<void>;
}

/** Whether the tests run as root (asked of `id`: Deno.uid needs --allow-sys). */
export const IS_ROOT: boolean = (() => {
  try {
    const id = new Deno.Command("id", { args: ["-u"], stdout: "piped" }).outputSync();
    return new TextDecoder().decode(id.stdout).trim() === "0";
  } catch {
    return false;
  }
})();
const isRoot = IS_ROOT;

/** Run a server binary, as the `postgres` user when this process is root (initdb refuses root). */
async function pg(binary: string, args: string[]): Promise<void> {
  const path = `${PG_BIN}/${binary}`;
  const result = await new Deno.Command(isRoot ? "runuser" : path, {
    args: isRoot ? ["-u", "postgres", "--", path, ...args] : args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const output = new TextDecoder().decode(result.stderr) +
      new TextDecoder().decode(result.stdout);
    throw new Error(`${binary} ${args.join(" ")} failed: ${output}`);
  }
}

/** A port free right now on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A self-signed certificate and key for `ssl = on`, readable by the server only. */
async function makeCertificate(data: string): Promise<void> {
  const result = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-nodes",
      "-newkey",
      "rsa:2048",
      "-days",
      "1",
      "-subj",
      "/CN=scan-worker-test",
      "-keyout",
      `${data}/server.key`,
      "-out",
      `${data}/server.crt`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
  await Deno.chmod(`${data}/server.key`, 0o600);
  if (isRoot) {
    await new Deno.Command("chown", {
      args: ["postgres:postgres", `${data}/server.key`, `${data}/server.crt`],
    }).output();
  }
}

/**
 * Create and start a private server (trust authentication, fsync off: it is thrown away).
 * @param options.ssl serve TLS with a self-signed certificate.
 */
export async function startCluster(options: { ssl?: boolean } = {}): Promise<PrivateCluster> {
  if (PG_BIN === null) throw new Error(CLUSTER_SKIP ?? "no PostgreSQL binaries");
  const dir = await Deno.makeTempDir({ prefix: "scan-worker-pg-" });
  const data = `${dir}/data`;
  if (isRoot) await new Deno.Command("chown", { args: ["postgres:postgres", dir] }).output();
  const started = { value: false };
  try {
    await pg("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    let port = freePort();
    const settings = [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      "fsync = off",
      "max_connections = 40",
    ];
    if (options.ssl) {
      await makeCertificate(data);
      settings.push("ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'");
    }
    await Deno.writeTextFile(`${data}/postgresql.conf`, `\n${settings.join("\n")}\n`, {
      append: true,
    });
    const start = () => pg("pg_ctl", ["-D", data, "-l", `${dir}/log`, "-w", "-t", "60", "start"]);
    const stop = (mode: "fast" | "immediate" = "fast") =>
      pg("pg_ctl", ["-D", data, "-w", "-t", "60", "-m", mode, "stop"]);
    // Another test may take the free port first: then try another one (a later line wins).
    for (let attempt = 1;; attempt++) {
      try {
        await start();
        break;
      } catch (error) {
        if (attempt === 3) throw error;
        port = freePort();
        await Deno.writeTextFile(`${data}/postgresql.conf`, `\nport = ${port}\n`, { append: true });
      }
    }
    started.value = true;
    return {
      port,
      url: (name = "postgres") => `postgres://postgres@127.0.0.1:${port}/${name}`,
      stop: async (mode) => {
        await stop(mode);
        started.value = false;
      },
      start: async () => {
        await start();
        started.value = true;
      },
      destroy: async () => {
        if (started.value) await stop("immediate").catch(() => {});
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (error) {
    if (started.value) {
      await pg("pg_ctl", ["-D", data, "-m", "immediate", "stop"]).catch(() => {});
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

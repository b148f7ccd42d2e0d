/**
 * `DATABASE_URL` for SQL Server: `mssql://user:pass@host:port/database?encrypt=true…` or the
 * ADO.NET string operators already have (`Server=host,1433;Database=…;User Id=…;Password=…`),
 * turned into an `mssql` connection config.
 *
 * The ADO.NET form is parsed by the `mssql` package itself (its quoting rules: `'it''s'`,
 * `"a""b"`, `{x;y}`); this module adds what it leaves out: the URL form, refusing Windows
 * authentication (it cannot work from this runtime), required keys, and the worker's defaults.
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import { ConfigError } from "../errors.ts";
import { adoNetEntries, adoNetServer } from "../config/url.ts";

const SETTING = "DATABASE_URL (--db)";

/** Connections the worker's pool keeps at most: one writer, plus status and lock sessions. */
export const DEFAULT_POOL_MAX = 4;

/** Query parameters the URL form accepts, with the config option each sets. */
const URL_OPTIONS = [
  "encrypt",
  "trustServerCertificate",
  "instanceName",
  "connectTimeout",
  "requestTimeout",
  "applicationName",
  "poolMax",
] as const;

function flag(value: string, name: string): boolean {
  const lower = value.trim().toLowerCase();
  if (["true", "yes", "1"].includes(lower)) return true;
  if (["false", "no", "0"].includes(lower)) return false;
  throw new ConfigError(SETTING, `${name}=${JSON.stringify(value)} is not true or false`);
}

/** What `encrypt` asks tedious for: TLS after login negotiation (true), none, or TDS 8 strict. */
export type EncryptMode = boolean | "strict";

/**
 * `Encrypt` as Microsoft.Data.SqlClient reads it: `Optional`/`False`/`No` (what SqlClient 5
 * writes for "off") → false, `Mandatory`/`True`/`Yes` → true, `Strict` → TDS 8 strict
 * encryption (the whole connection in TLS from the first byte).
 * @example SqlClient's words
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { encryptMode } from "./mssql_config.ts";
 *
 * deepStrictEqual(encryptMode("Optional", "Encrypt"), false);
 * deepStrictEqual(encryptMode("Strict", "Encrypt"), "strict");
 * ```
 */
export function encryptMode(value: string, name: string): EncryptMode {
  const lower = value.trim().toLowerCase();
  if (["mandatory", "true", "yes", "1"].includes(lower)) return true;
  if (["optional", "false", "no", "0"].includes(lower)) return false;
  if (lower === "strict") return "strict";
  throw new ConfigError(
    SETTING,
    `${name}=${JSON.stringify(value)} is not one of Optional, Mandatory, Strict (or true, false)`,
  );
}

function positive(value: string, name: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) {
    throw new ConfigError(
      SETTING,
      `${name}=${JSON.stringify(value)} is not a positive whole number`,
    );
  }
  return Number(value);
}

/** What tedious says of a server's error message token (the part the classification needs). */
interface ErrorToken {
  readonly number: number;
  readonly class: number;
}

/** The events of a tedious connection this module listens to. */
interface LoginEvents {
  on(event: "errorMessage", listener: (token: ErrorToken) => void): unknown;
  once(event: "connect", listener: (error?: Error) => void): unknown;
}

/**
 * Give a failed login's error the server's number and severity. tedious reports a refused login
 * (18456 login failed, 4060 cannot open database, 40613 database unavailable …) as `ELOGIN`
 * without them; the server's error tokens, seen just before, carry both. The first one counts,
 * as in SqlClient: a database that is not open yet (recovery, a failover, a restore) answers
 * 4060 (transient) and then 18456 (login failed), and the login is worth retrying. Set as the
 * driver's `beforeConnect` hook, so every connection of every pool gets it.
 */
export function attachLoginError(connection: LoginEvents): void {
  let token: ErrorToken | undefined;
  connection.on("errorMessage", (message) => {
    token ??= message;
  });
  connection.once("connect", (error) => {
    if (error === undefined || token === undefined) return;
    const failed = error as Error & { info?: ErrorToken };
    failed.info ??= { number: token.number, class: token.class };
  });
}

/** The worker's defaults, under what the string sets. */
function withDefaults(config: sql.config, connectTimeoutMs: number): sql.config {
  return {
    ...config,
    beforeConnect: attachLoginError,
    // Check a pooled connection's socket on acquire, not with a `SELECT 1` round trip (the
    // driver's default): a dead socket fails the call, which the store retries.
    validateConnection: "socket",
    connectionTimeout: config.connectionTimeout ?? connectTimeoutMs,
    requestTimeout: config.requestTimeout ?? 30_000,
    pool: {
      min: 0,
      idleTimeoutMillis: 30_000,
      ...config.pool,
      max: config.pool?.max ?? DEFAULT_POOL_MAX,
    },
    options: {
      encrypt: true,
      trustServerCertificate: false,
      appName: "scan-worker",
      ...config.options,
      // Tedious otherwise asks the OS for the host name, which needs another permission.
      workstationId: "scan-worker",
      useUTC: true,
      // `Transaction Binding=Implicit Unbind` (SqlClient's default) is read by the driver as
      // "implicit transactions on": pages would then never commit. No string may turn it on.
      enableImplicitTransactions: false,
    },
  };
}

function parseUrl(text: string): sql.config {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(SETTING, "is not a valid mssql:// URL");
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (url.hostname === "") throw new ConfigError(SETTING, "mssql:// URL has no host");
  if (database === "" || database.includes("/")) {
    throw new ConfigError(
      SETTING,
      "mssql:// URL must name one database: mssql://user:pass@host:1433/Database",
    );
  }
  if (url.username === "") {
    throw new ConfigError(
      SETTING,
      "mssql:// URL has no user; SQL Server logins only (user:password@)",
    );
  }
  const options: sql.config["options"] = {};
  const config: sql.config = {
    server: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port === "" ? 1433 : Number(url.port),
    database,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    options,
    pool: {},
  };
  for (const [key, value] of url.searchParams) urlOption(config, key, value, url.port !== "");
  return config;
}

/** Apply one query parameter of an `mssql://` URL to `config` (its options object included). */
function urlOption(config: sql.config, key: string, value: string, hasPort: boolean): void {
  const options = config.options ?? {};
  switch (key as typeof URL_OPTIONS[number]) {
    case "encrypt":
      options.encrypt = encryptMode(value, key);
      return;
    case "trustServerCertificate":
      options.trustServerCertificate = flag(value, key);
      return;
    case "instanceName":
      // As in ADO.NET, an explicit port wins over the instance name (no SQL Browser lookup).
      if (!hasPort) {
        options.instanceName = value;
        delete config.port;
      }
      return;
    case "connectTimeout":
      config.connectionTimeout = positive(value, key);
      return;
    case "requestTimeout":
      config.requestTimeout = positive(value, key);
      return;
    case "applicationName":
      options.appName = value;
      return;
    case "poolMax":
      config.pool = { ...config.pool, max: positive(value, key) };
      return;
    default:
      throw new ConfigError(
        SETTING,
        `unknown mssql:// URL parameter ${JSON.stringify(key)}; known: ${URL_OPTIONS.join(", ")}`,
      );
  }
}

/** Keys meaning Windows (integrated) authentication. */
const INTEGRATED_KEYS = ["trusted_connection", "integrated security"];

function parseAdoNet(text: string): sql.config {
  const entries = adoNetEntries(text, SETTING);
  for (const key of INTEGRATED_KEYS) {
    const value = entries.get(key);
    if (value !== undefined && ["true", "yes", "sspi"].includes(value.trim().toLowerCase())) {
      throw new ConfigError(
        SETTING,
        `${
          key === "trusted_connection" ? "Trusted_Connection" : "Integrated Security"
        } (Windows authentication) cannot work from this runtime; use a SQL Server login: User Id=…;Password=…`,
      );
    }
  }
  const config = sql.ConnectionPool.parseConnectionString(text);
  // The `mssql` package reads any Encrypt value but false/no/0 as on; SqlClient's own words win.
  const encrypt = entries.get("encrypt");
  if (encrypt !== undefined) {
    config.options = { ...config.options, encrypt: encryptMode(encrypt, "Encrypt") };
  }
  // `User` is SqlClient's synonym of `User Id` (the package knows only `User Id` and `UID`).
  const user = entries.get("user");
  if (!config.user && user !== undefined) config.user = user;
  // The package drops `Application Name` (also `App`); SqlClient sends it to the server.
  const appName = entries.get("application name") ?? entries.get("app");
  if (appName !== undefined) config.options = { ...config.options, appName };
  // Server=host\INSTANCE,1444: a port wins over the instance name, as in ADO.NET, so the
  // driver connects to the port instead of asking SQL Browser where the instance is.
  const server = config.server ?? "";
  const dataSource = adoNetServer(entries) ?? "";
  if (/\\[^,]*,\s*\d+\s*$/.test(dataSource) && config.options?.instanceName !== undefined) {
    delete config.options.instanceName;
  }
  if (server === "" || server.includes(";") || server.includes("=")) {
    throw new ConfigError(SETTING, "ADO.NET string has no Server (Server=host,1433)");
  }
  if (!config.database) {
    throw new ConfigError(SETTING, "ADO.NET string has no Database (Database=…)");
  }
  if (!config.user) {
    throw new ConfigError(SETTING, "ADO.NET string has no User Id (SQL Server logins only)");
  }
  if (config.password === undefined) {
    throw new ConfigError(SETTING, "ADO.NET string has no Password");
  }
  return config;
}

/**
 * The `mssql` connection config for a `DATABASE_URL`; a connection may take `connectTimeoutMs`
 * (DB_CONNECT_TIMEOUT_MS) unless the string sets its own (`connectTimeout`, `Connect Timeout`).
 * @example Both forms
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { mssqlConfig } from "./mssql_config.ts";
 *
 * deepStrictEqual(mssqlConfig("mssql://app:pw@db:1433/Scan").database, "Scan");
 * const ado = mssqlConfig("Server=db,1433;Database=Scan;User Id=app;Password=pw");
 * deepStrictEqual([ado.server, ado.port, ado.validateConnection], ["db", 1433, "socket"]);
 * ```
 * @throws ConfigError naming what is wrong (never echoing the password).
 */
export function mssqlConfig(text: string, connectTimeoutMs = 15_000): sql.config {
  const value = text.trim();
  return withDefaults(
    /^mssql:\/\//i.test(value) ? parseUrl(value) : parseAdoNet(value),
    connectTimeoutMs,
  );
}

/**
 * The settings that are URLs — `DATABASE_URL`, `NATS_URL`, `SCAN_API_URL` — parsed and checked
 * as far as can be without connecting. Every error shows the value masked by `mask.ts`.
 *
 * @module
 */

import { parse as parseConnectionString } from "@tediousjs/connection-string";
import { ConfigError } from "../errors.ts";
import { credentialsIn, redactApiUrl, redactDatabaseUrl, redactNatsUrl } from "./mask.ts";

/** Where the worker keeps its state, from `DATABASE_URL`. */
export type DatabaseTarget =
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "postgres"; readonly url: string }
  | { readonly kind: "mssql"; readonly url: string };

/** Where a NATS server is and how to log in, from `NATS_URL`. */
export interface NatsTarget {
  /** `host:port` of each server (the URL's credentials taken out: the client ignores them). */
  readonly servers: readonly string[];
  /** A user and password, from `nats://user:pass@host`. */
  readonly user: string | null;
  readonly pass: string | null;
  /** A token, from `nats://token@host`. */
  readonly token: string | null;
}
/** Why a `host:port` part of a URL is not one, or null when its port is fine. */
function portProblem(authority: string): string | null {
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const port = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/s.exec(hostPort)?.[1];
  if (port === undefined || port === "") return null;
  const n = Number(port);
  return /^\d+$/.test(port) && n >= 1 && n <= 65_535
    ? null
    : "the port must be a number from 1 to 65535";
}

/** The authority of a URL whose credentials are already cut at `end`: up to `/`, `?` or `#`. */
function authorityOf(text: string): string {
  const c = credentialsIn(text)[0];
  const from = c === undefined ? text.indexOf("://") + 3 : c.end + 1;
  const rest = text.slice(from);
  return rest.slice(0, rest.search(/[/?#]|$/));
}

/**
 * How `pg` reads a URL: a space or a stray `%` is encoded first, and an empty host
 * (`postgres://u:p@/db?host=/run/postgresql`, a Unix socket) is allowed.
 */
function postgresUrl(text: string): URL {
  const encoded = /\s|%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(text)
    ? encodeURI(text).replace(/%25(\d\d)/g, "%$1")
    : text;
  try {
    return new URL(encoded);
  } catch {
    return new URL(encoded.replace("@/", "@socket.invalid/"));
  }
}

/**
 * A URL of a database server (`scheme` names it), read as its driver reads it and checked: it
 * parses, its port (if any) is from 1 to 65535, its credentials decode. Errors show it masked.
 */
function serverUrl(text: string, setting: string, scheme: "postgres" | "mssql"): URL {
  const shown = JSON.stringify(redactDatabaseUrl(text));
  const problem = portProblem(authorityOf(text));
  if (problem !== null) throw new ConfigError(setting, `${shown}: ${problem}`);
  let url: URL;
  try {
    url = scheme === "postgres" ? postgresUrl(text) : new URL(text);
  } catch {
    throw new ConfigError(setting, `${shown} is not a valid ${scheme}:// URL`);
  }
  if (url.port === "0") {
    throw new ConfigError(setting, `${shown}: the port must be a number from 1 to 65535`);
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new ConfigError(setting, `${shown}: the user or password is not percent-encoded`);
  }
  return url;
}

/** The data source keys of an ADO.NET string, as SqlClient reads them. */
const ADO_SERVER_KEYS = ["server", "data source", "address", "addr", "network address"];

/**
 * The keys (lower-cased) and values of an ADO.NET string, in the `mssql` package's quoting rules;
 * an error shows the string masked.
 * @example
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { adoNetEntries } from "./url.ts";
 * strictEqual(adoNetEntries("Server=db,1433;User Id=sa", "DATABASE_URL").get("user id"), "sa");
 * throws(() => adoNetEntries("Server='db", "DATABASE_URL"), /is not an ADO.NET connection string/);
 * ```
 */
export function adoNetEntries(text: string, setting: string): Map<string, string> {
  try {
    return new Map([...parseConnectionString(text)].map(([k, v]) => [k.toLowerCase(), v]));
  } catch (error) {
    throw new ConfigError(
      setting,
      `${JSON.stringify(redactDatabaseUrl(text))} is not an ADO.NET connection string (${
        (error as Error).message
      })`,
    );
  }
}

/** The data source (`Server`, or one of SqlClient's synonyms) of parsed ADO.NET entries. */
export function adoNetServer(entries: ReadonlyMap<string, string>): string | undefined {
  return ADO_SERVER_KEYS.map((k) => entries.get(k)).find((v) => v !== undefined);
}

/**
 * An ADO.NET string, checked: it parses, names a server, and a port after the server's comma is
 * a number from 1 to 65535 (the `mssql` package would read `Server=db,oops` as port 1433).
 */
function adoNet(text: string, setting: string): void {
  const server = adoNetServer(adoNetEntries(text, setting));
  if (server === undefined || server.trim() === "") {
    throw new ConfigError(setting, "the ADO.NET string has no Server (Server=host,1433)");
  }
  const comma = server.lastIndexOf(",");
  if (comma < 0) return;
  const port = server.slice(comma + 1).trim();
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65_535) {
    throw new ConfigError(
      setting,
      `Server=${
        server.slice(0, comma)
      },…: the port after the comma must be a number from 1 to 65535`,
    );
  }
}

/**
 * Parse `DATABASE_URL` into a store target, checking what can be checked without connecting.
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual(parseDatabaseUrl("sqlite:./data/scan.db"), { kind: "sqlite", path: "./data/scan.db" });
 * deepStrictEqual(parseDatabaseUrl("postgres://app:pw@db:5432/scan").kind, "postgres");
 * ```
 * @throws ConfigError naming `setting`, never showing a password.
 */
export function parseDatabaseUrl(text: string, setting = "DATABASE_URL (--db)"): DatabaseTarget {
  const value = text.trim();
  if (/^sqlite:/i.test(value)) {
    const path = value.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") {
      throw new ConfigError(setting, `"sqlite:" needs a file path, e.g. sqlite:./scan-worker.db`);
    }
    return { kind: "sqlite", path };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) {
    serverUrl(value, setting, "postgres");
    return { kind: "postgres", url: value };
  }
  if (/^mssql:\/\//i.test(value)) {
    serverUrl(value, setting, "mssql");
    return { kind: "mssql", url: value };
  }
  if (/(^|;)\s*(server|data source|address|addr|network address)\s*=/i.test(value)) {
    adoNet(value, setting);
    return { kind: "mssql", url: value };
  }
  throw new ConfigError(
    setting,
    "expected sqlite:PATH, postgres://…, mssql://… or an ADO.NET string Server=…;Database=…",
  );
}

/**
 * Parse `NATS_URL`: one or more `nats://` (or `tls://`) URLs, separated by commas; credentials in
 * the first one log in (`user:pass@` a user, `token@` a token).
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual(parseNatsUrl("nats://app:pw@broker:4222"), { servers: ["broker:4222"], user: "app", pass: "pw", token: null });
 * ```
 * @throws ConfigError naming `setting`, never showing a password or token.
 */
export function parseNatsUrl(text: string, setting = "NATS_URL"): NatsTarget {
  const servers: string[] = [];
  let login: Pick<NatsTarget, "user" | "pass" | "token"> = { user: null, pass: null, token: null };
  const refuse = (problem: string): never => {
    throw new ConfigError(setting, `${JSON.stringify(redactNatsUrl(text.trim()))} ${problem}`);
  };
  for (const [i, part] of text.split(",").map((p) => p.trim()).entries()) {
    const scheme = /^(nats|tls):\/\//i.exec(part)?.[1];
    if (scheme === undefined) refuse("is not nats://[user:pass@]host[:port]");
    const port = portProblem(authorityOf(part));
    if (port !== null) refuse(`is not nats://[user:pass@]host[:port]: ${port}`);
    let url: URL | null = null;
    try {
      url = new URL(part.replace(/^(nats|tls):/i, "http:"));
    } catch {
      // refused below
    }
    if (url === null || url.hostname === "" || url.pathname.length > 1) {
      return refuse("is not nats://[user:pass@]host[:port]");
    }
    servers.push(
      `${scheme?.toLowerCase() === "tls" ? "tls://" : ""}${url.hostname}:${url.port || "4222"}`,
    );
    if (i === 0 && url.username !== "") login = natsLogin(url, refuse);
  }
  return { servers, ...login };
}

/** The login of a NATS URL: a user and password, or a token. */
function natsLogin(
  url: URL,
  refuse: (problem: string) => never,
): Pick<NatsTarget, "user" | "pass" | "token"> {
  try {
    const name = decodeURIComponent(url.username);
    return url.password === ""
      ? { user: null, pass: null, token: name }
      : { user: name, pass: decodeURIComponent(url.password), token: null };
  } catch {
    return refuse("has a user, password or token that is not percent-encoded");
  }
}

/**
 * Parse `SCAN_API_URL`: a plain http(s) URL, without credentials, query or fragment.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(parseApiUrl("http://scan-api/v1/scans/scanevents"), "http://scan-api/v1/scans/scanevents");
 * ```
 * @throws ConfigError naming `setting`, never showing credentials or a query.
 */
export function parseApiUrl(text: string, setting = "SCAN_API_URL (--api-url)"): string {
  const value = text.trim();
  let shown = JSON.stringify(redactApiUrl(value));
  const port = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? portProblem(authorityOf(value)) : null;
  if (port !== null) throw new ConfigError(setting, `${shown}: ${port}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(setting, `${shown} is not a URL`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(
      setting,
      `${shown}: credentials in the URL are not allowed; use SCAN_API_TOKEN`,
    );
  }
  // Parsed without credentials: an `@` in the path is no password, and can be shown.
  shown = JSON.stringify(value.replace(/[?#].*$/s, "?…"));
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(setting, `${shown} is not an http(s) URL`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new ConfigError(
      setting,
      `${shown} must not carry a query or fragment; FromEventId and Limit are added by the worker`,
    );
  }
  return url.href;
}

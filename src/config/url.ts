/**
 * The settings that can carry a secret — `DATABASE_URL`, `NATS_URL`, `SCAN_API_URL` and
 * `SCAN_API_TOKEN` — parsed, and masked. This module is the security boundary: every text of
 * such a setting that the program prints (an error, a log line, `status`) is masked here first,
 * and {@link redactionPatterns} gives the output a second net for whatever slips past.
 *
 * Masking never needs a value to parse: `postgres://app:s3cret@db:notaport/x` is masked as
 * `postgres://app:***@db:notaport/x` before anything says what is wrong with it.
 *
 * @module
 */

import { parse as parseConnectionString } from "@tediousjs/connection-string";
import { ConfigError } from "../errors.ts";

/** What a secret is replaced with. */
export const MASK = "***";

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

/** The credentials of one URL in a text: what stands between `://` and the last `@`. */
interface Credentials {
  /** Where the user starts and the credentials end (at the `@`). */
  readonly start: number;
  readonly end: number;
  /** Where the password starts (after the first `:`), or -1 without one. */
  readonly passStart: number;
}

/**
 * The credentials of each URL in `text` (a comma-separated list counts). A URL's credentials run
 * from its `://` to the last `@` before the next URL: an `@`, `/` or `,` left unencoded in a
 * password is masked with it (an `@` in a query makes the mask err on the safe side).
 */
function credentialsIn(text: string): Credentials[] {
  const starts = [...text.matchAll(/[a-z][a-z0-9+.-]*:\/\//gi)].map((m) => ({
    at: m.index,
    after: m.index + m[0].length,
  }));
  const found: Credentials[] = [];
  starts.forEach(({ after }, i) => {
    const limit = starts[i + 1]?.at ?? text.length;
    const end = text.lastIndexOf("@", limit - 1);
    if (end < after) return;
    const colon = text.indexOf(":", after);
    found.push({ start: after, end, passStart: colon >= 0 && colon < end ? colon + 1 : -1 });
  });
  return found;
}

/**
 * Mask the credentials of each URL in `text`: the password always, a lone user (`token@host`)
 * too when `userIsSecret` (NATS reads it as a token; an http URL has no business carrying one).
 */
function maskUrls(text: string, userIsSecret: boolean): string {
  let out = "";
  let from = 0;
  for (const c of credentialsIn(text)) {
    if (c.passStart >= 0) {
      out += text.slice(from, c.passStart) + MASK;
    } else if (userIsSecret) {
      out += text.slice(from, c.start) + MASK;
    } else {
      out += text.slice(from, c.end);
    }
    from = c.end;
  }
  return out + text.slice(from);
}

/** Query parameters that carry a secret (`?password=…`, `?sslpassword=…`, `?token=…`). */
const SECRET_QUERY = /([?&](?:[^=&#]*(?:pass|pwd|token|secret|key)[^=&#]*)=)[^&#]*/gi;

/** ADO.NET `Password=`/`Pwd=` with any of its quotings: `'it''s'`, `"a""b"`, `{x;y}`. */
const ADO_PASSWORD =
  /((?:^|;)\s*(?:password|pwd)\s*=\s*)("(?:[^"]|"")*"?|'(?:[^']|'')*'?|\{(?:[^}]|\}\})*\}?|[^;]*)/gi;

/**
 * A database URL or ADO.NET string with its password replaced by `***`, safe to print.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(redactDatabaseUrl("postgres://app:s3cret@db:notaport/scan"), "postgres://app:***@db:notaport/scan");
 * strictEqual(redactDatabaseUrl("Server=db,1433;User Id=app;Password='it''s'"), "Server=db,1433;User Id=app;Password=***");
 * ```
 */
export function redactDatabaseUrl(text: string): string {
  return maskUrls(text, false)
    .replace(SECRET_QUERY, `$1${MASK}`)
    .replace(ADO_PASSWORD, `$1${MASK}`);
}

/**
 * `NATS_URL` with its passwords and tokens replaced by `***`, safe to print.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(redactNatsUrl("nats://app:pw@a:4222,nats://s3cret@b"), "nats://app:***@a:4222,nats://***@b");
 * ```
 */
export function redactNatsUrl(text: string): string {
  return maskUrls(text, true);
}

/**
 * `SCAN_API_URL` safe to print: credentials masked, any query or fragment cut to `?…`.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(redactApiUrl("http://u:pw@api/v1?token=t"), "http://u:***@api/v1?…");
 * ```
 */
export function redactApiUrl(text: string): string {
  return maskUrls(text, true).replace(/[?#].*$/s, "?…");
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
 * A URL of a database server (`shape` is its scheme), checked: it parses, its port (if any) is from 1 to 65535, its
 * credentials are percent-encoded correctly. Errors show the URL masked.
 */
function serverUrl(text: string, setting: string, shape: string): URL {
  const shown = JSON.stringify(redactDatabaseUrl(text));
  const problem = portProblem(authorityOf(text));
  if (problem !== null) throw new ConfigError(setting, `${shown}: ${problem}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(setting, `${shown} is not a valid ${shape} URL`);
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
 * An ADO.NET string, checked: it parses, names a server, and a port after the server's comma is
 * a number from 1 to 65535 (the `mssql` package would read `Server=db,oops` as port 1433).
 */
function adoNet(text: string, setting: string): void {
  let entries: Map<string, string>;
  try {
    entries = new Map([...parseConnectionString(text)].map(([k, v]) => [k.toLowerCase(), v]));
  } catch (error) {
    throw new ConfigError(
      setting,
      `${JSON.stringify(redactDatabaseUrl(text))} is not an ADO.NET connection string (${
        (error as Error).message
      })`,
    );
  }
  const server = ADO_SERVER_KEYS.map((k) => entries.get(k)).find((v) => v !== undefined);
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
    serverUrl(value, setting, "postgres://");
    return { kind: "postgres", url: value };
  }
  if (/^mssql:\/\//i.test(value)) {
    serverUrl(value, setting, "mssql://");
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
  const shown = JSON.stringify(redactApiUrl(value));
  if (credentialsIn(value).length > 0) {
    throw new ConfigError(
      setting,
      `${shown}: credentials in the URL are not allowed; use SCAN_API_TOKEN`,
    );
  }
  const port = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? portProblem(authorityOf(value)) : null;
  if (port !== null) throw new ConfigError(setting, `${shown}: ${port}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(setting, `${shown} is not a URL`);
  }
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

/** `text` and, when it differs, its percent-decoded form (drivers print what they decoded). */
function withDecoded(text: string): string[] {
  try {
    const decoded = decodeURIComponent(text);
    return decoded === text ? [text] : [text, decoded];
  } catch {
    return [text];
  }
}

/**
 * The secrets in the raw text of a setting: URL passwords and tokens, ADO.NET passwords, or the
 * whole value for a token setting. Works on text that does not parse.
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual(secretsIn("postgres://app:s%40cret@db:oops/x"), ["s%40cret", "s@cret"]);
 * deepStrictEqual(secretsIn("Server=db;Password='it''s'"), ["'it''s'", "it's"]);
 * ```
 */
export function secretsIn(text: string, whole = false): string[] {
  if (whole) return text.trim() === "" ? [] : [text.trim()];
  const found: string[] = [];
  for (const c of credentialsIn(text)) {
    found.push(...withDecoded(text.slice(c.passStart >= 0 ? c.passStart : c.start, c.end)));
  }
  for (const m of text.matchAll(SECRET_QUERY)) {
    found.push(...withDecoded(m[0].slice((m[1] ?? "").length)));
  }
  for (const m of text.matchAll(ADO_PASSWORD)) found.push(...adoValue(m[2] ?? ""));
  return found.filter((s) => s !== "");
}

/** An ADO.NET value as written and unquoted. */
function adoValue(raw: string): string[] {
  const value = raw.trim();
  const quoted = /^(["'])(.*)\1$/s.exec(value);
  if (quoted !== null) {
    const q = quoted[1] ?? "";
    return [value, (quoted[2] ?? "").replaceAll(q + q, q)];
  }
  const braced = /^\{(.*)\}$/s.exec(value);
  return braced === null ? [value] : [value, (braced[1] ?? "").replaceAll("}}", "}")];
}

/** A pattern and its replacement, as `@logtape/redaction` takes them (the `g` flag set). */
export interface RedactionPattern {
  readonly pattern: RegExp;
  readonly replacement: string;
}

/** Secrets shorter than this are masked only where a URL or `Password=` shows them. */
export const MIN_SECRET_LENGTH = 4;

/**
 * The patterns that mask secrets in any output: credentials in URLs, ADO.NET passwords, and
 * each of the known `secrets` (as written and as JSON escapes it).
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const patterns = redactionPatterns(["s3cret!"]);
 * strictEqual(redactOutput('{"error":"login s3cret! refused"}', patterns), '{"error":"login *** refused"}');
 * ```
 */
export function redactionPatterns(secrets: readonly string[]): RedactionPattern[] {
  const literal = [...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))]
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length)
    .map((s) => ({ pattern: new RegExp(escapeRegExp(s), "g"), replacement: MASK }));
  return [
    ...literal,
    {
      pattern: /([a-z][a-z0-9+.-]*:\/\/[^\s"'/@:[\]]*):[^\s"'@]*@/gi,
      replacement: `$1:${MASK}@`,
    },
    {
      pattern: /((?:^|[;"\s])(?:password|pwd)\s*=\s*)[^;"\s…][^;"\s]*/gi,
      replacement: `$1${MASK}`,
    },
  ];
}

/** Apply {@link redactionPatterns} to a text. */
export function redactOutput(text: string, patterns: readonly RedactionPattern[]): string {
  return patterns.reduce((out, p) => out.replace(p.pattern, p.replacement), text);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

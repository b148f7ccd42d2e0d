/**
 * Masking, the security boundary: every text of a setting that can carry a secret
 * (`DATABASE_URL`, `NATS_URL`, `SCAN_API_URL`, `SCAN_API_TOKEN`) is masked here before it is
 * printed (an error, a log line, `status`), and {@link redactionPatterns} gives all output a
 * second net for whatever slips past.
 *
 * Masking never needs a value to parse: `postgres://app:s3cret@db:notaport/x` is masked as
 * `postgres://app:***@db:notaport/x` before anything says what is wrong with it.
 *
 * @module
 */

/** What a secret is replaced with. */
export const MASK = "***";

/** The credentials of one URL in a text: what stands between `://` and the last `@`. */
export interface Credentials {
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
export function credentialsIn(text: string): Credentials[] {
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

/**
 * The Scan Event API, as the rest of the program uses it: the {@link ScanApiClient} (a
 * `PageSource`), its errors, and the {@link ClientEvents} hooks a monitor implements. The wire
 * format's check lives in wire.ts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePageBody } from "./mod.ts";
 *
 * assert.deepEqual(parsePageBody('{"ScanEvents": []}'), { ok: true, events: [] });
 * ```
 *
 * @module
 */

export * from "./client.ts";
export { describeNetworkError, type RequestOutcome } from "./_network.ts";
export { type BodyCheck, parsePageBody, type WirePage, type WireScanEvent } from "./wire.ts";

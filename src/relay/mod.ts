/**
 * Outbox → broker: the {@link Relay} publishes the outbox's events to the stream, once each and
 * in order; its {@link Relay.gate} (the loop's PageGate) makes ingest wait while the outbox is
 * full and ends `run --drain` once everything committed is published. The {@link Backlog}
 * behind the gauges is counted from the database as well, so they hold while the broker is away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // The backlog as the database counts it, then followed by the pages and the publishes.
 * const store = {
 *   outboxBacklog: () => Promise.resolve({ rows: 120, oldestUtc: "2021-05-11T10:00:00.0000000Z" }),
 * };
 * const backlog = new Backlog(store);
 * await backlog.count();
 * backlog.added(30, 150);
 * assert.equal(backlog.rows, 150);
 * backlog.published(100, 100);
 * assert.equal(backlog.rows, 50);
 * ```
 *
 * @module
 */

export { Backlog, OutboxGate, type OutboxGateOptions, type RelayEvents } from "./_backlog.ts";
export { Relay, type RelayOptions } from "./_relay.ts";

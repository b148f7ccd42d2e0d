/**
 * The worker's health, as `/healthz` and `/readyz` tell it: which step the loop is in and since
 * when, whether it holds the feed lock, how the last poll and the last write went; and the two
 * verdicts drawn from them. Fed by the monitor's hooks; the relay's state is read when asked.
 *
 * @example A loop stuck in one request for longer than allowed
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerHealth } from "./health.ts";
 *
 * const clock = { now: 0 };
 * const health = new WorkerHealth({ stuckAfterMs: 60_000, pollFreshMs: 30_000, now: () => clock.now });
 * health.step("fetch");
 * clock.now += 61_000;
 * assert.equal(health.liveness().reason, 'stuck in step "fetch" for 61 s');
 * assert.equal(health.readiness(null).reason, "no successful poll yet");
 * ```
 *
 * @module
 */

import type { RequestOutcome } from "../api/mod.ts";
import type { Step } from "../worker/mod.ts";

/** How a poll of the page source ended: the API's outcomes, or `stream` for a failed read of the stream. */
export type PollOutcome = RequestOutcome | "stream";

/** A health or readiness verdict. */
export interface Verdict {
  /** 200 or 503. */
  readonly ok: boolean;
  /** Why, for the JSON body. */
  readonly reason: string;
  /** Extra figures for the body. */
  readonly details: Record<string, unknown>;
}

/** Thresholds of the verdicts. */
export interface HealthOptions {
  /** A step that does I/O for longer than this makes /healthz 503. */
  readonly stuckAfterMs: number;
  /** /readyz needs a successful poll within this long. */
  readonly pollFreshMs: number;
  /** The clock (ms since the epoch); tests pass their own. */
  readonly now?: () => number;
}

/** What /readyz needs to know of the relay, when it runs. */
export interface RelayHealth {
  /** Connected to the broker. */
  readonly connected: boolean;
  /** Rows waiting in the outbox. */
  readonly rows: number;
  /** How long the oldest of them has waited. */
  readonly lagSeconds: number;
  /** Ingest waits: the outbox is full. */
  readonly paused: boolean;
}

/** Steps that do I/O: one that lasts too long means the worker is stuck. */
const BUSY_STEPS: ReadonlySet<Step> = new Set(["start", "lock", "fetch", "write"]);

/** The health state of one worker, and its verdicts. */
export class WorkerHealth {
  readonly #options: HealthOptions;
  /** The relay's state, or null when no relay runs. */
  readonly #relay: () => RelayHealth | null;
  #step: { readonly name: Step; readonly since: number };
  /**
   * The page source's polls: when the last one succeeded, how the last one failed (null when it
   * did not), and when the source last showed that it moves — a poll ended, or the wait before
   * its next attempt ends (a time to come while it waits).
   */
  readonly #polls: { okAt: number | null; failed: PollOutcome | null; movedAt: number } = {
    okAt: null,
    failed: null,
    movedAt: Number.NEGATIVE_INFINITY,
  };
  #lastWriteFailed: string | null = null;
  #lockHeld = false;
  #checkpoint = 0;

  /** @param options verdict thresholds; @param relay reads the relay's state (null: none). */
  constructor(options: HealthOptions, relay: () => RelayHealth | null = () => null) {
    this.#options = options;
    this.#relay = relay;
    this.#step = { name: "start", since: this.#now() };
  }

  /** The loop enters a step (the time is kept only when the step changes). */
  step(name: Step): void {
    if (name !== this.#step.name) this.#step = { name, since: this.#now() };
  }

  /** A poll of the page source (an API request, a read of the stream) ended: "ok" or why not. */
  polled(outcome: PollOutcome): void {
    const now = this.#now();
    this.#polls.movedAt = Math.max(this.#polls.movedAt, now);
    if (outcome === "ok") this.#polls.okAt = now;
    this.#polls.failed = outcome === "ok" ? null : outcome;
  }

  /**
   * The page source failed and tries again in `delayMs`: a fetch that waits for its next
   * attempt waits by design, and its clock starts again when the attempt does. The mark only
   * moves forward: a page fetched ahead may wait while another request ends, and taking the
   * latter for the end of the wait would call the fetch stuck. A wait cut short (its page no
   * longer wanted) can so hide the next request for as long, bounded by the request's own
   * timeout.
   */
  retrying(delayMs: number): void {
    this.#polls.movedAt = Math.max(this.#polls.movedAt, this.#now() + delayMs);
  }

  /** A page write ended: null when it was written, else why not. */
  wrote(failure: string | null): void {
    this.#lastWriteFailed = failure;
  }

  /** The feed lock was taken or lost. */
  lock(held: boolean): void {
    this.#lockHeld = held;
  }

  /** The checkpoint moved (or was read at start). */
  checkpoint(eventId: number): void {
    this.#checkpoint = eventId;
  }

  /** What the gauges read: the checkpoint, the lock, when the last poll succeeded. */
  get state(): { checkpoint: number; lockHeld: boolean; lastPollOkAt: number | null } {
    return {
      checkpoint: this.#checkpoint,
      lockHeld: this.#lockHeld,
      lastPollOkAt: this.#polls.okAt,
    };
  }

  /**
   * Liveness: ok while the loop moves or waits by design; not ok when one I/O step (a request,
   * a write, a lock call) has lasted longer than `stuckAfterMs`. A fetch whose source keeps
   * failing and trying again moves: its clock starts at its last poll's end, or at the end of
   * the wait for its next attempt.
   */
  liveness(): Verdict {
    const { name, since } = this.#step;
    const now = this.#now();
    const from = name === "fetch" ? Math.max(since, this.#polls.movedAt) : since;
    const quietMs = Math.max(0, now - from); // since the step last showed it moves
    const tenths = (ms: number) => Math.round(ms / 100) / 10;
    const details = { step: name, stepSeconds: tenths(now - since), quietSeconds: tenths(quietMs) };
    if (BUSY_STEPS.has(name) && quietMs > this.#options.stuckAfterMs) {
      const reason = `stuck in step "${name}" for ${Math.round(quietMs / 1000)} s`;
      return { ok: false, reason, details };
    }
    return { ok: true, reason: "alive", details };
  }

  /**
   * Readiness: the database answered (`databaseError` null), ingest is not paused, the last
   * write did not fail, and the last poll succeeded within `pollFreshMs`. A standby instance is
   * ready when its database answers.
   */
  readiness(databaseError: string | null): Verdict {
    const { okAt } = this.#polls;
    const pollAge = okAt === null ? null : (this.#now() - okAt) / 1000;
    const relay = this.#relay();
    const details = {
      role: this.#lockHeld ? "active" : this.#step.name === "standby" ? "standby" : "starting",
      checkpoint: this.#checkpoint,
      lastSuccessfulPollAgeSeconds: pollAge,
      ...(relay === null ? {} : { relay: { ...relay } }),
    };
    const problem = this.#notReady(databaseError, relay, pollAge);
    if (problem !== null) return { ok: false, reason: problem, details };
    const standby = this.#step.name === "standby";
    return { ok: true, reason: standby ? "standing by" : "ready", details };
  }

  /** Why the worker is not ready, or null. */
  #notReady(
    databaseError: string | null,
    relay: RelayHealth | null,
    pollAge: number | null,
  ): string | null {
    if (databaseError !== null) return `database unreachable: ${databaseError}`;
    // A standby writes nothing: a write that failed before it lost the lock (the database's
    // restart that ended its lock session) or a full outbox says nothing of it now.
    if (this.#step.name === "standby") return null;
    if (relay?.paused) {
      return `ingest paused: the outbox is full (${relay.rows} rows, OUTBOX_MAX_ROWS)`;
    }
    if (this.#lastWriteFailed !== null) return `last page write failed: ${this.#lastWriteFailed}`;
    if (this.#polls.failed !== null) return `last poll failed (${this.#polls.failed})`;
    if (pollAge === null) return "no successful poll yet";
    if (pollAge * 1000 > this.#options.pollFreshMs) {
      return `no successful poll for ${Math.round(pollAge)} s`;
    }
    return null;
  }

  /** The clock. */
  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}

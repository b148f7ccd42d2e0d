/**
 * Assertions for the tests, from `node:assert/strict` (JSR's @std/assert is not reachable),
 * under the names the tests read best with.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Deep strict equality; `message` says which case failed. */
export function assertEquals<T>(actual: unknown, expected: T, message?: string): void {
  if (message === undefined) assert.deepStrictEqual(actual, expected);
  else assert.deepStrictEqual(actual, expected, message);
}

/** A truthy value. */
export function assertOk(value: unknown, message?: string): asserts value {
  if (message === undefined) assert.ok(value);
  else assert.ok(value, message);
}

/** `text` contains `part`. */
export function assertIncludes(text: string, part: string, message?: string): void {
  assert.ok(
    text.includes(part),
    message ?? `expected ${JSON.stringify(text.slice(0, 2000))} to include ${JSON.stringify(part)}`,
  );
}

/** `fn` throws an instance of `type` whose message matches `pattern`. */
export function assertThrows(
  fn: () => unknown,
  type: new (...args: never[]) => Error,
  pattern?: RegExp,
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    if (pattern) assert.match((error as Error).message, pattern);
    return true;
  });
}

/** The promise rejects with an instance of `type` whose message matches `pattern`. */
export async function assertRejects(
  promise: Promise<unknown>,
  type: new (...args: never[]) => Error,
  pattern?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    if (pattern) assert.match((error as Error).message, pattern);
    return true;
  });
}

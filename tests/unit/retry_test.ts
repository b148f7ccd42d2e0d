import { assertEquals } from "../helpers/assert.ts";
import { backoffDelay, parseRetryAfter, retryTransient, sleep } from "../../src/retry.ts";

const policy = { baseMs: 100, capMs: 1000 };

Deno.test("backoff doubles from the base and stops at the cap", () => {
  const top = () => 0.999999;
  assertEquals([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, policy, top)), [
    99,
    199,
    399,
    799,
    999,
    999,
  ]);
});

Deno.test("backoff is fully jittered between zero and the ceiling", () => {
  assertEquals(backoffDelay(3, policy, () => 0), 0);
  assertEquals(backoffDelay(3, policy, () => 0.5), 200);
});

Deno.test("Retry-After in seconds or as an HTTP date", () => {
  assertEquals(parseRetryAfter("7", 0), 7000);
  assertEquals(parseRetryAfter(null, 0), null);
  assertEquals(parseRetryAfter("soon", 0), null);
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30_000);
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
  assertEquals(parseRetryAfter("99999", 0), 600_000);
});

Deno.test("sleep returns false at once when its signal aborts", async () => {
  const controller = new AbortController();
  const started = performance.now();
  const waiting = sleep(60_000, controller.signal);
  controller.abort();
  assertEquals(await waiting, false);
  assertEquals(performance.now() - started < 5000, true);
  assertEquals(await sleep(1), true);
});

Deno.test("retryTransient retries passing failures, up to its attempts, and no others", async () => {
  const policy = { attempts: 3, backoff: { baseMs: 1, capMs: 1 } };
  let calls = 0;
  const flaky = () => (++calls < 3 ? Promise.reject(new Error("deadlock")) : Promise.resolve("ok"));
  assertEquals(await retryTransient(flaky, () => true, policy), "ok");
  assertEquals(calls, 3);

  calls = 0;
  const always = () => {
    calls++;
    return Promise.reject(new Error("deadlock"));
  };
  await retryTransient(always, () => true, policy).catch(() => {});
  assertEquals(calls, 3);

  calls = 0;
  await retryTransient(always, () => false, policy).catch(() => {});
  assertEquals(calls, 1);
});

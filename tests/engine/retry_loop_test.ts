import assert from "node:assert/strict";
import { policy } from "../../src/policy/policy.ts";
import { retry } from "../../src/retry/retry.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { constant } from "../../src/backoff/constant.ts";
import { FlakyError, PermanentError, TransientError } from "../../src/classify/markers.ts";
import {
  AttemptTimeoutError,
  DeadlineExceededError,
  RetryExhaustedError,
} from "../../src/core/errors.ts";
import type { BackoffContext } from "../../src/backoff/strategy.ts";
import type { ResilienceEvent } from "../../src/core/events.ts";
import { recorder, settleLater } from "../_helpers.ts";

/** An operation that fails with the given errors in turn, then returns "done". */
function script(clock: VirtualClock, outcomes: unknown[]) {
  const startedAt: number[] = [];
  const fn = () => {
    startedAt.push(clock.now());
    const next = outcomes[startedAt.length - 1];
    if (next === undefined) return Promise.resolve("done");
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve(next);
  };
  return { fn, startedAt };
}

const T = () => new TransientError("t");
const F = () => new FlakyError("f");

Deno.test("budgets: T,T,T... stops after 3 attempts with class_budget", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 10, budgets: { transient: 2, flaky: 1 }, backoff: constant(10) },
  });
  const { fn, startedAt } = script(clock, Array.from({ length: 10 }, T));
  const result = settleLater(p.execute(fn));
  await clock.runAll();
  const r = await result;
  assert.equal(r.ok, false);
  const error = (r as { error: unknown }).error;
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, "class_budget");
  assert.equal(error.attempts, 3);
  assert.ok(error.cause instanceof TransientError);
  assert.equal(error.policy, "p");
  assert.equal(
    error.message,
    'policy "p" gave up after 3 attempts (class_budget: transient budget of 2 retries used up)',
  );
  assert.deepEqual(startedAt, [0, 10, 20]);
  assert.deepEqual(rec.types(), ["retry", "retry", "class_budget_exhausted"]);
});

Deno.test("budgets: F,F stops after 2 attempts; permanent is 1 attempt rethrown unchanged", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 10, budgets: { transient: 2, flaky: 1 }, backoff: constant(10) },
  });
  const flaky = script(clock, [F(), F(), F()]);
  const r1 = settleLater(p.execute(flaky.fn));
  await clock.runAll();
  const e1 = (await r1) as { ok: false; error: RetryExhaustedError };
  assert.equal(e1.error.reason, "class_budget");
  assert.equal(e1.error.attempts, 2);
  assert.equal(flaky.startedAt.length, 2);

  rec.events.length = 0;
  const original = new PermanentError("bad request");
  const perm = script(clock, [original]);
  const r2 = settleLater(p.execute(perm.fn));
  await clock.runAll();
  const e2 = (await r2) as { ok: false; error: unknown };
  assert.equal(e2.error, original, "the very same error object");
  assert.equal(perm.startedAt.length, 1);
  assert.deepEqual(rec.types(), ["permanent_fail"]);
  const ev = rec.events[0] as Extract<ResilienceEvent, { type: "permanent_fail" }>;
  assert.equal(ev.attempt, 1);
  assert.equal(ev.errorClass, "permanent");
  assert.equal(ev.error, original);
});

Deno.test("mixed classes count against their own budgets", async () => {
  const clock = new VirtualClock();
  const p = policy("p", {
    clock,
    retry: { maxAttempts: 10, budgets: { transient: 2, flaky: 1 }, backoff: constant(1) },
  });
  // T, F, T succeed-path: 2 transient (<= 2) and 1 flaky (<= 1) are all allowed.
  const ok = script(clock, [T(), F(), T()]);
  const r = settleLater(p.execute(ok.fn));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "done" });
  assert.equal(ok.startedAt.length, 4);
});

Deno.test("maxAttempts: gives up with max_attempts and its event", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 4, backoff: constant(5) },
  });
  const s = script(clock, Array.from({ length: 10 }, T));
  const r = settleLater(p.execute(s.fn));
  await clock.runAll();
  const e = ((await r) as { error: RetryExhaustedError }).error;
  assert.ok(e instanceof RetryExhaustedError);
  assert.equal(e.reason, "max_attempts");
  assert.equal(e.attempts, 4);
  assert.equal(e.message, 'policy "p" gave up after 4 attempts (max_attempts: 4)');
  assert.deepEqual(rec.types(), ["retry", "retry", "retry", "max_attempts_exceeded"]);
  assert.deepEqual(
    rec.events.filter((x) => x.type === "retry").map((x) => (x as { attempt: number }).attempt),
    [1, 2, 3],
  );
});

Deno.test("maxUnknownAttempts: unknown errors stop at their own cap", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 10, maxUnknownAttempts: 2, backoff: constant(5) },
  });
  const s = script(clock, Array.from({ length: 10 }, () => new Error("who knows")));
  const r = settleLater(p.execute(s.fn));
  await clock.runAll();
  const e = ((await r) as { error: RetryExhaustedError }).error;
  assert.equal(e.reason, "max_unknown_attempts");
  assert.equal(e.attempts, 2);
  assert.deepEqual(rec.types(), ["retry", "max_unknown_attempts_exceeded"]);
  // Transient failures in between do not count towards the unknown cap.
  const mixed = script(clock, [new Error("u"), T(), T(), new Error("u")]);
  const r2 = settleLater(p.execute(mixed.fn));
  await clock.runAll();
  const e2 = ((await r2) as { error: RetryExhaustedError }).error;
  assert.equal(e2.reason, "max_unknown_attempts");
  assert.equal(e2.attempts, 4);
});

Deno.test("a thrown non-Error value is an unknown failure, never a success", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 2, backoff: constant(1) },
  });
  const r = settleLater(p.execute(() => Promise.reject("a string")));
  await clock.runAll();
  const e = ((await r) as { error: RetryExhaustedError }).error;
  assert.equal(e.cause, "a string");
  assert.equal((rec.events[0] as { errorClass: string }).errorClass, "unknown");
});

Deno.test("429 with Retry-After: 3 waits exactly 3 s", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 3, backoff: constant(50) },
  });
  const limited = () => new Response(null, { status: 429, headers: { "retry-after": "3" } });
  const s = script(clock, [limited()]);
  const r = settleLater(p.execute(s.fn));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "done" });
  assert.deepEqual(s.startedAt, [0, 3_000]);
  const retryEvent = rec.events[0] as Extract<ResilienceEvent, { type: "retry" }>;
  assert.equal(retryEvent.type, "retry");
  assert.equal(retryEvent.errorClass, "rate_limit");
  assert.equal(retryEvent.delayMs, 3_000);
});

Deno.test("429 with Retry-After: 3 and a 2 s deadline stops at once", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    deadlineMs: 2_000,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 3, backoff: constant(50) },
  });
  const response = new Response(null, { status: 429, headers: { "retry-after": "3" } });
  const s = script(clock, [response]);
  const r = settleLater(p.execute(s.fn));
  await clock.advance(0);
  const e = ((await r) as { error: DeadlineExceededError }).error;
  assert.ok(e instanceof DeadlineExceededError);
  assert.equal(clock.now(), 0, "no sleep happened");
  assert.equal(e.cause, response);
  assert.equal(e.attempts, 1);
  assert.equal(e.deadline, 2_000);
  assert.equal(s.startedAt.length, 1);
  assert.deepEqual(rec.types(), ["deadline_exceeded"]);
  assert.equal((rec.events[0] as { delayMs: number }).delayMs, 3_000);
  assert.equal(clock.pending, 0);
});

Deno.test("honorRetryAfter: false uses the backoff instead", async () => {
  const clock = new VirtualClock();
  const p = policy("p", {
    clock,
    retry: { maxAttempts: 3, backoff: constant(50), honorRetryAfter: false },
  });
  const s = script(clock, [new Response(null, { status: 429, headers: { "retry-after": "3" } })]);
  const r = settleLater(p.execute(s.fn));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "done" });
  assert.deepEqual(s.startedAt, [0, 50]);
});

Deno.test("a failing returned value becomes lastResult; a permanent one is returned as is", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 2, backoff: constant(1) },
  });
  const last = new Response(null, { status: 503 });
  const s = script(clock, [new Response(null, { status: 503 }), last]);
  const r = settleLater(p.execute(s.fn));
  await clock.runAll();
  const e = ((await r) as { error: RetryExhaustedError }).error;
  assert.equal(e.reason, "max_attempts");
  assert.equal(e.lastResult, last);
  assert.equal(e.cause, last);

  rec.events.length = 0;
  const notFound = new Response(null, { status: 404 });
  const value = await p.execute(() => notFound);
  assert.equal(value, notFound);
  assert.deepEqual(rec.types(), ["permanent_fail"]);
});

Deno.test("deadline 1000 ms with 400 ms backoff: attempts at 0, 400, 800, then DeadlineExceededError", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    deadlineMs: 1_000,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 10, backoff: constant(400) },
  });
  const s = script(clock, Array.from({ length: 10 }, T));
  let settledAt = -1;
  const r = settleLater(p.execute(s.fn).finally(() => (settledAt = clock.now())));
  await clock.runAll();
  const e = ((await r) as { error: DeadlineExceededError }).error;
  assert.ok(e instanceof DeadlineExceededError);
  assert.deepEqual(s.startedAt, [0, 400, 800]);
  assert.equal(settledAt, 800, "gave up at 800 instead of sleeping past 1000");
  assert.equal(clock.now(), 800);
  assert.equal(e.attempts, 3);
  assert.ok(e.cause instanceof TransientError);
  assert.deepEqual(rec.types(), ["retry", "retry", "deadline_exceeded"]);
});

Deno.test("a hung operation is aborted at the deadline, not later", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    deadlineMs: 1_000,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 3 },
  });
  let seen: AbortSignal | undefined;
  let settledAt = -1;
  const r = settleLater(
    p.execute(({ signal }) => {
      seen = signal;
      return new Promise<never>(() => {}); // ignores its signal entirely
    }).finally(() => (settledAt = clock.now())),
  );
  await clock.runAll();
  const e = ((await r) as { error: DeadlineExceededError }).error;
  assert.ok(e instanceof DeadlineExceededError);
  assert.equal(settledAt, 1_000);
  assert.equal(seen?.aborted, true);
  assert.equal(seen?.reason, e);
  assert.equal(e.attempts, 1);
  assert.deepEqual(rec.types(), ["deadline_exceeded"]);
  assert.equal(clock.pending, 0);
});

Deno.test("an attempt timeout aborts one attempt and the next attempt runs", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("p", {
    clock,
    attemptTimeoutMs: 300,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 3, backoff: constant(100) },
  });
  const starts: number[] = [];
  const signals: AbortSignal[] = [];
  const r = settleLater(p.execute(({ signal, attempt }) => {
    starts.push(clock.now());
    signals.push(signal);
    if (attempt === 1) return new Promise<string>(() => {});
    return Promise.resolve("second");
  }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "second" });
  assert.deepEqual(starts, [0, 400]);
  assert.ok(signals[0].reason instanceof AttemptTimeoutError);
  assert.equal(signals[0].reason.attempt, 1);
  assert.equal(signals[0].reason.timeoutMs, 300);
  assert.equal(signals[1].aborted, false);
  assert.deepEqual(rec.types(), ["attempt_timeout", "retry", "success"]);
  assert.equal((rec.events[1] as { errorClass: string }).errorClass, "transient");
});

Deno.test("the attempt context carries attempt and deadline", async () => {
  const clock = new VirtualClock(5_000);
  const seen: Array<[number, number]> = [];
  const p = policy("p", {
    clock,
    deadlineMs: 1_000,
    retry: { maxAttempts: 2, backoff: constant(0) },
  });
  const r = settleLater(p.execute(({ attempt, deadline }) => {
    seen.push([attempt, deadline]);
    if (attempt === 1) throw new TransientError("sync throw is a failure too");
    return attempt;
  }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: 2 });
  assert.deepEqual(seen, [[1, 6_000], [2, 6_000]]);
  const noDeadline = policy("q", { clock });
  assert.equal(await noDeadline.execute(({ deadline }) => deadline), Infinity);
});

Deno.test("a per-call deadline tightens the policy's", async () => {
  const clock = new VirtualClock();
  const p = policy("p", {
    clock,
    deadlineMs: 10_000,
    retry: { maxAttempts: 10, backoff: constant(400) },
  });
  const s = script(clock, Array.from({ length: 10 }, T));
  const r = settleLater(p.execute(s.fn, { deadline: 500 }));
  await clock.runAll();
  assert.ok(((await r) as { error: unknown }).error instanceof DeadlineExceededError);
  assert.deepEqual(s.startedAt, [0, 400]);
});

Deno.test("a caller abort during a sleep rejects at once with the signal's reason", async () => {
  const clock = new VirtualClock();
  const p = policy("p", { clock, retry: { maxAttempts: 5, backoff: constant(10_000) } });
  const controller = new AbortController();
  const s = script(clock, Array.from({ length: 5 }, T));
  const r = settleLater(p.execute(s.fn, { signal: controller.signal }));
  await clock.advance(0); // first attempt fails, the 10 s sleep starts
  assert.equal(clock.pending, 1);
  const reason = new Error("user navigated away");
  controller.abort(reason);
  const out = await r;
  assert.deepEqual(out, { ok: false, error: reason });
  assert.equal(clock.now(), 0, "virtual time did not move");
  assert.equal(clock.pending, 0, "the sleep's timer is gone");
  assert.equal(s.startedAt.length, 1);
});

Deno.test("a caller abort during an attempt aborts its signal and rejects at once", async () => {
  const clock = new VirtualClock();
  const p = policy("p", { clock, deadlineMs: 5_000, retry: { maxAttempts: 5 } });
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  const r = settleLater(p.execute(({ signal }) => {
    seen = signal;
    return new Promise<never>(() => {});
  }, { signal: controller.signal }));
  await clock.advance(100);
  controller.abort("stop");
  assert.deepEqual(await r, { ok: false, error: "stop" });
  assert.equal(seen?.reason, "stop");
  assert.equal(clock.pending, 0);
});

Deno.test("an already aborted signal rejects without calling fn", async () => {
  const p = policy("p", {});
  let called = false;
  await assert.rejects(
    p.execute(() => (called = true), { signal: AbortSignal.abort("early") }),
    (e) => e === "early",
  );
  assert.equal(called, false);
});

Deno.test("backoff receives attempt, previous delay, class, random and now", async () => {
  const clock = new VirtualClock(100);
  const seen: BackoffContext[] = [];
  const random = () => 0.25;
  const p = policy("p", {
    clock,
    random,
    retry: {
      maxAttempts: 4,
      backoff: (ctx) => {
        seen.push({ ...ctx });
        return ctx.attempt * 10;
      },
      backoffByClass: { flaky: () => 7 },
    },
  });
  const s = script(clock, [T(), F(), T()]);
  const r = settleLater(p.execute(s.fn));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "done" });
  assert.deepEqual(
    seen.map(({ attempt, prevDelayMs, errorClass, now }) => ({
      attempt,
      prevDelayMs,
      errorClass,
      now,
    })),
    [
      { attempt: 1, prevDelayMs: undefined, errorClass: "transient", now: 100 },
      { attempt: 3, prevDelayMs: 7, errorClass: "transient", now: 117 },
    ],
  );
  assert.equal(seen[0].random, random);
  assert.deepEqual(s.startedAt, [100, 110, 117, 147]);
});

Deno.test("a throwing listener changes nothing", async () => {
  async function run(onEvent?: (e: ResilienceEvent) => void) {
    const clock = new VirtualClock();
    const p = policy("p", {
      clock,
      deadlineMs: 10_000,
      onEvent,
      retry: { maxAttempts: 5, budgets: { transient: 2 }, backoff: constant(100) },
    });
    const s = script(clock, [T(), T(), T()]);
    const r = settleLater(p.execute(s.fn));
    await clock.runAll();
    const out = await r;
    return { out, starts: s.startedAt, now: clock.now() };
  }
  const quiet = await run();
  let calls = 0;
  const noisy = await run(() => {
    calls++;
    throw new Error("listener bug");
  });
  assert.ok(calls >= 3);
  assert.deepEqual(noisy.starts, quiet.starts);
  assert.equal(noisy.now, quiet.now);
  const q = quiet.out as { ok: false; error: RetryExhaustedError };
  const n = noisy.out as { ok: false; error: RetryExhaustedError };
  assert.equal(n.error.reason, q.error.reason);
  assert.equal(n.error.attempts, 3);
});

Deno.test("a successful call without a deadline sets no timer; with one, leaves none", async () => {
  const clock = new VirtualClock();
  const bare = policy("bare", { clock, retry: { maxAttempts: 3 } });
  assert.equal(await bare.execute(() => 1), 1);
  assert.equal(clock.timersCreated, 0);
  const timed = policy("timed", { clock, deadlineMs: 1_000, attemptTimeoutMs: 100 });
  assert.equal(await timed.execute(() => 2), 2);
  assert.equal(clock.pending, 0);
});

Deno.test("every call with a deadline settles by the deadline", async () => {
  // Operations that hang, fail slowly or fail fast, against several deadlines.
  for (const deadlineMs of [1, 150, 999, 1_000, 2_500]) {
    for (const kind of ["hang", "slow", "fast"] as const) {
      const clock = new VirtualClock();
      const p = policy("p", {
        clock,
        deadlineMs,
        retry: { maxAttempts: 100, backoff: constant(70) },
      });
      let settledAt = -1;
      const r = settleLater(
        p.execute(async () => {
          if (kind === "hang") await new Promise(() => {});
          if (kind === "slow") await clock.sleep(45);
          throw new TransientError(kind);
        }).finally(() => (settledAt = clock.now())),
      );
      await clock.runAll();
      const out = await r;
      assert.equal(out.ok, false);
      assert.ok((out as { error: unknown }).error instanceof DeadlineExceededError);
      assert.ok(settledAt <= deadlineMs, `${kind} ${deadlineMs}: settled at ${settledAt}`);
      assert.equal(clock.pending, 0);
    }
  }
});

Deno.test("retry() shortcut runs the same loop", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const s = script(clock, [T(), T()]);
  const r = settleLater(
    retry(s.fn, {
      clock,
      onEvent: rec.onEvent,
      maxAttempts: 3,
      backoff: constant(20),
      name: "adhoc",
    }),
  );
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "done" });
  assert.deepEqual(s.startedAt, [0, 20, 40]);
  assert.deepEqual(rec.types(), ["retry", "retry", "success"]);
  assert.equal(rec.events[0].policy, "adhoc");
  assert.throws(() => retry(s.fn, { maxAttempts: 0 }), {
    name: "RangeError",
    message: "maxAttempts must be an integer >= 1: received 0",
  });
  assert.throws(() => retry(s.fn, { maxAtempts: 2 } as never), {
    name: "TypeError",
    message: /^maxAtempts is not a known option/,
  });
});

Deno.test("per-call maxAttempts caps retries; discard receives failing values that will not be returned", async () => {
  const clock = new VirtualClock();
  const p = policy("p", { clock, retry: { maxAttempts: 5, backoff: constant(10) } });
  const once = script(clock, [T(), T()]);
  const r1 = settleLater(p.execute(once.fn, { maxAttempts: 1 }));
  await clock.runAll();
  const e1 = ((await r1) as { error: RetryExhaustedError }).error;
  assert.equal(e1.reason, "max_attempts");
  assert.equal(e1.attempts, 1);

  const discarded: unknown[] = [];
  const responses = [503, 503, 503].map((status) => new Response(null, { status }));
  let i = 0;
  const r2 = settleLater(
    p.execute(() => responses[i++], { maxAttempts: 3, discard: (v) => discarded.push(v) }),
  );
  await clock.runAll();
  const e2 = ((await r2) as { error: RetryExhaustedError }).error;
  assert.equal(e2.lastResult, responses[2], "the last response is returned, not discarded");
  assert.deepEqual(discarded, [responses[0], responses[1]]);
  await assert.rejects(p.execute(() => 1, { maxAttempts: 0 }), {
    name: "RangeError",
    message: "maxAttempts must be an integer >= 1: received 0",
  });
});

Deno.test("maxRetryAfterMs caps a long Retry-After; the deadline still applies", async () => {
  const clock = new VirtualClock();
  const p = policy("p", {
    clock,
    retry: { maxAttempts: 3, backoff: constant(50), maxRetryAfterMs: 5_000 },
  });
  const dayLong = () => new Response(null, { status: 503, headers: { "retry-after": "86400" } });
  const s = script(clock, [dayLong()]);
  const r = settleLater(p.execute(s.fn));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "done" });
  assert.deepEqual(s.startedAt, [0, 5_000]);
  assert.throws(() => policy("p", { retry: { maxRetryAfterMs: -1 } }), {
    name: "RangeError",
    message: "retry.maxRetryAfterMs must be a number >= 0: received -1",
  });
});

Deno.test("a caller abort between attempts stops the call before the next attempt", async () => {
  const clock = new VirtualClock();
  const controller = new AbortController();
  const p = policy("p", {
    clock,
    retry: { maxAttempts: 5, backoff: constant(0) },
    // The abort lands while no attempt runs and no sleep is pending (zero backoff).
    onEvent: (e) => {
      if (e.type === "retry") controller.abort("caller left");
    },
  });
  let calls = 0;
  const r = settleLater(p.execute(() => {
    calls++;
    return Promise.reject(new TransientError("t"));
  }, { signal: controller.signal }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: false, error: "caller left" });
  assert.equal(calls, 1);
});

Deno.test("a throwing classifier ends the call and releases the breaker's half-open probe", async () => {
  const { CircuitBreaker } = await import("../../src/circuit/circuit_breaker.ts");
  const clock = new VirtualClock();
  const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 1, breakMs: 100, clock });
  const p = policy("p", {
    retry: { maxAttempts: 1 },
    clock,
    circuit: breaker,
    classify: (v) => {
      if (v === "poison") throw new Error("classifier bug");
      return v instanceof Error ? "transient" : "success";
    },
  });
  await settleLater(p.execute(() => Promise.reject(new Error("down"))));
  assert.equal(breaker.state, "open");
  await clock.advance(100);
  await assert.rejects(p.execute(() => "poison"), { message: "classifier bug" });
  assert.equal(breaker.stats().probesInFlight, 0, "the probe slot is free again");
  assert.equal(await p.execute(() => "fine"), "fine");
  assert.equal(breaker.state, "closed");
});

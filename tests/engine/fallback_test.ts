// execute(fn, { fallback }): the fallback runs when the call gives up, for
// every give-up reason except the caller's own abort (DESIGN.md §6). It is
// told (error, { reason, attempts }); the call resolves with what it returns
// (or rejects with what it throws); a `fallback` event is reported and the
// call span gets `bulwark.fallback = true` while keeping its real outcome.
import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import {
  Bulkhead,
  BulkheadRejectedError,
  CircuitOpenError,
  constant,
  DeadlineExceededError,
  type ExecuteOptions,
  FailureBudgetExceededError,
  type FallbackInfo,
  PermanentError,
  policy,
  type PolicyOptions,
  RateLimitedError,
  type ResilienceEvent,
  RetryBudget,
  RetryExhaustedError,
  TransientError,
} from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { loose, recorder, settleLater } from "../_helpers.ts";
import { counterValue, histogramCount, otelHarness } from "../_otel.ts";

const transient = () => Promise.reject(new TransientError("down"));

/** A fallback that records what it is told and returns `value`. */
function fallbackSpy<T>(value: T) {
  const calls: { error: unknown; info: FallbackInfo }[] = [];
  return {
    calls,
    fallback: (error: unknown, info: FallbackInfo): T => {
      calls.push({ error, info: { ...info } });
      return value;
    },
  };
}

/** A policy in virtual time without telemetry, recording its events. */
function setup(options: PolicyOptions = {}) {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("api", {
    clock,
    telemetry: false,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 3, backoff: constant(10) },
    ...options,
  });
  return { clock, rec, p };
}

/** The one `fallback` event among `events`. */
function fallbackEvents(events: ResilienceEvent[]) {
  return events.filter((e) => e.type === "fallback");
}

/** An operation that runs until its attempt's signal aborts, then rejects with the reason. */
function hang({ signal }: { signal: AbortSignal }): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

Deno.test("fallback: permanent_fail (a thrown permanent error) after 2 attempts", async () => {
  const { clock, rec, p } = setup();
  const spy = fallbackSpy("from fallback");
  const bad = new PermanentError("bad input");
  let n = 0;
  const r = settleLater(
    p.execute(() => (++n === 1 ? transient() : Promise.reject(bad)), { fallback: spy.fallback }),
  );
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "from fallback" });
  assert.equal(n, 2);
  assert.equal(spy.calls.length, 1);
  assert.equal(spy.calls[0].error, bad);
  assert.deepEqual(spy.calls[0].info, { reason: "permanent_fail", attempts: 2 });
  assert.deepEqual(rec.types(), ["retry", "permanent_fail", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events), [{
    type: "fallback",
    policy: "api",
    timestamp: 10,
    reason: "permanent_fail",
    attempts: 2,
  }]);
});

Deno.test("fallback: max_attempts_exceeded after 3 attempts, told the RetryExhaustedError", async () => {
  const { clock, rec, p } = setup();
  const spy = fallbackSpy(42);
  let n = 0;
  const r = settleLater(p.execute(() => {
    n++;
    return transient();
  }, { fallback: spy.fallback }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: 42 });
  assert.equal(n, 3);
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.message, 'policy "api" gave up after 3 attempts (max_attempts: 3)');
  assert.equal(error.reason, "max_attempts");
  assert.equal(error.attempts, 3);
  assert.deepEqual(info, { reason: "max_attempts_exceeded", attempts: 3 });
  assert.deepEqual(rec.types(), ["retry", "retry", "max_attempts_exceeded", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events), [{
    type: "fallback",
    policy: "api",
    timestamp: 20,
    reason: "max_attempts_exceeded",
    attempts: 3,
  }]);
});

Deno.test("fallback: max_unknown_attempts_exceeded after 2 unknown failures", async () => {
  const { clock, rec, p } = setup({
    classify: (x) => (x instanceof Error ? "unknown" : "success"),
    retry: { maxAttempts: 5, maxUnknownAttempts: 2, backoff: constant(10) },
  });
  const spy = fallbackSpy("fb");
  const r = settleLater(
    p.execute(() => Promise.reject(new Error("?")), { fallback: spy.fallback }),
  );
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "fb" });
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, "max_unknown_attempts");
  assert.deepEqual(info, { reason: "max_unknown_attempts_exceeded", attempts: 2 });
  assert.deepEqual(fallbackEvents(rec.events), [{
    type: "fallback",
    policy: "api",
    timestamp: 10,
    reason: "max_unknown_attempts_exceeded",
    attempts: 2,
  }]);
});

Deno.test("fallback: class_budget_exhausted when the transient budget of 1 retry is used up", async () => {
  const { clock, rec, p } = setup({
    retry: { maxAttempts: 5, budgets: { transient: 1 }, backoff: constant(10) },
  });
  const spy = fallbackSpy("fb");
  const r = settleLater(p.execute(transient, { fallback: spy.fallback }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "fb" });
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, "class_budget");
  assert.deepEqual(info, { reason: "class_budget_exhausted", attempts: 2 });
  assert.deepEqual(rec.types(), ["retry", "class_budget_exhausted", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events)[0], {
    type: "fallback",
    policy: "api",
    timestamp: 10,
    reason: "class_budget_exhausted",
    attempts: 2,
  });
});

Deno.test("fallback: retry_budget_exhausted when the shared retry budget refuses the 2nd retry", async () => {
  const clock = new VirtualClock();
  // The floor allows 0.1/s * 10 s = 1 retry per window.
  const budget = new RetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000, clock });
  const { rec, p } = setup({
    clock,
    retry: { maxAttempts: 5, backoff: constant(10), retryBudget: budget },
  });
  const spy = fallbackSpy("fb");
  const r = settleLater(p.execute(transient, { fallback: spy.fallback }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "fb" });
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, "retry_budget");
  assert.deepEqual(info, { reason: "retry_budget_exhausted", attempts: 2 });
  assert.deepEqual(rec.types(), ["retry", "retry_budget_exhausted", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events)[0], {
    type: "fallback",
    policy: "api",
    timestamp: 10,
    reason: "retry_budget_exhausted",
    attempts: 2,
  });
});

Deno.test("fallback: deadline_exceeded when the deadline ends a running attempt (at exactly 100 ms)", async () => {
  const { clock, rec, p } = setup({ deadlineMs: 100 });
  let calledAt = -1;
  const fallback = (error: unknown, info: FallbackInfo) => {
    calledAt = clock.now();
    return { error, info };
  };
  const r = settleLater(p.execute(hang, { fallback }));
  await clock.runAll();
  const out = await r;
  assert.ok(out.ok);
  assert.equal(calledAt, 100);
  assert.ok(out.value.error instanceof DeadlineExceededError);
  assert.equal(out.value.error.message, 'policy "api" deadline exceeded after 1 attempt');
  assert.deepEqual(out.value.info, { reason: "deadline_exceeded", attempts: 1 });
  assert.deepEqual(rec.types(), ["deadline_exceeded", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events)[0], {
    type: "fallback",
    policy: "api",
    timestamp: 100,
    reason: "deadline_exceeded",
    attempts: 1,
  });
});

Deno.test("fallback: deadline_exceeded when the backoff would pass the deadline", async () => {
  const { clock, rec, p } = setup({
    deadlineMs: 100,
    retry: { maxAttempts: 5, backoff: constant(200) },
  });
  const spy = fallbackSpy("fb");
  const r = settleLater(p.execute(transient, { fallback: spy.fallback }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "fb" });
  assert.ok(spy.calls[0].error instanceof DeadlineExceededError);
  assert.deepEqual(spy.calls[0].info, { reason: "deadline_exceeded", attempts: 1 });
  assert.equal(clock.now(), 0);
  assert.deepEqual(rec.types(), ["deadline_exceeded", "fallback"]);
});

Deno.test("fallback: circuit_open on a call that would take the fast path (no signal, no deadline): 0 attempts", async () => {
  const { clock, rec, p } = setup({
    retry: { maxAttempts: 1 },
    circuit: { kind: "consecutive", threshold: 1, breakMs: 1_000 },
  });
  await settleLater(p.execute(transient)); // opens the breaker
  assert.equal(p.circuit!.state, "open");
  rec.events.length = 0;
  const spy = fallbackSpy("cached");
  let called = false;
  assert.equal(
    await p.execute(() => (called = true, "live"), { fallback: spy.fallback }),
    "cached",
  );
  assert.equal(called, false);
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof CircuitOpenError);
  assert.equal(error.message, 'policy "api" rejected the call: circuit "api" is open');
  assert.equal(error.retryAfterMs, 1_000);
  assert.deepEqual(info, { reason: "circuit_open", attempts: 0 });
  assert.deepEqual(rec.types(), ["circuit_rejected", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events)[0], {
    type: "fallback",
    policy: "api",
    timestamp: 0,
    reason: "circuit_open",
    attempts: 0,
  });
  // The same with a signal (the general loop from the start).
  const spy2 = fallbackSpy("cached 2");
  const options: ExecuteOptions<string> = {
    signal: new AbortController().signal,
    fallback: spy2.fallback,
  };
  assert.equal(await p.execute(() => "live", options), "cached 2");
  assert.deepEqual(spy2.calls[0].info, { reason: "circuit_open", attempts: 0 });
  await clock.runAll();
});

Deno.test("fallback: circuit_open when the breaker opens mid-call, after the attempts made", async () => {
  const { clock, p } = setup({
    retry: { maxAttempts: 10, backoff: constant(10) },
    circuit: { kind: "consecutive", threshold: 2, breakMs: 1_000 },
  });
  const spy = fallbackSpy("fb");
  let n = 0;
  const r = settleLater(p.execute(() => {
    n++;
    return transient();
  }, { fallback: spy.fallback }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "fb" });
  assert.equal(n, 2);
  assert.ok(spy.calls[0].error instanceof CircuitOpenError);
  assert.ok((spy.calls[0].error as CircuitOpenError).cause instanceof TransientError);
  assert.deepEqual(spy.calls[0].info, { reason: "circuit_open", attempts: 2 });
});

Deno.test("fallback: bulkhead_rejected when the bulkhead is full (0 attempts); runs outside the bulkhead", async () => {
  const { clock, rec, p } = setup({ bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
  let release!: (v: string) => void;
  const first = p.execute(() => new Promise<string>((r) => (release = r)));
  assert.equal(p.bulkhead!.inFlight, 1);
  let inFlightInFallback = -1;
  let called = false;
  const out = await p.execute<{ error: unknown; info?: FallbackInfo }>(() => {
    called = true;
    return { error: undefined };
  }, {
    fallback: (error, info) => {
      inFlightInFallback = p.bulkhead!.inFlight;
      return { error, info };
    },
  });
  assert.equal(called, false);
  assert.ok(out.error instanceof BulkheadRejectedError);
  assert.deepEqual(out.info, { reason: "bulkhead_rejected", attempts: 0 });
  assert.equal(inFlightInFallback, 1); // only the first call's permit
  assert.deepEqual(rec.types(), ["bulkhead_rejected", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events)[0], {
    type: "fallback",
    policy: "api",
    timestamp: 0,
    reason: "bulkhead_rejected",
    attempts: 0,
  });
  release("first");
  assert.equal(await first, "first");
  assert.equal(p.bulkhead!.inFlight, 0);
  await clock.runAll();
});

Deno.test("fallback: rate_limited when no token is free (0 attempts)", async () => {
  const { rec, p } = setup({ rateLimit: { ratePerSecond: 1, burst: 1 } });
  assert.equal(await p.execute(() => "first"), "first");
  rec.events.length = 0;
  const spy = fallbackSpy("fb");
  let called = false;
  assert.equal(await p.execute(() => (called = true, "live"), { fallback: spy.fallback }), "fb");
  assert.equal(called, false);
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof RateLimitedError);
  assert.equal(error.retryAfterMs, 1_000);
  assert.deepEqual(info, { reason: "rate_limited", attempts: 0 });
  assert.deepEqual(rec.types(), ["rate_limited", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events)[0], {
    type: "fallback",
    policy: "api",
    timestamp: 0,
    reason: "rate_limited",
    attempts: 0,
  });
});

Deno.test("fallback: failure_budget_exceeded while a rejecting failure budget is breached (0 attempts)", async () => {
  const { rec, p } = setup({
    retry: { maxAttempts: 1 },
    failureBudget: { threshold: 0.1, windowMs: 1_000, minSamples: 2, action: "reject" },
  });
  await settleLater(p.execute(transient));
  await settleLater(p.execute(transient));
  rec.events.length = 0;
  const spy = fallbackSpy("fb");
  let called = false;
  assert.equal(await p.execute(() => (called = true, "live"), { fallback: spy.fallback }), "fb");
  assert.equal(called, false);
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof FailureBudgetExceededError);
  assert.equal(error.message, 'policy "api" rejected the call: failure budget "api" is breached');
  assert.deepEqual(info, { reason: "failure_budget_exceeded", attempts: 0 });
  assert.deepEqual(fallbackEvents(rec.events), [{
    type: "fallback",
    policy: "api",
    timestamp: 0,
    reason: "failure_budget_exceeded",
    attempts: 0,
  }]);
});

Deno.test("fallback: not on the caller's abort (mid-attempt, in a backoff, waiting for a token or a permit)", async () => {
  const { clock, rec, p } = setup({
    retry: { maxAttempts: 5, backoff: constant(100) },
  });
  const spy = fallbackSpy("fb");
  // 1. Mid-attempt.
  const c1 = new AbortController();
  const r1 = settleLater(p.execute(hang, { signal: c1.signal, fallback: spy.fallback }));
  await clock.advance(5);
  const reason1 = new Error("caller left");
  c1.abort(reason1);
  assert.deepEqual(await r1, { ok: false, error: reason1 });
  // 2. In the backoff sleep after a failure.
  const c2 = new AbortController();
  const r2 = settleLater(p.execute(transient, { signal: c2.signal, fallback: spy.fallback }));
  await clock.advance(50);
  const reason2 = new Error("gone in backoff");
  c2.abort(reason2);
  assert.deepEqual(await r2, { ok: false, error: reason2 });
  assert.equal(spy.calls.length, 0);
  assert.deepEqual(fallbackEvents(rec.events), []);

  // 3. Waiting for a rate-limit token; 4. waiting for a bulkhead permit.
  const limited = setup({
    rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 },
    bulkhead: { maxConcurrent: 1, maxQueue: 1 },
  });
  let release!: (v: string) => void;
  const holder = limited.p.execute(() => new Promise<string>((r) => (release = r)));
  const c3 = new AbortController();
  const r3 = settleLater(
    limited.p.execute(() => "x", { signal: c3.signal, fallback: spy.fallback }),
  );
  await limited.clock.advance(20);
  const reason3 = new Error("tired of waiting for a token");
  c3.abort(reason3);
  assert.deepEqual(await r3, { ok: false, error: reason3 });
  await limited.clock.advance(200); // a token is free again
  const c4 = new AbortController();
  const r4 = settleLater(
    limited.p.execute(() => "y", { signal: c4.signal, fallback: spy.fallback }),
  );
  await limited.clock.advance(0);
  assert.equal(limited.p.bulkhead!.queued, 1);
  const reason4 = new Error("tired of waiting for a permit");
  c4.abort(reason4);
  assert.deepEqual(await r4, { ok: false, error: reason4 });
  assert.equal(spy.calls.length, 0);
  assert.deepEqual(fallbackEvents(limited.rec.events), []);
  release("held");
  assert.equal(await holder, "held");
  await clock.runAll();
  await limited.clock.runAll();
});

Deno.test("fallback: an already aborted signal rejects with its reason; the fallback is not called", async () => {
  const { rec, p } = setup();
  const spy = fallbackSpy(false);
  const reason = new Error("aborted before the call");
  let called = false;
  await assert.rejects(
    p.execute(() => (called = true), { signal: AbortSignal.abort(reason), fallback: spy.fallback }),
    (e) => e === reason,
  );
  assert.equal(called, false);
  assert.equal(spy.calls.length, 0);
  assert.deepEqual(rec.types(), []);
});

Deno.test("fallback: a fallback that throws makes the call reject with what it threw", async () => {
  const { clock, rec, p } = setup({ retry: { maxAttempts: 1 } });
  const thrown = new Error("fallback broke too");
  const r = settleLater(p.execute(transient, {
    fallback: () => {
      throw thrown;
    },
  }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: false, error: thrown });
  assert.deepEqual(rec.types(), ["max_attempts_exceeded", "fallback"]);
  // A fallback that returns a rejected promise: the same.
  const r2 = settleLater(p.execute(transient, { fallback: () => Promise.reject(thrown) }));
  await clock.runAll();
  assert.deepEqual(await r2, { ok: false, error: thrown });
});

Deno.test("fallback: a fallback returning a promise; the call resolves when it does (at 50 ms)", async () => {
  const { clock, p } = setup({ retry: { maxAttempts: 1 } });
  let settledAt = -1;
  const r = p.execute(transient, {
    fallback: (_error, info) => clock.sleep(50).then(() => `late ${info.reason}`),
  }).then((v) => {
    settledAt = clock.now();
    return v;
  });
  await clock.advance(49);
  assert.equal(settledAt, -1);
  await clock.advance(1);
  assert.equal(await r, "late max_attempts_exceeded");
  assert.equal(settledAt, 50);
});

Deno.test("fallback: a permanent failing value resolves as the call's value; the fallback is not called", async () => {
  const notFound = { status: 404 };
  const { clock, rec, p } = setup({
    classify: (x) => (x === notFound ? "permanent" : x instanceof Error ? "transient" : "success"),
  });
  const spy = fallbackSpy({ status: 0 });
  let n = 0;
  const r = settleLater(
    p.execute(() => (++n === 1 ? transient() : notFound), { fallback: spy.fallback }),
  );
  await clock.runAll();
  const out = await r;
  assert.ok(out.ok);
  assert.equal(out.value, notFound);
  assert.equal(spy.calls.length, 0);
  assert.deepEqual(rec.types(), ["retry", "permanent_fail"]);
});

Deno.test("fallback: a bad fallback rejects with a TypeError naming fallback, and fn never runs", async () => {
  const { p } = setup();
  let called = false;
  const fn = () => (called = true);
  for (
    const [value, message] of [
      ["later", 'fallback must be a function: received "later"'],
      [42, "fallback must be a function: received 42"],
      [{}, "fallback must be a function: received {}"],
      [null, "fallback must be left out for its default, not null: received null"],
    ] as const
  ) {
    await assert.rejects(p.execute(fn, { fallback: loose(value) }), (e: unknown) => {
      assert.equal(Object.getPrototypeOf(e), TypeError.prototype);
      assert.equal((e as Error).message, message);
      return true;
    });
  }
  assert.equal(called, false);
});

Deno.test("fallback: the call span gets bulwark.fallback = true and keeps its real outcome", async () => {
  const otel = otelHarness();
  const clock = new VirtualClock(1_000);
  const p = policy("traced", {
    clock,
    telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    retry: { maxAttempts: 2, backoff: constant(10) },
    circuit: { kind: "consecutive", threshold: 2, breakMs: 500 },
  });
  try {
    const r = settleLater(p.execute(transient, { fallback: () => "fb" }));
    await clock.runAll();
    assert.deepEqual(await r, { ok: true, value: "fb" });
    // The breaker is open now: the next call is refused (0 attempts), and falls back too.
    assert.equal(await p.execute(() => "live", { fallback: () => "fb 2" }), "fb 2");
    // A call without a fallback that fails is not marked.
    await settleLater(p.execute(() => "live"));
    const calls = (await otel.spans()).filter((s) => s.name === "traced");
    assert.equal(calls.length, 3);
    const [exhausted, refused, plain] = calls;
    assert.deepEqual(exhausted.attributes, {
      "bulwark.policy.name": "traced",
      "bulwark.fallback": true,
      "bulwark.attempts": 2,
      "bulwark.outcome": "max_attempts_exceeded",
      "error.type": "RetryExhaustedError",
    });
    assert.equal(exhausted.status.code, SpanStatusCode.ERROR);
    const fbEvent = exhausted.events.find((e) => e.name === "bulwark.fallback");
    assert.deepEqual(fbEvent?.attributes, {
      "bulwark.fallback.reason": "max_attempts_exceeded",
      "bulwark.attempts": 2,
    });
    assert.deepEqual(refused.attributes, {
      "bulwark.policy.name": "traced",
      "bulwark.fallback": true,
      "bulwark.attempts": 0,
      "bulwark.outcome": "circuit_open",
      "error.type": "CircuitOpenError",
    });
    assert.equal(plain.attributes["bulwark.fallback"], undefined);
    assert.equal(plain.attributes["bulwark.outcome"], "circuit_open");
    const rm = await otel.metrics();
    assert.equal(
      counterValue(rm, "bulwark.events", {
        "bulwark.policy.name": "traced",
        "bulwark.event": "fallback",
      }),
      2,
    );
    assert.equal(
      histogramCount(rm, "bulwark.call.duration", { "bulwark.outcome": "circuit_open" }),
      2,
    );
    assert.equal(
      histogramCount(rm, "bulwark.call.duration", { "bulwark.outcome": "max_attempts_exceeded" }),
      1,
    );
  } finally {
    await otel.shutdown();
  }
});

Deno.test("fallback: a hedged call (hedge delayMs 10) falls back on max_attempts_exceeded at exactly 100 ms", async () => {
  const { clock, rec, p } = setup({
    hedge: { delayMs: 10 },
    retry: { maxAttempts: 3, backoff: constant(1_000) },
  });
  // Every attempt fails 50 ms after it starts.
  const starts: number[] = [];
  const op = () => {
    starts.push(clock.now());
    return clock.sleep(50).then(transient);
  };
  let calledAt = -1;
  const spy = fallbackSpy("hedged fb");
  const r = settleLater(p.execute(op, {
    fallback: (error, info) => {
      calledAt = clock.now();
      return spy.fallback(error, info);
    },
  }));
  await clock.runAll();
  assert.deepEqual(await r, { ok: true, value: "hedged fb" });
  // Attempt 1 at 0, its hedge at 10; attempt 1 fails at 50 and frees room
  // for the third (a hedge beside attempt 2); attempt 3 fails last, at 100.
  assert.deepEqual(starts, [0, 10, 50]);
  assert.equal(calledAt, 100);
  const { error, info } = spy.calls[0];
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, "max_attempts");
  assert.deepEqual(info, { reason: "max_attempts_exceeded", attempts: 3 });
  assert.deepEqual(rec.types(), ["hedge", "hedge", "max_attempts_exceeded", "fallback"]);
  assert.deepEqual(fallbackEvents(rec.events), [{
    type: "fallback",
    policy: "api",
    timestamp: 100,
    reason: "max_attempts_exceeded",
    attempts: 3,
  }]);
});

Deno.test("fallback: a hedged call aborted by its caller rejects with the reason; no fallback", async () => {
  const { clock, rec, p } = setup({ hedge: { delayMs: 10 } });
  const spy = fallbackSpy("fb");
  const controller = new AbortController();
  const signals: AbortSignal[] = [];
  const r = settleLater(p.execute((ctx) => {
    signals.push(ctx.signal);
    return hang(ctx);
  }, { signal: controller.signal, fallback: spy.fallback }));
  await clock.advance(15); // attempt 1 at 0, its hedge at 10
  assert.equal(signals.length, 2);
  const reason = new Error("caller left");
  controller.abort(reason);
  assert.deepEqual(await r, { ok: false, error: reason });
  assert.deepEqual(signals.map((s) => s.reason), [reason, reason]);
  assert.equal(spy.calls.length, 0);
  assert.deepEqual(rec.types(), ["hedge"]);
  await clock.runAll();
});

Deno.test("fallback: a hedged call falls back for every give-up reason, with the exact attempts", async () => {
  const hedge = { delayMs: 10 };
  const cases: {
    reason: string;
    attempts: number;
    at: number;
    options: PolicyOptions;
    prepare?: (p: ReturnType<typeof policy>, clock: VirtualClock) => Promise<void>;
    op: (clock: VirtualClock) => (ctx: { signal: AbortSignal }) => Promise<unknown>;
    error: new (...args: never[]) => Error;
  }[] = [
    {
      reason: "permanent_fail",
      attempts: 2,
      at: 30,
      options: {},
      // Attempt 1 hangs; its hedge at 10 fails permanently at 30.
      op: (clock) => {
        let n = 0;
        return (ctx) =>
          ++n === 1 ? hang(ctx) : clock.sleep(20).then(() => {
            throw new PermanentError("bad");
          });
      },
      error: PermanentError,
    },
    {
      reason: "class_budget_exhausted",
      attempts: 2,
      at: 0,
      options: { retry: { maxAttempts: 5, budgets: { transient: 1 } } },
      op: () => transient,
      error: RetryExhaustedError,
    },
    {
      reason: "max_unknown_attempts_exceeded",
      attempts: 2,
      at: 0,
      options: {
        classify: (x) => (x instanceof Error ? "unknown" : "success"),
        retry: { maxAttempts: 5, maxUnknownAttempts: 2 },
      },
      op: () => () => Promise.reject(new Error("?")),
      error: RetryExhaustedError,
    },
    {
      reason: "deadline_exceeded",
      attempts: 2,
      at: 100,
      options: { deadlineMs: 100, retry: { maxAttempts: 2 } },
      op: () => hang,
      error: DeadlineExceededError,
    },
    {
      reason: "circuit_open",
      attempts: 0,
      at: 0,
      options: { retry: { maxAttempts: 1 }, circuit: { kind: "consecutive", threshold: 1 } },
      prepare: async (p) => {
        await settleLater(p.execute(transient));
      },
      op: () => transient,
      error: CircuitOpenError,
    },
    {
      reason: "circuit_open",
      attempts: 2,
      at: 0,
      options: {
        retry: { maxAttempts: 5 },
        circuit: { kind: "consecutive", threshold: 2, breakMs: 1_000 },
      },
      op: () => transient,
      error: CircuitOpenError,
    },
    {
      reason: "bulkhead_rejected",
      attempts: 0,
      at: 0,
      options: { bulkhead: { maxConcurrent: 1, maxQueue: 0 } },
      prepare: (p) => {
        p.execute(() => new Promise(() => {})); // holds the permit for good
        return Promise.resolve();
      },
      op: () => transient,
      error: BulkheadRejectedError,
    },
    {
      reason: "rate_limited",
      attempts: 0,
      at: 0,
      options: { rateLimit: { ratePerSecond: 1, burst: 1 } },
      prepare: async (p) => {
        await p.execute(() => "takes the token");
      },
      op: () => transient,
      error: RateLimitedError,
    },
    {
      reason: "failure_budget_exceeded",
      attempts: 0,
      at: 0,
      options: {
        retry: { maxAttempts: 1 },
        failureBudget: { threshold: 0.1, windowMs: 1_000, minSamples: 2, action: "reject" },
      },
      prepare: async (p) => {
        await settleLater(p.execute(transient));
        await settleLater(p.execute(transient));
      },
      op: () => transient,
      error: FailureBudgetExceededError,
    },
  ];
  for (const c of cases) {
    const { clock, rec, p } = setup({ hedge, ...c.options });
    await c.prepare?.(p, clock);
    rec.events.length = 0;
    let calledAt = -1;
    const spy = fallbackSpy(`fb ${c.reason}`);
    const r = settleLater(p.execute(c.op(clock), {
      fallback: (error, info) => {
        calledAt = clock.now();
        return spy.fallback(error, info);
      },
    }));
    await clock.advance(1_000);
    assert.deepEqual(await r, { ok: true, value: `fb ${c.reason}` }, c.reason);
    assert.equal(spy.calls.length, 1, c.reason);
    assert.ok(spy.calls[0].error instanceof c.error, `${c.reason}: ${spy.calls[0].error}`);
    assert.deepEqual(spy.calls[0].info, { reason: c.reason, attempts: c.attempts }, c.reason);
    assert.equal(calledAt, c.at, c.reason);
    assert.deepEqual(fallbackEvents(rec.events), [{
      type: "fallback",
      policy: "api",
      timestamp: c.at,
      reason: c.reason,
      attempts: c.attempts,
    }], c.reason);
  }
});

Deno.test("fallback: runs after the call gave its bulkhead permit back", async () => {
  const { clock, p } = setup({
    bulkhead: { maxConcurrent: 1, maxQueue: 0 },
    retry: { maxAttempts: 2, backoff: constant(10) },
  });
  const inFlight: number[] = [];
  const r = p.execute(() => {
    inFlight.push(p.bulkhead!.inFlight);
    return transient();
  }, {
    fallback: () => {
      inFlight.push(p.bulkhead!.inFlight);
      return "fb";
    },
  });
  await clock.runAll();
  assert.equal(await r, "fb");
  assert.deepEqual(inFlight, [1, 1, 0]);
});

Deno.test("fallback: a hedged call aborted while it waits for a rate-limit token rejects; no fallback", async () => {
  const { clock, rec, p } = setup({
    hedge: { delayMs: 10 },
    rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 },
  });
  assert.equal(await p.execute(() => "takes the token"), "takes the token");
  const spy = fallbackSpy("fb");
  const controller = new AbortController();
  let called = false;
  const r = settleLater(p.execute(() => (called = true, "late"), {
    signal: controller.signal,
    fallback: spy.fallback,
  }));
  await clock.advance(50);
  const reason = new Error("caller left the queue");
  controller.abort(reason);
  assert.deepEqual(await r, { ok: false, error: reason });
  assert.equal(called, false);
  assert.equal(spy.calls.length, 0);
  assert.deepEqual(rec.types(), ["success"]);
  await clock.runAll();
});

Deno.test("fallback: deadline_exceeded while queued for a bulkhead permit (0 attempts, at 50 ms)", async () => {
  const clock = new VirtualClock();
  const bulkhead = new Bulkhead({ name: "pool", maxConcurrent: 1, maxQueue: 1 });
  const holderPolicy = policy("holder", { clock, telemetry: false, bulkhead });
  const { rec, p } = setup({ clock, deadlineMs: 50, bulkhead });
  let release!: (v: string) => void;
  const holder = holderPolicy.execute(() => new Promise<string>((r) => (release = r)));
  assert.equal(bulkhead.inFlight, 1);
  let calledAt = -1;
  const spy = fallbackSpy("fb");
  let called = false;
  const r = settleLater(p.execute(() => (called = true, "live"), {
    fallback: (error, info) => {
      calledAt = clock.now();
      return spy.fallback(error, info);
    },
  }));
  await clock.advance(0);
  assert.equal(bulkhead.queued, 1);
  await clock.advance(50);
  assert.deepEqual(await r, { ok: true, value: "fb" });
  assert.equal(called, false);
  assert.equal(calledAt, 50);
  assert.ok(spy.calls[0].error instanceof DeadlineExceededError);
  assert.deepEqual(spy.calls[0].info, { reason: "deadline_exceeded", attempts: 0 });
  assert.deepEqual(fallbackEvents(rec.events), [{
    type: "fallback",
    policy: "api",
    timestamp: 50,
    reason: "deadline_exceeded",
    attempts: 0,
  }]);
  assert.equal(bulkhead.queued, 0);
  release("held");
  assert.equal(await holder, "held");
  await clock.runAll();
});

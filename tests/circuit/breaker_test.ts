// The circuit breaker's state machine: transitions, half-open probes, breaks,
// isolation, stats and execute().
import assert from "node:assert/strict";
import { CircuitBreaker } from "../../src/circuit/circuit_breaker.ts";
import type { BackoffContext } from "../../src/backoff/strategy.ts";
import { exponential } from "../../src/backoff/exponential.ts";
import type { Clock } from "../../src/core/clock.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";
import type { ResilienceEvent } from "../../src/core/events.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { TransientError } from "../../src/classify/markers.ts";
import { policy } from "../../src/policy/policy.ts";
import { feed, noTimers, setup } from "./_helpers.ts";

Deno.test("closed -> open emits one transition with reason failure_threshold", () => {
  const { breaker, transitions, clock, rec } = setup({ kind: "consecutive", threshold: 2 });
  feed(breaker, "FF");
  assert.deepEqual(transitions(), ["closed->open:failure_threshold"]);
  assert.deepEqual(rec.events[0], {
    type: "circuit_transition",
    policy: "circuit",
    timestamp: 0,
    from: "closed",
    to: "open",
    reason: "failure_threshold",
  });
  noTimers(clock);
});

Deno.test("closed state: allowCall + recordSuccess read no clock for consecutive and count", () => {
  for (
    const detector of [
      { kind: "consecutive", threshold: 3 },
      { kind: "count", size: 10, threshold: 0.5 },
    ] as const
  ) {
    let reads = 0;
    const clock: Clock = {
      now: () => {
        reads++;
        return 0;
      },
      sleep: () => Promise.resolve(),
      setTimer: () => 0,
      clearTimer: () => {},
    };
    const breaker = new CircuitBreaker({ ...detector, clock, onEvent: () => {} });
    for (let i = 0; i < 1_000; i++) {
      assert.equal(breaker.allowCall(), true);
      breaker.recordSuccess(5);
      assert.equal(breaker.allowCall(), true);
      if (i % 3 === 0) breaker.recordFailure(5);
      else breaker.recordSuccess();
    }
    assert.equal(reads, 0, detector.kind);
    assert.equal(breaker.state, "closed");
  }
});

Deno.test("half-open admits exactly halfOpenMaxCalls probes; all succeed -> closed (no timers)", async () => {
  const { breaker, clock, transitions, rejections } = setup({
    kind: "consecutive",
    threshold: 1,
    breakMs: 1_000,
    halfOpenMaxCalls: 3,
  });
  feed(breaker, "F");
  noTimers(clock);
  assert.equal(breaker.state, "open");
  assert.equal(breaker.retryAfterMs, 1_000);
  await clock.advance(400);
  assert.equal(breaker.allowCall(), false);
  assert.equal(rejections().at(-1)?.retryAfterMs, 600);
  assert.equal(rejections().at(-1)?.state, "open");
  await clock.advance(600);
  // lazy: the break has elapsed but nothing happens until someone asks
  assert.equal(breaker.state, "open");
  assert.equal(breaker.retryAfterMs, 0);
  noTimers(clock);

  assert.equal(breaker.allowCall(), true);
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.allowCall(), true);
  assert.equal(breaker.allowCall(), true);
  assert.equal(breaker.stats().probesInFlight, 3);
  assert.equal(breaker.retryAfterMs, 1_000, "slots taken: the current break");
  assert.equal(breaker.allowCall(), false, "the 4th concurrent probe is rejected");
  const rejected = rejections().at(-1)!;
  assert.deepEqual(rejected, {
    type: "circuit_rejected",
    policy: "circuit",
    timestamp: 1_000,
    state: "half_open",
    retryAfterMs: 1_000,
  });
  breaker.recordSuccess();
  breaker.recordSuccess();
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.allowCall(), false, "successful probes keep their slot");
  breaker.recordSuccess();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.retryAfterMs, 0);
  assert.deepEqual(transitions(), [
    "closed->open:failure_threshold",
    "open->half_open:break_elapsed",
    "half_open->closed:probe_success",
  ]);
  noTimers(clock);
});

Deno.test("half-open: any failed probe -> open; a released probe frees its slot", async () => {
  const { breaker, clock, transitions } = setup({
    kind: "consecutive",
    threshold: 1,
    breakMs: 1_000,
    halfOpenMaxCalls: 2,
  });
  feed(breaker, "F");
  await clock.advance(1_000);
  assert.equal(breaker.allowCall(), true);
  assert.equal(breaker.allowCall(), true);
  assert.equal(breaker.allowCall(), false);
  breaker.releaseCall(); // e.g. the caller aborted
  assert.equal(breaker.stats().probesInFlight, 1);
  assert.equal(breaker.allowCall(), true);
  breaker.recordSuccess();
  breaker.recordFailure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.retryAfterMs, 1_000);
  // late outcomes while open change nothing but the totals
  breaker.recordSuccess();
  breaker.releaseCall();
  assert.equal(breaker.state, "open");
  assert.deepEqual(transitions(), [
    "closed->open:failure_threshold",
    "open->half_open:break_elapsed",
    "half_open->open:probe_failure",
  ]);
  noTimers(clock);
});

Deno.test("half-open: an outcome with no probe in flight is a late result and is ignored", async () => {
  const { breaker, clock } = setup({ kind: "consecutive", threshold: 1, breakMs: 10 });
  feed(breaker, "F");
  await clock.advance(10);
  assert.equal(breaker.allowCall(), true);
  breaker.releaseCall();
  breaker.recordFailure(); // no probe in flight: a call admitted before the opening
  assert.equal(breaker.state, "half_open");
  breaker.recordSuccess();
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.allowCall(), true);
  breaker.recordSuccess();
  assert.equal(breaker.state, "closed");
});

Deno.test("breakMs strategy: successive openings use attempt 1, 2, 3 and the break grows", async () => {
  const calls: BackoffContext[] = [];
  const { breaker, clock, transitions } = setup({
    kind: "consecutive",
    threshold: 2,
    random: () => 0.25,
    breakMs: (ctx) => {
      calls.push(ctx);
      return 100 * 2 ** (ctx.attempt - 1);
    },
  });
  feed(breaker, "FF");
  assert.equal(breaker.retryAfterMs, 100);
  await clock.advance(100);
  assert.equal(breaker.allowCall(), true);
  breaker.recordFailure();
  assert.equal(breaker.retryAfterMs, 200);
  await clock.advance(199);
  assert.equal(breaker.allowCall(), false);
  await clock.advance(1);
  assert.equal(breaker.allowCall(), true);
  breaker.recordFailure();
  assert.equal(breaker.retryAfterMs, 400);
  assert.equal(breaker.stats().consecutiveOpens, 3);
  assert.deepEqual(
    calls.map(({ attempt, prevDelayMs, errorClass, now }) => ({
      attempt,
      prevDelayMs,
      errorClass,
      now,
    })),
    [
      { attempt: 1, prevDelayMs: undefined, errorClass: "transient", now: 0 },
      { attempt: 2, prevDelayMs: 100, errorClass: "transient", now: 100 },
      { attempt: 3, prevDelayMs: 200, errorClass: "transient", now: 300 },
    ],
  );
  assert.equal(calls[0].random(), 0.25);

  // closing ends the run: the next opening is attempt 1 again
  await clock.advance(400);
  assert.equal(breaker.allowCall(), true);
  breaker.recordSuccess();
  assert.equal(breaker.stats().consecutiveOpens, 0);
  feed(breaker, "FF");
  assert.equal(calls.at(-1)!.attempt, 1);
  assert.equal(breaker.retryAfterMs, 100);
  assert.equal(transitions().length, 8);
  noTimers(clock);
});

Deno.test("breakMs strategy: an invalid result or a throw opens anyway with the fallback break (30 s, reason +break_fallback)", async () => {
  const throwing = () => {
    throw new Error("strategy bug");
  };
  for (
    const [label, strategy] of [
      ["NaN", () => NaN],
      ["-1", () => -1],
      ["Infinity", () => Infinity],
      ['"5"', () => "5" as unknown as number],
      ["throws", throwing],
    ] as const
  ) {
    const { breaker, clock, transitions } = setup({
      kind: "consecutive",
      threshold: 1,
      breakMs: strategy,
    });
    assert.equal(breaker.allowCall(), true);
    breaker.recordFailure(); // must not throw
    assert.equal(breaker.state, "open", label);
    assert.deepEqual(transitions(), ["closed->open:failure_threshold+break_fallback"], label);
    assert.equal(breaker.retryAfterMs, 30_000, label);
    assert.equal(breaker.toJSON().breakMs, 30_000, label);
    // A call through execute() is rejected as open, not with the strategy's error.
    await assert.rejects(
      breaker.execute(() => "never"),
      (e: unknown) => e instanceof CircuitOpenError && e.retryAfterMs === 30_000,
      label,
    );
    await clock.advance(29_999);
    assert.equal(breaker.allowCall(), false, label);
    await clock.advance(1);
    assert.equal(breaker.allowCall(), true, label); // the probe
    assert.equal(breaker.state, "half_open", label);
    // A failed probe: the run's previous break (the fallback) is used again.
    breaker.recordFailure();
    assert.equal(breaker.retryAfterMs, 30_000, label);
    assert.equal(transitions().at(-1), "half_open->open:probe_failure+break_fallback", label);
  }
});

Deno.test("breakMs strategy: a failure after a valid break falls back to the run's previous break", async () => {
  let n = 0;
  const { breaker, clock, transitions } = setup({
    kind: "consecutive",
    threshold: 1,
    breakMs: () => (++n === 1 ? 700 : NaN),
  });
  breaker.recordFailure();
  assert.equal(breaker.retryAfterMs, 700);
  await clock.advance(700);
  assert.equal(breaker.allowCall(), true);
  breaker.recordFailure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.retryAfterMs, 700);
  assert.deepEqual(transitions(), [
    "closed->open:failure_threshold",
    "open->half_open:break_elapsed",
    "half_open->open:probe_failure+break_fallback",
  ]);
});

Deno.test("breakMs strategy returning NaN in a policy: calls reject with CircuitOpenError, not RangeError", async () => {
  const clock = new VirtualClock();
  const events: ResilienceEvent[] = [];
  const p = policy("nan-break", {
    clock,
    telemetry: false,
    onEvent: (e) => events.push(e),
    retry: { maxAttempts: 1 },
    circuit: { kind: "consecutive", threshold: 2, breakMs: () => NaN },
  });
  const fail = () => Promise.reject(new TransientError("down"));
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      p.execute(fail),
      (e: unknown) => !(e instanceof RangeError) && !(e instanceof CircuitOpenError),
    );
  }
  for (let i = 0; i < 3; i++) {
    await assert.rejects(p.execute(fail), (e: unknown) => e instanceof CircuitOpenError);
  }
  const transitions = events.filter((e) => e.type === "circuit_transition");
  assert.deepEqual(transitions.map((e) => e.reason), ["failure_threshold+break_fallback"]);
});

Deno.test("breakMs strategy: 0 is a valid break", () => {
  // 0 is allowed: the next allowCall probes at once
  const zero = new CircuitBreaker({
    kind: "consecutive",
    threshold: 1,
    breakMs: () => 0,
    clock: new VirtualClock(),
  });
  zero.recordFailure();
  assert.equal(zero.state, "open");
  assert.equal(zero.allowCall(), true);
  assert.equal(zero.state, "half_open");
});

Deno.test("breakMs accepts the built-in strategies", async () => {
  const { breaker, clock } = setup({
    kind: "consecutive",
    threshold: 1,
    breakMs: exponential({ baseMs: 1_000, maxMs: 3_000 }),
  });
  const breaks: number[] = [];
  feed(breaker, "F");
  for (let i = 0; i < 4; i++) {
    breaks.push(breaker.retryAfterMs);
    await clock.advance(breaker.retryAfterMs);
    assert.equal(breaker.allowCall(), true);
    breaker.recordFailure();
  }
  assert.deepEqual(breaks, [1_000, 2_000, 3_000, 3_000]);
});

Deno.test("isolate: two handles; the circuit closes when both are released", async () => {
  const { breaker, clock, transitions, rejections } = setup({ kind: "consecutive", threshold: 1 });
  const a = breaker.isolate();
  const b = breaker.isolate();
  assert.equal(breaker.state, "isolated");
  assert.equal(breaker.retryAfterMs, Infinity);
  assert.equal(breaker.allowCall(), false);
  assert.equal(rejections().at(-1)?.retryAfterMs, Infinity);
  assert.equal(rejections().at(-1)?.state, "isolated");
  await assert.rejects(
    breaker.execute(() => 1),
    (e: unknown) =>
      e instanceof CircuitOpenError && e.retryAfterMs === Infinity &&
      e.message === 'circuit "circuit" is isolated',
  );
  a.release();
  a.release(); // idempotent: must not release b's hold
  a[Symbol.dispose]();
  assert.equal(breaker.state, "isolated");
  await clock.advance(1_000_000);
  assert.equal(breaker.allowCall(), false, "isolation does not time out");
  b[Symbol.dispose]();
  assert.equal(breaker.state, "closed");
  b.release();
  assert.deepEqual(transitions(), ["closed->isolated:isolate", "isolated->closed:release"]);
  noTimers(clock);
});

Deno.test("isolate works with `using`, from open and half-open states", async () => {
  const { breaker, clock, transitions } = setup({
    kind: "consecutive",
    threshold: 1,
    breakMs: 10,
  });
  feed(breaker, "F");
  {
    using _hold = breaker.isolate();
    assert.equal(breaker.state, "isolated");
  }
  assert.equal(breaker.state, "closed");
  feed(breaker, "F");
  await clock.advance(10);
  assert.equal(breaker.allowCall(), true);
  {
    using _outer = breaker.isolate();
    {
      using _inner = breaker.isolate();
    }
    assert.equal(breaker.state, "isolated");
    assert.equal(breaker.stats().probesInFlight, 0);
    breaker.recordSuccess(); // the probe's late result
    assert.equal(breaker.state, "isolated");
  }
  assert.equal(breaker.state, "closed");
  assert.deepEqual(transitions(), [
    "closed->open:failure_threshold",
    "open->isolated:isolate",
    "isolated->closed:release",
    "closed->open:failure_threshold",
    "open->half_open:break_elapsed",
    "half_open->isolated:isolate",
    "isolated->closed:release",
  ]);
});

Deno.test("reset ends an isolation; its old handles no longer count", () => {
  const { breaker, transitions } = setup({ kind: "consecutive", threshold: 1 });
  const old = breaker.isolate();
  breaker.reset();
  assert.equal(breaker.state, "closed");
  const fresh = breaker.isolate();
  old.release(); // stale: must not end the new isolation
  assert.equal(breaker.state, "isolated");
  fresh.release();
  assert.equal(breaker.state, "closed");
  breaker.reset(); // already closed: no event
  assert.deepEqual(transitions(), [
    "closed->isolated:isolate",
    "isolated->closed:reset",
    "closed->isolated:isolate",
    "isolated->closed:release",
  ]);
});

Deno.test("reset from open and half-open closes and clears the detector", async () => {
  const { breaker, clock, transitions } = setup({ kind: "consecutive", threshold: 2 });
  feed(breaker, "FF");
  breaker.reset();
  assert.equal(breaker.state, "closed");
  feed(breaker, "F");
  breaker.reset(); // closed: clears the run silently
  feed(breaker, "F");
  assert.equal(breaker.state, "closed");
  feed(breaker, "F");
  await clock.advance(30_000);
  assert.equal(breaker.allowCall(), true);
  breaker.reset();
  assert.equal(breaker.stats().probesInFlight, 0);
  assert.deepEqual(transitions(), [
    "closed->open:failure_threshold",
    "open->closed:reset",
    "closed->open:failure_threshold",
    "open->half_open:break_elapsed",
    "half_open->closed:reset",
  ]);
});

Deno.test("stats() values are exact", async () => {
  const { breaker, clock } = setup({
    kind: "count",
    size: 4,
    threshold: 0.5,
    slowCallMs: 100,
    slowCallRatio: 1,
  });
  assert.deepEqual(breaker.stats(), {
    state: "closed",
    consecutiveOpens: 0,
    probesInFlight: 0,
    successes: 0,
    failures: 0,
    rejections: 0,
    slowCalls: 0,
    failureRate: 0,
    slowCallRate: 0,
  });
  feed(breaker, "SWF");
  assert.deepEqual(breaker.stats(), {
    state: "closed",
    consecutiveOpens: 0,
    probesInFlight: 0,
    successes: 2,
    failures: 1,
    rejections: 0,
    slowCalls: 1,
    failureRate: 1 / 3,
    slowCallRate: 1 / 3,
  });
  feed(breaker, "F");
  assert.equal(breaker.allowCall(), false);
  assert.equal(breaker.allowCall(), false);
  await clock.advance(30_000);
  assert.equal(breaker.allowCall(), true);
  assert.deepEqual(breaker.stats(), {
    state: "half_open",
    consecutiveOpens: 1,
    probesInFlight: 1,
    successes: 2,
    failures: 2,
    rejections: 2,
    slowCalls: 1,
    failureRate: 0,
    slowCallRate: 0,
  });
  breaker.reset();
  assert.equal(breaker.stats().rejections, 2, "totals survive reset");

  const plain = new CircuitBreaker({ kind: "consecutive", threshold: 3 });
  assert.deepEqual(plain.stats(), {
    state: "closed",
    consecutiveOpens: 0,
    probesInFlight: 0,
    successes: 0,
    failures: 0,
    rejections: 0,
    slowCalls: 0,
  });
  assert.equal(plain.name, "circuit");
  assert.equal(plain.slowCallMs, undefined);
  assert.equal(breaker.slowCallMs, 100);
});

Deno.test("execute: CircuitOpenError with retryAfterMs and the breaker's name; errors rethrown unchanged", async () => {
  const { breaker, clock, rec } = setup({
    name: "payments",
    kind: "consecutive",
    threshold: 2,
    breakMs: 5_000,
  });
  const original = new TypeError("boom");
  await assert.rejects(breaker.execute(() => Promise.reject(original)), (e) => e === original);
  await assert.rejects(
    breaker.execute(() => {
      throw original;
    }),
    (e) => e === original,
  );
  assert.equal(breaker.state, "open");
  await clock.advance(1_500);
  let ran = false;
  await assert.rejects(
    breaker.execute(() => (ran = true)),
    (e: unknown) => {
      assert.ok(e instanceof CircuitOpenError);
      assert.equal(e.retryAfterMs, 3_500);
      assert.equal(e.policy, "payments");
      assert.equal(e.message, 'circuit "payments" is open; retry after 3500 ms');
      return true;
    },
  );
  assert.equal(ran, false);
  assert.equal(rec.events.at(-1)?.type, "circuit_rejected");
  assert.equal(rec.events.at(-1)?.policy, "payments");
  await clock.advance(3_500);
  assert.equal(await breaker.execute(() => Promise.resolve(42)), 42);
  assert.equal(breaker.state, "closed");
  assert.deepEqual(breaker.stats().failures, 2);

  // half-open with the slot taken
  feed(breaker, "FF");
  await clock.advance(5_000);
  assert.equal(breaker.allowCall(), true);
  await assert.rejects(
    breaker.execute(() => 1),
    (e: unknown) =>
      e instanceof CircuitOpenError && e.retryAfterMs === 5_000 &&
      e.message ===
        'circuit "payments" is half_open with every probe slot taken; retry after 5000 ms',
  );
});

Deno.test("execute: an aborted caller releases the call instead of failing it", async () => {
  const { breaker, clock } = setup({ kind: "consecutive", threshold: 1, breakMs: 10 });
  feed(breaker, "F");
  await clock.advance(10);
  const controller = new AbortController();
  const reason = new Error("caller went away");
  const p = breaker.execute(({ signal }) => {
    assert.equal(signal, controller.signal);
    return new Promise((_, reject) => signal.addEventListener("abort", () => reject(reason)));
  }, { signal: controller.signal });
  assert.equal(breaker.stats().probesInFlight, 1);
  controller.abort();
  await assert.rejects(p, (e) => e === reason);
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.stats().probesInFlight, 0);
  assert.equal(breaker.stats().failures, 1);

  // an already aborted signal: fn is not called, nothing is admitted
  let called = false;
  await assert.rejects(
    breaker.execute(() => (called = true), { signal: AbortSignal.abort(reason) }),
    (e) => e === reason,
  );
  assert.equal(called, false);
  assert.equal(breaker.stats().probesInFlight, 0);
  await assert.rejects(
    breaker.execute(null as never),
    (e: unknown) => e instanceof TypeError && e.message === "fn must be a function: received null",
  );
  await assert.rejects(
    breaker.execute(() => 1, { signal: 5 as never }),
    (e: unknown) =>
      e instanceof TypeError && e.message === "signal must be an AbortSignal: received 5",
  );
});

Deno.test("slow calls: execute measures the duration on the clock; slow probes reopen", async () => {
  const { breaker, clock, transitions } = setup({
    kind: "consecutive",
    threshold: 2,
    breakMs: 1_000,
    halfOpenMaxCalls: 2,
    slowCallMs: 100,
    slowCallRatio: 0.5,
  });
  const slowly = (ms: number) => () => clock.sleep(ms).then(() => "done");
  for (let i = 0; i < 2; i++) {
    const p = breaker.execute(slowly(150));
    await clock.advance(150);
    assert.equal(await p, "done");
  }
  assert.equal(breaker.state, "open");
  assert.equal(breaker.stats().slowCalls, 2);
  await clock.advance(1_000);
  const fast = breaker.execute(slowly(10));
  const slow = breaker.execute(slowly(101));
  await clock.advance(200);
  await Promise.all([fast, slow]);
  assert.equal(breaker.state, "open", "1 slow probe of 2 reaches 0.5");
  await clock.advance(1_000);
  const a = breaker.execute(slowly(10));
  const b = breaker.execute(slowly(100));
  await clock.advance(200);
  await Promise.all([a, b]);
  assert.equal(breaker.state, "closed");
  assert.deepEqual(transitions(), [
    "closed->open:slow_call_threshold",
    "open->half_open:break_elapsed",
    "half_open->open:slow_call_threshold",
    "open->half_open:break_elapsed",
    "half_open->closed:probe_success",
  ]);
});

Deno.test("a throwing listener never changes the outcome", async () => {
  const clock = new VirtualClock();
  const breaker = new CircuitBreaker({
    kind: "consecutive",
    threshold: 1,
    clock,
    onEvent: () => {
      throw new Error("broken listener");
    },
  });
  const seen: ResilienceEvent[] = [];
  breaker.events.add((e) => seen.push(e));
  const err = new Error("x");
  await assert.rejects(breaker.execute(() => Promise.reject(err)), (e) => e === err);
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowCall(), false);
  assert.deepEqual(seen.map((e) => e.type), ["circuit_transition", "circuit_rejected"]);
});

Deno.test("listeners see the new state, and re-entrant calls keep the probe count", async () => {
  const clock = new VirtualClock();
  const observed: string[] = [];
  let reentrant: boolean | undefined;
  const breaker: CircuitBreaker = new CircuitBreaker({
    kind: "consecutive",
    threshold: 1,
    breakMs: 10,
    clock,
    onEvent: (e) => {
      if (e.type !== "circuit_transition") return;
      observed.push(`${e.to}=${breaker.state}`);
      if (e.to === "half_open") reentrant = breaker.allowCall();
    },
  });
  breaker.recordFailure();
  await clock.advance(10);
  assert.equal(breaker.allowCall(), true);
  assert.equal(reentrant, false, "the only probe slot is already taken");
  assert.equal(breaker.stats().probesInFlight, 1);
  breaker.recordSuccess();
  assert.deepEqual(observed, ["open=open", "half_open=half_open", "closed=closed"]);
});

Deno.test("execute: fn gets { signal }, a signal that never aborts when the caller gives none", async () => {
  const { breaker } = setup({ kind: "consecutive", threshold: 3 });
  const context = await breaker.execute((context) => context);
  assert.ok(context.signal instanceof AbortSignal);
  assert.equal(context.signal.aborted, false);
  assert.equal(context.signal, context.signal, "made once per call");
  assert.notEqual((await breaker.execute((c) => c)).signal, context.signal);
  const controller = new AbortController();
  assert.equal(
    await breaker.execute(({ signal }) => signal, { signal: controller.signal }),
    controller.signal,
  );
  assert.equal(breaker.stats().successes, 3);
});

/** A VirtualClock whose now() throws once `broken` is set. */
class BreakingClock extends VirtualClock {
  broken = false;
  override now(): number {
    if (this.broken) throw new Error("clock broke");
    return super.now();
  }
}

Deno.test("execute() rejects, never throws, when the clock throws in the open state", async () => {
  const clock = new BreakingClock();
  const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 1, breakMs: 1_000, clock });
  breaker.recordFailure();
  assert.equal(breaker.state, "open");
  clock.broken = true;
  let pending: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    pending = breaker.execute(() => "never runs");
  }, "old (async execute): a rejected promise; new: a synchronous throw");
  await assert.rejects(pending!, /clock broke/);
});

Deno.test("execute() rejects, never throws, when a throwing clock is read for a rejection event", async () => {
  const clock = new BreakingClock();
  const breaker = new CircuitBreaker({
    kind: "consecutive",
    threshold: 1,
    breakMs: 1_000,
    clock,
    onEvent: () => {},
  });
  const hold = breaker.isolate();
  clock.broken = true; // isolated: #reject reads the clock for the event's timestamp
  let pending: Promise<unknown> | undefined;
  try {
    assert.doesNotThrow(() => {
      pending = breaker.execute(() => "never runs");
    });
  } finally {
    clock.broken = false;
    hold.release();
  }
  await assert.rejects(pending!, /clock broke/);
});

Deno.test("consecutive: a success after failures still ends the run, however many successes came before", () => {
  // A closed breaker skips telling its detector of a success that follows a
  // success; a failure (or a transition) must end that.
  const { breaker, transitions } = setup({ kind: "consecutive", threshold: 3 });
  feed(breaker, "SSSFFSFFSFF");
  assert.deepEqual(transitions(), []);
  assert.equal(breaker.toJSON().detector?.kind, "consecutive");
  assert.deepEqual(breaker.toJSON().detector, { kind: "consecutive", consecutiveFailures: 2 });
  feed(breaker, "F");
  assert.deepEqual(transitions(), ["closed->open:failure_threshold"]);
});

Deno.test("consecutive: after the circuit closes again, a success still ends a new run", async () => {
  const { breaker, transitions, clock } = setup({
    kind: "consecutive",
    threshold: 2,
    breakMs: 100,
  });
  feed(breaker, "SSFF");
  await clock.advance(100);
  feed(breaker, "S"); // the probe closes the circuit
  feed(breaker, "SFSF");
  assert.deepEqual(transitions(), [
    "closed->open:failure_threshold",
    "open->half_open:break_elapsed",
    "half_open->closed:probe_success",
  ]);
});

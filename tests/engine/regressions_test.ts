// Regression tests for findings of reviews of the fast path and of the
// engine's split into phases: each failed before its fix and is named after the behaviour it pins down.
import assert from "node:assert/strict";
import {
  type AttemptContext,
  type Classifier,
  constant,
  defaultClassifier,
  policy,
  type PolicyOptions,
  TransientError,
} from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { settleLater } from "../_helpers.ts";
import { otelHarness, points } from "../_otel.ts";
import { finish, manual, viaLoop } from "../_wheel.ts";
import { Engine, type ExecuteOptions } from "../../src/engine/engine.ts";
import { RetryBudget } from "../../src/budget/retry_budget.ts";
import type { ErrorClass } from "../../src/core/error_class.ts";
import { DeadlineExceededError, RetryExhaustedError } from "../../src/core/errors.ts";
import type { ResilienceEvent } from "../../src/core/events.ts";

Deno.test("a failing value the first attempt returned is classified once, as on the general loop", async () => {
  const run = async (general: boolean) => {
    let calls = 0;
    const classify: Classifier = (x) => (calls++, defaultClassifier(x));
    const p = policy("once", {
      telemetry: false,
      classify,
      retry: { maxAttempts: 2, backoff: constant(0) },
    });
    let n = 0;
    const fn = () => Promise.resolve(++n === 1 ? { status: 500 } : "ok");
    const value = general ? await p.execute(fn, viaLoop()) : await p.execute(fn);
    return { value, calls };
  };
  assert.deepEqual(await run(false), { value: "ok", calls: 2 });
  assert.deepEqual(await run(true), { value: "ok", calls: 2 });
});

Deno.test("the operation's context has the same shape on every path and no engine state", async () => {
  const m = manual();
  try {
    const shapes: string[] = [];
    const look = (ctx: AttemptContext) => {
      const own = Object.keys(ctx).join(",");
      shapes.push(`${own}|${ctx.attempt}|${typeof ctx.deadline}|${ctx.signal.aborted}`);
      return "ok";
    };
    for (
      const options of [
        {},
        { deadlineMs: 1_000 },
        { attemptTimeoutMs: 500 },
      ] as PolicyOptions[]
    ) {
      const p = policy("shape", { clock: m.clock, telemetry: false, ...options });
      await p.execute(look); // the fast path
      await p.execute(look, viaLoop()); // the general loop
    }
    assert.deepEqual(new Set(shapes), new Set(["attempt|1|number|false"]));
    // Nothing of the engine is reachable through the context.
    const p = policy("sealed", { clock: m.clock, telemetry: false, deadlineMs: 1_000 });
    let seen: Record<string, unknown> = {};
    await p.execute((ctx) => {
      seen = ctx as unknown as Record<string, unknown>;
      return "ok";
    });
    for (
      const name of ["resolve", "reject", "settled", "callback", "operation", "shared", "slot"]
    ) {
      assert.equal(seen[name], undefined, name);
    }
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("a clock that throws rejects the call (never a synchronous throw) and frees the permit and the probe", async () => {
  const virtual = new VirtualClock(0);
  let fail = false;
  const clock = {
    now: () => {
      if (fail) throw new Error("clock broken");
      return virtual.now();
    },
    sleep: (ms: number, signal?: AbortSignal) => virtual.sleep(ms, signal),
    setTimer: (cb: () => void, ms: number) => virtual.setTimer(cb, ms),
    clearTimer: (id: number | object) => virtual.clearTimer(id),
  };
  const p = policy("broken-clock", {
    clock,
    telemetry: false,
    deadlineMs: 100,
    bulkhead: { maxConcurrent: 1 },
    circuit: { kind: "consecutive", threshold: 1, breakMs: 50, halfOpenMaxCalls: 1 },
  });
  // Trip the breaker and let the break pass, so the next call is the half-open probe.
  await p.execute(() => Promise.reject(new TransientError("down"))).catch(() => {});
  assert.equal(p.circuit!.state, "open");
  await virtual.advance(50);
  fail = true;
  let promise: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    promise = p.execute(() => "never runs");
  });
  await assert.rejects(promise!, /clock broken/);
  assert.equal(p.bulkhead!.inFlight, 0, "the permit is back");
  fail = false;
  assert.equal(await p.execute(() => "probe"), "probe", "the half-open probe was not kept");
  assert.equal(p.circuit!.state, "closed");
});

Deno.test("a meter with a broken tracer keeps the bulkhead's in-flight counter balanced", async () => {
  const otel = otelHarness();
  try {
    const broken = {
      getTracer: () => ({
        startSpan() {
          throw new Error("broken");
        },
      }),
    };
    const p = policy("half-broken", {
      retry: { maxAttempts: 1 },
      clock: new VirtualClock(0),
      telemetry: {
        meterProvider: otel.meterProvider,
        tracerProvider: broken as never,
        spans: "full",
      },
      bulkhead: { maxConcurrent: 2 },
    });
    await p.execute(() => Promise.reject(new TransientError("x"))).catch(() => {});
    assert.equal(await p.execute(() => "ok"), "ok");
    const inFlight = points(await otel.metrics(), "bulwark.bulkhead.in_flight").map((x) => x.value);
    assert.deepEqual(inFlight, [0]);
  } finally {
    await otel.shutdown();
  }
});

Deno.test("after an attempt timeout the next attempt starts after the wheel's tick, not inside it", async () => {
  const m = manual();
  try {
    const order: string[] = [];
    const p = policy("after-tick", {
      clock: m.clock,
      telemetry: false,
      attemptTimeoutMs: 20,
      deadlineMs: 1_000,
      retry: { maxAttempts: 2, backoff: constant(0) },
    });
    const call = settleLater(p.execute(({ attempt }) => {
      order.push(`attempt ${attempt}`);
      return attempt === 1 ? new Promise<string>(() => {}) : "ok";
    }));
    await m.at(1_010); // the attempt's entry takes its slot (due 1020)
    // An entry due on the same tick, behind it in the slot.
    m.clock.setTimer(() => order.push("sibling timer"), 10);
    await m.at(1_020);
    assert.deepEqual(order, ["attempt 1", "sibling timer", "attempt 2"]);
    assert.deepEqual(await call, { ok: true, value: "ok" });
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("a promise whose then() throws is a failed attempt, not a synchronous throw", async () => {
  class Hostile<T> extends Promise<T> {
    override then(): never {
      throw new TransientError("then() is broken");
    }
  }
  for (const options of [{}, { deadlineMs: 1_000 }] as PolicyOptions[]) {
    const clock = new VirtualClock(0);
    const p = policy("hostile", {
      clock,
      telemetry: false,
      retry: { maxAttempts: 2, backoff: constant(0) },
      bulkhead: { maxConcurrent: 1 },
      ...options,
    });
    let n = 0;
    let promise: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      promise = p.execute(() => (++n === 1 ? new Hostile<string>(() => {}) : "second"));
    });
    assert.equal(await promise, "second", JSON.stringify(options));
    assert.equal(p.bulkhead!.inFlight, 0);
  }
});

// Findings of the review of the engine's split into phases, each a regression test.

// Finding: the loop now reads the failure's Retry-After (retryAfterMs) before
// decide() runs its give-up checks. Before the refactor it was read only when
// the call was going to retry. Reading it runs property getters on the
// failure (`retryAfterMs`, `headers`, `response`), so on a give-up or a
// permanent failure a throwing getter now replaces the call's real outcome,
// and a counting getter sees an extra read.

const engine = (name: string, cls: ErrorClass, maxAttempts: number) =>
  new Engine(name, { clock: new VirtualClock(), classify: () => cls }, {
    maxAttempts,
    backoff: constant(0),
  });

class LazyError extends Error {
  reads = 0;
  constructor(message: string, readonly boom: boolean) {
    super(message);
  }
  // e.g. an SDK error that builds its response lazily and throws when the body is gone
  get response(): unknown {
    this.reads++;
    if (this.boom) throw new Error("response already consumed");
    return undefined;
  }
}

Deno.test("give-up (max_attempts) does not read Retry-After: a throwing getter does not replace RetryExhaustedError", async () => {
  const p = engine("ra", "transient", 1);
  const err = new LazyError("503", true);
  const outcome = await p.run(() => {
    throw err;
  }).then(() => "resolved", (e) => e);
  assert.ok(outcome instanceof RetryExhaustedError, `got ${outcome}`);
  assert.equal(outcome.cause, err);
});

Deno.test("a permanent failure ends the call with itself, without reading Retry-After", async () => {
  const p = engine("ra-perm", "permanent", 3);
  const err = new LazyError("400", true);
  const outcome = await p.run(() => {
    throw err;
  }).then(() => "resolved", (e) => e);
  assert.equal(outcome, err);
});

Deno.test("Retry-After is read only when the call retries (no read on the final attempt)", async () => {
  const p = engine("ra-count", "transient", 2);
  const err = new LazyError("503", false);
  await assert.rejects(
    p.run(() => {
      throw err;
    }),
    RetryExhaustedError,
  );
  // One retry: one read (attempt 1). The give-up after attempt 2 reads nothing.
  assert.equal(err.reads, 1);
});

// Finding: decide() compares `delayMs >= deadline - now`; the old loop compared
// `now + delayMs >= deadline`, which is exactly the test its own gate makes
// after the sleep (the next attempt starts at clock time now + delayMs and is
// refused when `startedAt >= deadline`). In floating point the two disagree:
// here 0.2 + 15.9 === 16.1 (the wait reaches the deadline) but
// 16.1 - 0.2 === 15.900000000000002 > 15.9, so the new loop retries into a
// wait that ends exactly at the deadline: it emits `retry`, takes a token
// from the retry budget, sleeps, and only then gives up at the gate (a
// `deadline_exceeded` without `delayMs`).

Deno.test("a wait that reaches the deadline ends the call at once (no retry, no retry-budget token)", async () => {
  assert.equal(0.2 + 15.9, 16.1); // the wait ends exactly at the deadline
  const clock = new VirtualClock();
  const events: ResilienceEvent[] = [];
  const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, windowMs: 10_000, clock });
  const p = new Engine(
    "fp",
    { clock, deadlineMs: 16.1, classify: () => "transient", onEvent: (e) => events.push(e) },
    { maxAttempts: 3, backoff: constant(15.9) },
    "retry",
    { retryBudget: budget },
  );
  const call = p.run(async () => {
    await clock.sleep(0.2);
    throw new Error("503");
  }).then(() => "resolved", (e) => e);
  await clock.runAll();
  const outcome = await call;
  assert.ok(outcome instanceof DeadlineExceededError);
  assert.deepEqual(
    {
      events: events.map((e) => [e.type, e.timestamp, (e as { delayMs?: number }).delayMs]),
      endedAt: clock.now(),
      retriesTaken: budget.stats().retries,
    },
    {
      events: [["deadline_exceeded", 0.2, 15.9]],
      endedAt: 0.2, // no sleep up to the deadline
      retriesTaken: 0, // no retry taken from the shared budget
    },
  );
});

// Finding: execute(fn, opts) without signal/deadline now takes the fast path,
// which keeps a reference to the caller's `opts` and reads `maxAttempts`
// (and `signal`, `deadline`) only when the first attempt has failed and the
// loop takes over, long after run() validated them. Before, the loop read
// them once, synchronously, at the start of the call. A caller that reuses
// one options object (or changes it for its next call) changes a call that
// is already running, and the later values are never validated.

function flaky() {
  const clock = new VirtualClock();
  const p = new Engine("snap", { clock, classify: () => "transient" }, {
    maxAttempts: 3,
    backoff: constant(1),
  });
  let attempts = 0;
  const fn = async () => {
    attempts++;
    await clock.sleep(1);
    throw new Error("503");
  };
  return { clock, p, fn, attempts: () => attempts };
}

Deno.test("a call's maxAttempts is the value at execute() time (a non-idempotent call stays at 1 attempt)", async () => {
  const { clock, p, fn, attempts } = flaky();
  const opts: ExecuteOptions = { maxAttempts: 1 }; // e.g. a POST: never retried
  const call = p.run(fn, opts).catch((e) => e);
  opts.maxAttempts = 3; // the caller prepares its next, idempotent call
  await clock.runAll();
  await call;
  assert.equal(attempts(), 1);
});

Deno.test("options changed after execute() are not applied unvalidated", async () => {
  const { clock, p, fn, attempts } = flaky();
  const opts: ExecuteOptions = { maxAttempts: 2 };
  const call = p.run(fn, opts).catch((e) => e);
  (opts as Record<string, unknown>).maxAttempts = "lots"; // would be a TypeError at execute()
  await clock.runAll();
  await call;
  // The call's cap was 2; with the late value Math.min(3, "lots") is NaN and
  // `attempt >= NaN` never holds, so the policy's own cap of 3 is gone too.
  assert.equal(attempts(), 2);
});

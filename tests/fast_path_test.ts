import assert from "node:assert/strict";
import { type StampedEntry, TimerWheel } from "../src/core/timer_wheel.ts";
import { wheelClock } from "../src/core/clock.ts";
import {
  type AttemptContext,
  AttemptTimeoutError,
  BulkheadRejectedError,
  CircuitOpenError,
  type Classifier,
  constant,
  DeadlineExceededError,
  defaultClassifier,
  PermanentError,
  policy,
  type PolicyOptions,
  type ResilienceEvent,
  RetryExhaustedError,
  TransientError,
} from "../mod.ts";
import { VirtualClock } from "../testing.ts";
import { recorder, settleLater } from "./_helpers.ts";
import { otelHarness, points } from "./_otel.ts";

/**
 * Lets pending promise callbacks run. Microtasks only: no runtime timer (so
 * no real tick of a wheel's interval) can run in between.
 */
async function flush(): Promise<void> {
  for (let i = 0; i < 100; i++) await Promise.resolve();
}

/** Lets one macrotask pass (a wheel's idle check runs). */
function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A wheel and a wheel clock on one hand-moved time (clock time = wheel time +
 * `origin`, as the system clock is built), counting how often each reads it.
 * `at(t)` stands in for the wheel's interval: it moves time, runs the wheel
 * and lets promise callbacks run.
 */
function manual(tickMs = 10, origin = 0) {
  let now = 1_000;
  const reads = { wheel: 0, clock: 0 };
  const wheel = new TimerWheel({
    tickMs,
    now: () => {
      reads.wheel++;
      return now;
    },
  });
  const clock = wheelClock(wheel, () => {
    reads.clock++;
    return now + origin;
  }, origin);
  return {
    wheel,
    clock,
    reads,
    /** The current wheel time (not counted as a read). */
    now: () => now,
    /** Moves time without a tick (the interval has not fired yet). */
    set: (t: number) => {
      now = t;
    },
    /** A tick at `t`. */
    at: async (t: number) => {
      now = t;
      wheel.runDue();
      await flush();
    },
    resetReads: () => {
      reads.wheel = 0;
      reads.clock = 0;
    },
  };
}

/** Ends a test: the wheel forgets what is left and its idle check runs, so no timer leaks. */
async function finish(wheel: TimerWheel): Promise<void> {
  wheel.stop();
  await macrotask();
}

/** A caller-allocated entry for `scheduleFromNow`, logging the wheel time it fires at. */
function stamped(name: string, fired: Array<[string, number]>, now: () => number): StampedEntry {
  return {
    callback() {
      fired.push([name, now()]);
    },
    done: false,
    slot: 0,
    tick: 0,
    generation: 0,
    start: NaN,
    delayMs: 0,
  };
}

interface Tracked<T> {
  settled: boolean;
  ok: boolean;
  value: T | undefined;
  error: unknown;
}

/** Follows a promise so a test can check synchronously whether (and how) it settled. */
function track<T>(promise: Promise<T>): Tracked<T> {
  const state: Tracked<T> = { settled: false, ok: false, value: undefined, error: undefined };
  promise.then(
    (value) => {
      state.settled = true;
      state.ok = true;
      state.value = value;
    },
    (error) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

/** What an attempt of {@link scripted} does. */
type Step =
  | "ok" // resolves with `ok <attempt>`
  | "value" // returns `value <attempt>` (not a promise)
  | "hang" // never settles
  | "transient" // rejects with a TransientError
  | "throw" // throws a TransientError synchronously
  | "permanent" // rejects with a PermanentError
  | "throw-permanent" // throws a PermanentError synchronously
  | "unknown" // rejects with a plain Error
  | "500"; // resolves with a failing value ({ status: 500 })

/** An operation that follows `steps`, one per attempt (then "ok"), recording each attempt. */
function scripted(time: () => number, steps: readonly Step[]) {
  const attempts: Array<{ attempt: number; at: number; signal: AbortSignal }> = [];
  const fn = (ctx: AttemptContext): unknown => {
    attempts.push({ attempt: ctx.attempt, at: time(), signal: ctx.signal });
    const n = ctx.attempt;
    switch (steps[attempts.length - 1] ?? "ok") {
      case "ok":
        return Promise.resolve(`ok ${n}`);
      case "value":
        return `value ${n}`;
      case "hang":
        return new Promise<never>(() => {});
      case "transient":
        return Promise.reject(new TransientError(`transient ${n}`));
      case "throw":
        throw new TransientError(`thrown ${n}`);
      case "permanent":
        return Promise.reject(new PermanentError(`permanent ${n}`));
      case "throw-permanent":
        throw new PermanentError(`thrown permanent ${n}`);
      case "unknown":
        return Promise.reject(new Error(`unknown ${n}`));
      case "500":
        return Promise.resolve({ status: 500 });
    }
  };
  return { fn, attempts };
}

/** An event in one line: type@timestamp #attempt, then class, delay or timeout. */
function line(event: ResilienceEvent): string {
  const e = event as unknown as Record<string, unknown>;
  let s = `${e.type}@${e.timestamp}`;
  if (e.attempt !== undefined) s += ` #${e.attempt}`;
  if (e.errorClass !== undefined) s += ` ${e.errorClass}`;
  if (e.delayMs !== undefined) s += ` +${e.delayMs}`;
  if (e.timeoutMs !== undefined) s += ` timeout ${e.timeoutMs}`;
  if (e.state !== undefined) s += ` ${e.state}`;
  if (e.from !== undefined) s += ` ${e.from}->${e.to}`;
  return s;
}

/** A call's outcome in one line. */
function outcome(ok: boolean, value: unknown, error: unknown): string {
  if (ok) return `value ${JSON.stringify(value)}`;
  const e = error as Error;
  const deadline = e instanceof DeadlineExceededError ? ` (deadline ${e.deadline})` : "";
  return `${e.name}: ${e.message}${deadline}`;
}

// ---------------------------------------------------------------------------
// TimerWheel.scheduleFromNow / stamp / coarseNow
// ---------------------------------------------------------------------------

Deno.test("scheduleFromNow on an idle wheel reads the clock once, stamps with it and arms", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    const e = stamped("e", fired, m.now);
    m.wheel.scheduleFromNow(e, 25);
    assert.equal(m.reads.wheel, 1);
    assert.equal(e.start, 1_000);
    assert.equal(e.delayMs, 25);
    assert.equal(e.done, false);
    assert.equal(m.wheel.running, true);
    assert.equal(m.wheel.armCount, 1);
    assert.equal(m.wheel.pending, 1);
    assert.equal(m.wheel.stamp(e), 1_000, "already stamped");
    assert.equal(m.reads.wheel, 1, "stamp() of a stamped entry reads nothing");
    await m.at(1_020);
    await m.at(1_029);
    assert.deepEqual(fired, [], "due at 1025: not before the tick at 1030");
    await m.at(1_030);
    assert.deepEqual(fired, [["e", 1_030]]);
    assert.equal(e.done, true);
    assert.equal(m.wheel.pending, 0);
    assert.equal(m.wheel.running, false, "stops once nothing is pending");
    assert.equal(m.reads.wheel, 4, "one read to arm, one per tick");
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("scheduleFromNow on a running wheel reads no clock; the next tick stamps the start", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => fired.push(["keeper", m.now()]), 100_000);
    m.set(1_003);
    m.resetReads();
    const e = stamped("e", fired, m.now);
    m.wheel.scheduleFromNow(e, 50);
    assert.deepEqual(m.reads, { wheel: 0, clock: 0 });
    assert.ok(Number.isNaN(e.start), "not stamped yet");
    assert.equal(m.wheel.pending, 2);
    assert.equal(m.wheel.coarseNow(), 1_000, "the reading taken when the wheel armed");
    assert.equal(m.reads.wheel, 0);
    await m.at(1_010);
    assert.equal(e.start, 1_010, "stamped with the tick's time");
    assert.equal(m.wheel.coarseNow(), 1_010);
    assert.equal(m.reads.wheel, 1);
    for (let t = 1_011; t < 1_060; t++) await m.at(t);
    assert.deepEqual(fired, [], "never before start + delay (1060), let alone 1003 + 50");
    await m.at(1_060);
    assert.deepEqual(fired, [["e", 1_060]]);
    assert.equal(m.wheel.pending, 1);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("stamp() fixes the start before the tick (one clock read) and the tick keeps it", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => {}, 100_000);
    m.set(1_003);
    m.resetReads();
    const a = stamped("a", fired, m.now);
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(a, 55);
    m.wheel.scheduleFromNow(b, 55);
    assert.equal(m.wheel.stamp(a), 1_003);
    assert.equal(m.reads.wheel, 1);
    m.set(1_007);
    assert.equal(m.wheel.stamp(a), 1_003, "a second stamp() keeps the first");
    assert.equal(m.reads.wheel, 1);
    await m.at(1_010);
    assert.equal(a.start, 1_003);
    assert.equal(b.start, 1_010);
    await m.at(1_050);
    assert.deepEqual(fired, []);
    await m.at(1_060); // a is due at 1058, b at 1065
    assert.deepEqual(fired, [["a", 1_060]]);
    await m.at(1_069);
    assert.deepEqual(fired, [["a", 1_060]]);
    await m.at(1_070);
    assert.deepEqual(fired, [["a", 1_060], ["b", 1_070]]);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("scheduleFromNow: a late tick stamps with its own time, so the entry never fires early", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => {}, 100_000);
    m.set(1_003);
    const e = stamped("e", fired, m.now);
    m.wheel.scheduleFromNow(e, 20);
    await m.at(1_047); // the event loop was blocked: the first tick comes late
    assert.equal(e.start, 1_047);
    assert.deepEqual(fired, []);
    await m.at(1_060);
    assert.deepEqual(fired, []);
    await m.at(1_070);
    assert.deepEqual(fired, [["e", 1_070]]);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("scheduleFromNow from inside a wheel callback is stamped by the following tick", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    const e = stamped("e", fired, m.now);
    m.wheel.schedule(() => m.wheel.scheduleFromNow(e, 10), 10);
    await m.at(1_010);
    assert.ok(Number.isNaN(e.start), "the tick stamped its fresh entries before the callbacks");
    assert.equal(m.wheel.pending, 1);
    await m.at(1_020);
    assert.equal(e.start, 1_020);
    assert.deepEqual(fired, []);
    await m.at(1_030);
    assert.deepEqual(fired, [["e", 1_030]]);
    assert.equal(m.wheel.running, false);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("cancel() drops a fresh entry: it is never stamped or fired, the others are", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    const keeper = m.wheel.schedule(() => {}, 100_000);
    m.set(1_003);
    const a = stamped("a", fired, m.now);
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(a, 10);
    m.wheel.scheduleFromNow(b, 10);
    m.wheel.cancel(a);
    assert.equal(a.done, true);
    assert.equal(m.wheel.pending, 2);
    m.wheel.cancel(a); // twice is harmless
    assert.equal(m.wheel.pending, 2);
    await m.at(1_010);
    assert.ok(Number.isNaN(a.start), "a cancelled entry is not stamped");
    assert.equal(b.start, 1_010);
    await m.at(1_020);
    assert.deepEqual(fired, [["b", 1_020]]);

    // Cancelling every fresh entry empties the list; entries scheduled next still fire.
    const c = stamped("c", fired, m.now);
    const d = stamped("d", fired, m.now);
    m.wheel.scheduleFromNow(c, 10);
    m.wheel.cancel(c);
    m.wheel.scheduleFromNow(d, 10);
    assert.equal(m.wheel.pending, 2);
    await m.at(1_030);
    await m.at(1_040);
    assert.deepEqual(fired, [["b", 1_020], ["d", 1_040]]);
    assert.ok(Number.isNaN(c.start));

    // A fresh entry cancelled last leaves the wheel idle once the macrotask ends.
    const f = stamped("f", fired, m.now);
    m.wheel.scheduleFromNow(f, 10);
    m.wheel.cancel(keeper);
    m.wheel.cancel(f);
    assert.equal(m.wheel.pending, 0);
    assert.equal(m.wheel.running, true, "the idle check waits for the macrotask to end");
    await macrotask();
    assert.equal(m.wheel.running, false);
    assert.equal(fired.length, 2);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("a cancelled fresh entry scheduled again fires once", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => {}, 100_000);
    const a = stamped("a", fired, m.now);
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(a, 10);
    m.wheel.scheduleFromNow(b, 10);
    m.wheel.cancel(a);
    m.wheel.scheduleFromNow(a, 10);
    assert.equal(m.wheel.pending, 3);
    await m.at(1_010);
    await m.at(1_020);
    assert.deepEqual(fired, [["a", 1_020], ["b", 1_020]]);
    assert.equal(m.wheel.pending, 1, "only the keeper is left");
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("stop() forgets fresh entries: they never fire and cancelling them later is harmless", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => fired.push(["keeper", m.now()]), 30);
    const a = stamped("a", fired, m.now);
    m.wheel.scheduleFromNow(a, 10);
    m.wheel.stop();
    assert.equal(m.wheel.pending, 0);
    assert.equal(m.wheel.running, false);
    m.wheel.cancel(a);
    assert.equal(m.wheel.pending, 0);
    m.set(1_005);
    m.resetReads();
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(b, 10); // the wheel is idle again: it reads and stamps
    assert.equal(m.reads.wheel, 1);
    assert.equal(b.start, 1_005);
    assert.equal(m.wheel.pending, 1);
    await m.at(1_010);
    await m.at(1_020);
    await m.at(1_030);
    assert.deepEqual(fired, [["b", 1_020]]);
    assert.equal(m.wheel.running, false);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("coarseNow() returns the latest reading while running and reads the clock when idle", async () => {
  const m = manual(10);
  try {
    assert.equal(m.wheel.coarseNow(), 1_000);
    m.set(1_005);
    assert.equal(m.wheel.coarseNow(), 1_005);
    assert.equal(m.reads.wheel, 2);
    m.wheel.schedule(() => {}, 100); // arms with a reading of 1005
    m.set(1_008);
    m.resetReads();
    assert.equal(m.wheel.coarseNow(), 1_005);
    assert.equal(m.reads.wheel, 0);
    await m.at(1_012);
    m.set(1_019);
    assert.equal(m.wheel.coarseNow(), 1_012);
    assert.equal(m.reads.wheel, 1, "only the tick read the clock");
    m.wheel.stop();
    assert.equal(m.wheel.coarseNow(), 1_019);
    assert.equal(m.reads.wheel, 2);
  } finally {
    await finish(m.wheel);
  }
});

// ---------------------------------------------------------------------------
// The policy's fast path on a wheel clock
// ---------------------------------------------------------------------------

Deno.test("fast path: a successful call reads no clock once the wheel runs and leaves nothing pending", async () => {
  const cases: Array<{ name: string; options: PolicyOptions; armed: boolean }> = [
    {
      name: "deadline and timeout",
      options: { deadlineMs: 1_000, attemptTimeoutMs: 200 },
      armed: true,
    },
    {
      name: "with a breaker and a bulkhead",
      options: {
        deadlineMs: 1_000,
        attemptTimeoutMs: 200,
        circuit: { kind: "consecutive", threshold: 3 },
        bulkhead: { maxConcurrent: 2 },
      },
      armed: true,
    },
    { name: "no deadline", options: { retry: { maxAttempts: 3 } }, armed: false },
    {
      name: "no deadline, with a breaker",
      options: { circuit: { kind: "consecutive", threshold: 3 } },
      armed: false,
    },
  ];
  for (const c of cases) {
    const m = manual();
    try {
      const p = policy("fast", { clock: m.clock, telemetry: false, ...c.options });
      m.resetReads();
      const first = p.execute(() => Promise.resolve("a"));
      assert.deepEqual(
        m.reads,
        { wheel: c.armed ? 1 : 0, clock: 0 },
        `${c.name}: arming reads once`,
      );
      assert.equal(m.wheel.running, c.armed, c.name);
      assert.equal(await first, "a");
      m.resetReads();
      const second = p.execute((ctx) => Promise.resolve(ctx.attempt));
      const third = p.execute(() => "plain");
      assert.equal(await second, 1);
      assert.equal(await third, "plain");
      assert.deepEqual(m.reads, { wheel: 0, clock: 0 }, `${c.name}: no clock read`);
      assert.equal(m.wheel.pending, 0, c.name);
      assert.equal(m.wheel.armCount, c.armed ? 1 : 0, c.name);
      if (p.bulkhead !== undefined) assert.equal(p.bulkhead.inFlight, 0);
      if (p.circuit !== undefined) assert.equal(p.circuit.stats().successes, 3);
      await macrotask();
      assert.equal(m.wheel.running, false, c.name);
    } finally {
      await finish(m.wheel);
    }
  }
});

Deno.test("fast path: a hung operation fails with DeadlineExceededError on the first tick at or after start + deadlineMs", async () => {
  const m = manual();
  try {
    const rec = recorder();
    const p = policy("hung", {
      clock: m.clock,
      telemetry: false,
      deadlineMs: 50,
      onEvent: rec.onEvent,
      circuit: { kind: "consecutive", threshold: 2, breakMs: 1_000 },
    });
    let signalA: AbortSignal | undefined;
    let ctxB: AttemptContext | undefined;
    // A arms the idle wheel (its start is read then: 1000) and reads its signal at once.
    const a = track(p.execute((ctx) => {
      signalA = ctx.signal;
      return new Promise<never>(() => {});
    }));
    // B starts on the running wheel: its start is stamped by the next tick (1001).
    const b = track(p.execute((ctx) => {
      ctxB = ctx;
      return new Promise<never>(() => {});
    }));
    assert.equal(m.wheel.pending, 2);
    for (let t = 1_001; t < 1_050; t++) await m.at(t);
    assert.equal(a.settled, false);
    assert.equal(b.settled, false);
    assert.equal(signalA!.aborted, false);
    assert.equal(p.circuit!.stats().failures, 0);
    await m.at(1_050);
    assert.equal(a.settled, true);
    assert.equal(b.settled, false, "B is due at 1051: the tick at 1060");
    for (let t = 1_051; t < 1_060; t++) await m.at(t);
    assert.equal(b.settled, false);
    await m.at(1_060);
    for (const [call, deadline] of [[a, 1_050], [b, 1_051]] as const) {
      assert.equal(call.settled, true);
      const error = call.error;
      assert.ok(error instanceof DeadlineExceededError);
      assert.equal(error.message, 'policy "hung" deadline exceeded after 1 attempt');
      assert.equal(error.attempts, 1);
      assert.equal(error.deadline, deadline);
      assert.equal(error.policy, "hung");
      assert.equal(error.cause, undefined);
    }
    assert.equal(signalA!.aborted, true);
    assert.equal(signalA!.reason, a.error);
    assert.equal(ctxB!.signal.aborted, true, "a signal read after the abort is aborted");
    assert.equal(ctxB!.signal.reason, b.error);
    assert.deepEqual(rec.events.map(line), [
      "deadline_exceeded@1050 #1",
      "circuit_transition@1060 closed->open",
      "deadline_exceeded@1060 #1",
    ]);
    assert.deepEqual(rec.events[0], {
      type: "deadline_exceeded",
      policy: "hung",
      timestamp: 1_050,
      attempt: 1,
    });
    assert.equal(p.circuit!.stats().failures, 2, "each timeout counts as a failure");
    assert.equal(p.circuit!.state, "open");
    assert.equal(m.wheel.pending, 0);
    assert.equal(m.wheel.running, false);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("fast path: the deadline counts from the wheel's stamp, or from when ctx.deadline is read", async () => {
  // The wheel runs (another timer) with its last tick at 1000; the call starts at 1003.
  const cases = [
    { read: false, origin: 0, firstTick: 1_010, deadline: 1_060, firesAt: 1_060 },
    { read: true, origin: 0, firstTick: 1_010, deadline: 1_053, firesAt: 1_060 },
    { read: false, origin: 0, firstTick: 1_012, deadline: 1_062, firesAt: 1_070 },
    { read: true, origin: 0, firstTick: 1_012, deadline: 1_053, firesAt: 1_060 },
    { read: false, origin: 500_000, firstTick: 1_012, deadline: 501_062, firesAt: 1_070 },
    { read: true, origin: 500_000, firstTick: 1_012, deadline: 501_053, firesAt: 1_060 },
  ];
  for (const c of cases) {
    const name = JSON.stringify(c);
    const m = manual(10, c.origin);
    try {
      const rec = recorder();
      const p = policy("lazy", {
        clock: m.clock,
        telemetry: false,
        deadlineMs: 50,
        onEvent: rec.onEvent,
      });
      m.wheel.schedule(() => {}, 100_000);
      m.set(1_003);
      m.resetReads();
      let seen: number | undefined;
      const call = track(p.execute((ctx) => {
        if (c.read) seen = ctx.deadline;
        return new Promise<never>(() => {});
      }));
      assert.deepEqual(m.reads, { wheel: c.read ? 1 : 0, clock: 0 }, name);
      if (c.read) assert.equal(seen, 1_053 + c.origin, name);
      await m.at(c.firstTick);
      for (let t = c.firstTick + 1; t < c.firesAt; t++) {
        await m.at(t);
        assert.equal(call.settled, false, `${name} at ${t}`);
      }
      await m.at(c.firesAt);
      assert.equal(call.settled, true, name);
      assert.ok(call.error instanceof DeadlineExceededError, name);
      assert.equal(call.error.deadline, c.deadline, name);
      assert.deepEqual(rec.types(), ["deadline_exceeded"], name);
      assert.equal(rec.events[0].timestamp, c.firesAt + c.origin, name);
    } finally {
      await finish(m.wheel);
    }
  }
});

Deno.test("fast path: attempt 1 hangs past attemptTimeoutMs, attempt 2 succeeds", async () => {
  const m = manual();
  try {
    const rec = recorder();
    const p = policy("timeout", {
      clock: m.clock,
      telemetry: false,
      deadlineMs: 1_000,
      attemptTimeoutMs: 20,
      onEvent: rec.onEvent,
      retry: { maxAttempts: 3, backoff: constant(10) },
    });
    const op = scripted(m.now, ["hang", "ok"]);
    const call = track(p.execute(op.fn));
    await m.at(1_010);
    await m.at(1_019);
    assert.equal(call.settled, false);
    assert.equal(op.attempts[0].signal.aborted, false);
    await m.at(1_020);
    const timeout = op.attempts[0].signal.reason;
    assert.ok(timeout instanceof AttemptTimeoutError);
    assert.equal(timeout.message, 'policy "timeout" attempt 1 timed out after 20 ms');
    assert.equal(timeout.attempt, 1);
    assert.equal(timeout.timeoutMs, 20);
    assert.equal(op.attempts.length, 1, "the backoff runs first");
    await m.at(1_029);
    assert.equal(op.attempts.length, 1);
    await m.at(1_030);
    assert.equal(call.settled, true);
    assert.equal(call.value, "ok 2");
    assert.deepEqual(op.attempts.map((a) => [a.attempt, a.at]), [[1, 1_000], [2, 1_030]]);
    assert.equal(op.attempts[1].signal.aborted, false);
    assert.deepEqual(rec.events, [
      { type: "attempt_timeout", policy: "timeout", timestamp: 1_020, attempt: 1, timeoutMs: 20 },
      {
        type: "retry",
        policy: "timeout",
        timestamp: 1_020,
        attempt: 1,
        errorClass: "transient",
        error: timeout,
        delayMs: 10,
      },
      { type: "success", policy: "timeout", timestamp: 1_030, attempt: 2 },
    ]);
    assert.equal(m.wheel.pending, 0);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("fast path: a transient failure (rejected or thrown) is retried after the backoff", async () => {
  for (const step of ["transient", "throw"] as const) {
    for (
      const options of [{}, { deadlineMs: 1_000 }, { deadlineMs: 1_000, attemptTimeoutMs: 500 }]
    ) {
      const name = `${step} ${JSON.stringify(options)}`;
      const m = manual();
      try {
        const rec = recorder();
        const p = policy("p", {
          clock: m.clock,
          telemetry: false,
          onEvent: rec.onEvent,
          retry: { maxAttempts: 3, backoff: constant(30) },
          ...options,
        });
        const op = scripted(m.now, [step, "value"]);
        const call = track(p.execute(op.fn));
        await flush();
        assert.equal(op.attempts.length, 1, name);
        for (let t = 1_010; t < 1_030; t += 10) await m.at(t);
        await m.at(1_029);
        assert.equal(op.attempts.length, 1, `${name}: not before the backoff`);
        assert.equal(call.settled, false, name);
        await m.at(1_030);
        assert.equal(call.value, "value 2", name);
        assert.deepEqual(op.attempts.map((a) => [a.attempt, a.at]), [[1, 1_000], [2, 1_030]], name);
        assert.deepEqual(rec.events.map(line), [
          "retry@1000 #1 transient +30",
          "success@1030 #2",
        ], name);
        const error = (rec.events[0] as Extract<ResilienceEvent, { type: "retry" }>).error;
        assert.ok(error instanceof TransientError, name);
        assert.equal(error.message, step === "throw" ? "thrown 1" : "transient 1", name);
        assert.equal(m.wheel.pending, 0, name);
      } finally {
        await finish(m.wheel);
      }
    }
  }
});

Deno.test("fast path: a permanent failure (rejected or thrown) rejects with the same error after 1 attempt", async () => {
  for (const throws of [false, true]) {
    for (const options of [{}, { deadlineMs: 1_000, attemptTimeoutMs: 500 }]) {
      const name = `${throws ? "thrown" : "rejected"} ${JSON.stringify(options)}`;
      const m = manual();
      try {
        const rec = recorder();
        const p = policy("p", {
          clock: m.clock,
          telemetry: false,
          onEvent: rec.onEvent,
          retry: { maxAttempts: 3, backoff: constant(10) },
          ...options,
        });
        const original = new PermanentError("bad request");
        let calls = 0;
        const call = track(p.execute(() => {
          calls++;
          if (throws) throw original;
          return Promise.reject(original);
        }));
        await flush();
        assert.equal(call.settled, true, name);
        assert.equal(call.error, original, `${name}: the very same error object`);
        assert.equal(calls, 1, name);
        assert.deepEqual(rec.events, [{
          type: "permanent_fail",
          policy: "p",
          timestamp: 1_000,
          attempt: 1,
          errorClass: "permanent",
          error: original,
        }], name);
        assert.equal(m.wheel.pending, 0, name);
      } finally {
        await finish(m.wheel);
      }
    }
  }
});

Deno.test("fast path: a classifier that throws on the success value ends the call, freeing the permit and the probe", async () => {
  const bug = new Error("classifier bug");
  const classify: Classifier = (x) => {
    if (x === "boom") throw bug;
    return defaultClassifier(x);
  };
  for (const via of ["fast", "general"] as const) {
    for (const options of [{}, { deadlineMs: 1_000 }]) {
      const name = `${via} ${JSON.stringify(options)}`;
      const m = manual();
      try {
        const rec = recorder();
        const p = policy("classify", {
          retry: { maxAttempts: 1 },
          clock: m.clock,
          telemetry: false,
          classify,
          onEvent: rec.onEvent,
          bulkhead: { maxConcurrent: 1 },
          circuit: { kind: "consecutive", threshold: 1, breakMs: 100 },
          ...options,
        });
        const run = (fn: () => unknown) =>
          track(via === "fast" ? p.execute(fn) : p.execute(fn, {}));
        // Open the circuit, then let its break elapse.
        const trip = run(() => Promise.reject(new TransientError("down")));
        await flush();
        assert.ok(trip.error instanceof RetryExhaustedError, name);
        assert.equal(p.circuit!.state, "open", name);
        m.set(1_100);
        rec.events.length = 0;
        const probe = run(() => "boom");
        await flush();
        assert.equal(probe.settled, true, name);
        assert.equal(probe.error, bug, name);
        assert.equal(p.bulkhead!.inFlight, 0, `${name}: the permit is back`);
        assert.equal(p.circuit!.state, "half_open", name);
        assert.equal(p.circuit!.stats().probesInFlight, 0, `${name}: the probe is released`);
        assert.equal(p.circuit!.stats().successes, 0, name);
        assert.equal(p.circuit!.stats().failures, 1, name);
        assert.deepEqual(rec.events.map(line), [
          "circuit_transition@1100 open->half_open",
        ], name);
        // The probe slot is free again: the next call is admitted and closes the circuit.
        const next = run(() => "fine");
        await flush();
        assert.equal(next.value, "fine", name);
        assert.equal(p.circuit!.state, "closed", name);
        assert.equal(p.bulkhead!.inFlight, 0, name);
        assert.equal(m.wheel.pending, 0, name);
      } finally {
        await finish(m.wheel);
      }
    }
  }
});

Deno.test("fast path: the bulkhead permit is released after success and failure; a full bulkhead queues", async () => {
  const m = manual();
  try {
    const p = policy("bh", {
      clock: m.clock,
      telemetry: false,
      deadlineMs: 1_000,
      bulkhead: { maxConcurrent: 1, maxQueue: 1 },
    });
    const bulkhead = p.bulkhead!;
    assert.equal(await p.execute(() => 1), 1);
    assert.equal(bulkhead.inFlight, 0);
    const bad = new PermanentError("no");
    await assert.rejects(p.execute(() => Promise.reject(bad)), (e) => e === bad);
    assert.equal(bulkhead.inFlight, 0);
    await assert.rejects(
      p.execute(() => {
        throw bad;
      }),
      (e) => e === bad,
    );
    assert.equal(bulkhead.inFlight, 0);

    const gate = Promise.withResolvers<string>();
    const a = track(p.execute(() => gate.promise));
    const queued = scripted(m.now, ["ok"]);
    const b = track(p.execute(queued.fn));
    let cCalled = false;
    const c = track(p.execute(() => {
      cCalled = true;
      return "c";
    }));
    await flush();
    assert.equal(bulkhead.inFlight, 1);
    assert.equal(bulkhead.queued, 1);
    assert.equal(queued.attempts.length, 0, "b waits for a permit");
    assert.ok(c.error instanceof BulkheadRejectedError, "c finds the queue full");
    assert.equal(cCalled, false);
    gate.resolve("a");
    await flush();
    assert.equal(a.value, "a");
    assert.equal(b.value, "ok 1");
    assert.deepEqual(queued.attempts.map((x) => x.attempt), [1]);
    assert.equal(bulkhead.inFlight, 0);
    assert.equal(bulkhead.queued, 0);
    assert.equal(m.wheel.pending, 0, "the queue wait's deadline timer is cleared");
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("fast path: an open circuit rejects with CircuitOpenError without calling the operation and frees the permit", async () => {
  const m = manual();
  try {
    const rec = recorder();
    const p = policy("open", {
      retry: { maxAttempts: 1 },
      clock: m.clock,
      telemetry: false,
      deadlineMs: 1_000,
      onEvent: rec.onEvent,
      bulkhead: { maxConcurrent: 1 },
      circuit: { kind: "consecutive", threshold: 1, breakMs: 1_000 },
    });
    const down = new TransientError("down");
    const trip = track(p.execute(() => Promise.reject(down)));
    await flush();
    assert.ok(trip.error instanceof RetryExhaustedError);
    assert.equal(p.circuit!.state, "open");
    m.set(1_400);
    rec.events.length = 0;
    let calls = 0;
    const call = track(p.execute(() => {
      calls++;
      return "never";
    }));
    await flush();
    assert.equal(calls, 0);
    const error = call.error;
    assert.ok(error instanceof CircuitOpenError);
    assert.equal(error.message, 'policy "open" rejected the call: circuit "open" is open');
    assert.equal(error.policy, "open");
    assert.equal(error.retryAfterMs, 600);
    assert.equal(error.cause, undefined);
    assert.equal(p.bulkhead!.inFlight, 0);
    assert.deepEqual(rec.events.map(line), ["circuit_rejected@1400 open"]);
    assert.equal(m.wheel.pending, 0);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("fast path: a value or rejection that arrives after the timer fired is ignored", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    unhandled.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    for (const late of ["resolve", "reject"] as const) {
      // The deadline ends the call.
      const m = manual();
      try {
        const rec = recorder();
        const p = policy("late", {
          clock: m.clock,
          telemetry: false,
          deadlineMs: 50,
          onEvent: rec.onEvent,
          bulkhead: { maxConcurrent: 1 },
          circuit: { kind: "consecutive", threshold: 5 },
        });
        const d = Promise.withResolvers<string>();
        const call = track(p.execute(() => d.promise));
        for (let t = 1_010; t <= 1_050; t += 10) await m.at(t);
        assert.ok(call.error instanceof DeadlineExceededError, late);
        const error = call.error;
        if (late === "resolve") d.resolve("too late");
        else d.reject(new TransientError("too late"));
        await flush();
        assert.equal(call.error, error, late);
        assert.deepEqual(rec.events.map(line), ["deadline_exceeded@1050 #1"], late);
        const stats = p.circuit!.stats();
        assert.deepEqual([stats.successes, stats.failures], [0, 1], late);
        assert.equal(p.bulkhead!.inFlight, 0, late);
      } finally {
        await finish(m.wheel);
      }
      // An attempt timeout ends attempt 1; its late outcome must not end the call.
      const m2 = manual();
      try {
        const p = policy("late", {
          clock: m2.clock,
          telemetry: false,
          deadlineMs: 1_000,
          attemptTimeoutMs: 20,
          retry: { maxAttempts: 2, backoff: constant(0) },
        });
        const first = Promise.withResolvers<string>();
        const second = Promise.withResolvers<string>();
        const call = track(p.execute(({ attempt }) => (attempt === 1 ? first : second).promise));
        await m2.at(1_010);
        await m2.at(1_020);
        if (late === "resolve") first.resolve("attempt 1, too late");
        else first.reject(new TransientError("attempt 1, too late"));
        await flush();
        assert.equal(call.settled, false, `${late}: attempt 2 is running`);
        second.resolve("attempt 2");
        await flush();
        assert.equal(call.value, "attempt 2", late);
      } finally {
        await finish(m2.wheel);
      }
    }
    await macrotask();
    assert.deepEqual(unhandled, []);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});

// ---------------------------------------------------------------------------
// The fast path on a wheel clock vs. a precise VirtualClock (fast path and
// general loop): the same attempts, events and outcomes.
// ---------------------------------------------------------------------------

interface Scenario {
  name: string;
  options: PolicyOptions;
  steps: Step[];
  result: string;
  attempts: number[];
  events: string[];
}

const BASE: PolicyOptions = {
  deadlineMs: 1_000,
  attemptTimeoutMs: 100,
  retry: { maxAttempts: 3, backoff: constant(10) },
};

const SCENARIOS: Scenario[] = [
  {
    name: "success",
    options: BASE,
    steps: ["ok"],
    result: 'value "ok 1"',
    attempts: [1_000],
    events: ["success@1000 #1"],
  },
  {
    name: "a plain value",
    options: BASE,
    steps: ["value"],
    result: 'value "value 1"',
    attempts: [1_000],
    events: ["success@1000 #1"],
  },
  {
    name: "transient, then success",
    options: BASE,
    steps: ["transient", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_010],
    events: ["retry@1000 #1 transient +10", "success@1010 #2"],
  },
  {
    name: "a synchronous throw, then a plain value",
    options: BASE,
    steps: ["throw", "value"],
    result: 'value "value 2"',
    attempts: [1_000, 1_010],
    events: ["retry@1000 #1 transient +10", "success@1010 #2"],
  },
  {
    name: "a failing value, then success",
    options: BASE,
    steps: ["500", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_010],
    events: ["retry@1000 #1 server_error +10", "success@1010 #2"],
  },
  {
    name: "permanent",
    options: BASE,
    steps: ["permanent"],
    result: "PermanentError: permanent 1",
    attempts: [1_000],
    events: ["permanent_fail@1000 #1 permanent"],
  },
  {
    name: "a synchronous permanent throw",
    options: BASE,
    steps: ["throw-permanent"],
    result: "PermanentError: thrown permanent 1",
    attempts: [1_000],
    events: ["permanent_fail@1000 #1 permanent"],
  },
  {
    name: "unknown errors until max attempts",
    options: BASE,
    steps: ["unknown", "unknown", "unknown"],
    result: 'RetryExhaustedError: policy "p" gave up after 3 attempts (max_attempts: 3)',
    attempts: [1_000, 1_010, 1_020],
    events: [
      "retry@1000 #1 unknown +10",
      "retry@1010 #2 unknown +10",
      "max_attempts_exceeded@1020 #3 unknown",
    ],
  },
  {
    name: "an attempt timeout, then success",
    options: BASE,
    steps: ["hang", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_110],
    events: [
      "attempt_timeout@1100 #1 timeout 100",
      "retry@1100 #1 transient +10",
      "success@1110 #2",
    ],
  },
  {
    name: "three attempt timeouts",
    options: BASE,
    steps: ["hang", "hang", "hang"],
    result: 'RetryExhaustedError: policy "p" gave up after 3 attempts (max_attempts: 3)',
    attempts: [1_000, 1_110, 1_220],
    events: [
      "attempt_timeout@1100 #1 timeout 100",
      "retry@1100 #1 transient +10",
      "attempt_timeout@1210 #2 timeout 100",
      "retry@1210 #2 transient +10",
      "attempt_timeout@1320 #3 timeout 100",
      "max_attempts_exceeded@1320 #3 transient",
    ],
  },
  {
    name: "an attempt timeout, then the deadline",
    options: { ...BASE, deadlineMs: 150 },
    steps: ["hang", "hang"],
    result: 'DeadlineExceededError: policy "p" deadline exceeded after 2 attempts (deadline 1150)',
    attempts: [1_000, 1_110],
    events: [
      "attempt_timeout@1100 #1 timeout 100",
      "retry@1100 #1 transient +10",
      "deadline_exceeded@1150 #2 transient",
    ],
  },
  {
    name: "the deadline on the first attempt",
    options: { ...BASE, deadlineMs: 50 },
    steps: ["hang"],
    result: 'DeadlineExceededError: policy "p" deadline exceeded after 1 attempt (deadline 1050)',
    attempts: [1_000],
    events: ["deadline_exceeded@1050 #1"],
  },
  {
    name: "a backoff that would end past the deadline",
    options: { ...BASE, retry: { maxAttempts: 3, backoff: constant(2_000) } },
    steps: ["transient"],
    result: 'DeadlineExceededError: policy "p" deadline exceeded after 1 attempt (deadline 2000)',
    attempts: [1_000],
    events: ["deadline_exceeded@1000 #1 transient +2000"],
  },
  {
    name: "no deadline, transient then success",
    options: { retry: { maxAttempts: 3, backoff: constant(20) } },
    steps: ["transient", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_020],
    events: ["retry@1000 #1 transient +20", "success@1020 #2"],
  },
  {
    name: "a breaker that opens between attempts",
    options: { ...BASE, circuit: { kind: "consecutive", threshold: 2, breakMs: 1_000 } },
    steps: ["transient", "hang", "ok"],
    result: 'CircuitOpenError: policy "p" rejected the call: circuit "p" is open',
    attempts: [1_000, 1_010],
    events: [
      "retry@1000 #1 transient +10",
      "attempt_timeout@1110 #2 timeout 100",
      "circuit_transition@1110 closed->open",
      "retry@1110 #2 transient +10",
      "circuit_rejected@1120 open",
    ],
  },
];

interface Run {
  result: string;
  attempts: number[];
  events: string[];
}

/** Runs a scenario on a wheel clock, ticking every 10 ms until the call settles. */
async function onWheel(s: Scenario): Promise<Run> {
  const m = manual(10);
  try {
    const rec = recorder();
    const p = policy("p", { ...s.options, clock: m.clock, telemetry: false, onEvent: rec.onEvent });
    const op = scripted(m.now, s.steps);
    const call = track(p.execute(op.fn));
    await flush();
    while (!call.settled && m.now() < 5_000) await m.at(m.now() + 10);
    assert.equal(m.wheel.pending, 0, `${s.name}: nothing left on the wheel`);
    return {
      result: outcome(call.ok, call.value, call.error),
      attempts: op.attempts.map((a) => a.at),
      events: rec.events.map(line),
    };
  } finally {
    await finish(m.wheel);
  }
}

/** Runs a scenario on a VirtualClock, through the fast path or (with options) the general loop. */
async function onVirtualClock(s: Scenario, general: boolean): Promise<Run> {
  const clock = new VirtualClock(1_000);
  const rec = recorder();
  const p = policy("p", { ...s.options, clock, telemetry: false, onEvent: rec.onEvent });
  const op = scripted(() => clock.now(), s.steps);
  const call = settleLater(general ? p.execute(op.fn, {}) : p.execute(op.fn));
  await clock.runAll();
  const r = await call;
  assert.equal(clock.pending, 0, `${s.name}: no timer left`);
  return {
    result: r.ok ? outcome(true, r.value, undefined) : outcome(false, undefined, r.error),
    attempts: op.attempts.map((a) => a.at),
    events: rec.events.map(line),
  };
}

Deno.test("fast path on a wheel clock = fast path on a VirtualClock = general loop (table)", async () => {
  for (const s of SCENARIOS) {
    const expected: Run = { result: s.result, attempts: s.attempts, events: s.events };
    assert.deepEqual(await onVirtualClock(s, true), expected, `${s.name}: general loop`);
    assert.deepEqual(await onVirtualClock(s, false), expected, `${s.name}: VirtualClock fast path`);
    assert.deepEqual(await onWheel(s), expected, `${s.name}: wheel clock fast path`);
  }
});

Deno.test("a fast-path success feeds the failure budget in clock time (wheel origin != 0)", async () => {
  const m = manual(10, 1_000_000); // clock time = wheel time + 1,000,000, as systemClock's origin
  try {
    const p = policy("fb", {
      clock: m.clock,
      telemetry: false,
      deadlineMs: 1_000, // a timer, so the idle wheel stamps the start (in wheel time)
      failureBudget: { threshold: 0.5, windowMs: 60_000, minSamples: 1 },
    });
    assert.equal(await p.execute(() => "ok"), "ok");
    assert.equal(p.failureBudget!.samples(), 1, "the success is in the window");
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("documented precision: a first attempt that blocks the event loop and fails before the first tick moves the fast path's deadline by the time it blocked", async () => {
  for (const via of ["fast", "general"] as const) {
    const m = manual();
    try {
      const p = policy("block", {
        clock: m.clock,
        telemetry: false,
        deadlineMs: 50,
        retry: { maxAttempts: 2, backoff: constant(10) },
      });
      m.wheel.schedule(() => {}, 100_000); // the wheel runs; its last tick was at 1000
      m.set(1_003);
      const fn = ({ attempt }: AttemptContext) => {
        if (attempt === 1) {
          m.set(1_503); // 500 ms of synchronous work, then a transient failure
          throw new TransientError("slow");
        }
        return "second";
      };
      const call = track(via === "fast" ? p.execute(fn) : p.execute(fn, {}));
      await flush();
      for (let t = 1_510; t <= 1_560; t += 10) await m.at(t);
      if (via === "general") {
        // The general loop reads the clock as the call starts.
        assert.ok(
          call.error instanceof DeadlineExceededError,
          outcome(call.ok, call.value, call.error),
        );
        assert.equal(call.error.deadline, 1_053);
      } else {
        // The fast path's start was never stamped (no tick, no ctx.deadline
        // read): the failure stamps it at 1503, so the retry at 1513 is
        // within the deadline 1553. Never early; late by the blocked time.
        assert.equal(outcome(call.ok, call.value, call.error), outcome(true, "second", undefined));
      }
    } finally {
      await finish(m.wheel);
    }
  }
});

// Findings of a review of the fast path, each a regression test.

Deno.test("review: a failing value the first attempt returned is classified once, as on the general loop", async () => {
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
    const value = general ? await p.execute(fn, {}) : await p.execute(fn);
    return { value, calls };
  };
  assert.deepEqual(await run(false), { value: "ok", calls: 2 });
  assert.deepEqual(await run(true), { value: "ok", calls: 2 });
});

Deno.test("review: the operation's context has the same shape on every path and no engine state", async () => {
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
      await p.execute(look, {}); // the general loop
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

Deno.test("review: a clock that throws rejects the call (never a synchronous throw) and frees the permit and the probe", async () => {
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

Deno.test("review: a meter with a broken tracer keeps the bulkhead's in-flight counter balanced", async () => {
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

Deno.test("review: after an attempt timeout the next attempt starts after the wheel's tick, not inside it", async () => {
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

Deno.test("review: a promise whose then() throws is a failed attempt, not a synchronous throw", async () => {
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

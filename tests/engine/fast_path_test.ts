// The policy's fast path (a first attempt run without the general loop) on a
// wheel clock: its timers, its events and what it frees. The same scenarios
// through every path are in equivalence_test.ts; fixed findings of a review in
// regressions_test.ts.
import assert from "node:assert/strict";
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
} from "../../mod.ts";
import { recorder } from "../_helpers.ts";
import {
  captureUnhandled,
  finish,
  flush,
  line,
  macrotask,
  manual,
  outcome,
  scripted,
  track,
  viaLoop,
} from "../_wheel.ts";

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
          track(via === "fast" ? p.execute(fn) : p.execute(fn, viaLoop()));
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
  const unhandled = captureUnhandled();
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
    assert.deepEqual(unhandled.reasons, []);
  } finally {
    unhandled.stop();
  }
});

// ---------------------------------------------------------------------------
// Precision and clock time
// ---------------------------------------------------------------------------

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
  for (const via of ["fast", "empty options", "general"] as const) {
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
      const call = track(
        via === "fast"
          ? p.execute(fn)
          : via === "empty options"
          ? p.execute(fn, {})
          : p.execute(fn, viaLoop()),
      );
      await flush();
      for (let t = 1_510; t <= 1_560; t += 10) await m.at(t);
      if (via === "general") {
        // The general loop (a call with a signal) reads the clock as the call starts.
        assert.ok(
          call.error instanceof DeadlineExceededError,
          outcome(call.ok, call.value, call.error),
        );
        assert.equal(call.error.deadline, 1_053);
      } else {
        // The fast path's start was never stamped (no tick, no ctx.deadline
        // read): the failure stamps it at 1503, so the retry at 1513 is
        // within the deadline 1553. Never early; late by the blocked time.
        // `execute(fn, {})` takes the same path, with the same precision.
        assert.equal(outcome(call.ok, call.value, call.error), outcome(true, "second", undefined));
      }
    } finally {
      await finish(m.wheel);
    }
  }
});

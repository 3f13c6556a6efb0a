// A policy with retry, circuit, failure budget, bulkhead and deadline on
// Node, in virtual time through the package's own VirtualClock.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AttemptTimeoutError,
  BulkheadRejectedError,
  CircuitOpenError,
  constant,
  DeadlineExceededError,
  FailureBudgetExceededError,
  policy,
  RetryExhaustedError,
  TransientError,
} from "@bulwark/bulwark";
import { VirtualClock } from "@bulwark/bulwark/testing";

/** An operation that never settles on its own: it ends when its signal aborts. */
function hang({ signal }) {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
}

test("retry and deadline: attempt timeouts, backoff and one deadline over all of it", async () => {
  const clock = new VirtualClock();
  const events = [];
  const api = policy("node-deadline", {
    telemetry: false,
    clock,
    deadlineMs: 1_000,
    attemptTimeoutMs: 300,
    retry: { maxAttempts: 5, backoff: constant(100) },
    onEvent: (event) => events.push(event.type),
  });
  const started = [];
  const reasons = [];
  const call = api.execute(async (context) => {
    started.push(clock.now());
    try {
      return await hang(context);
    } catch (error) {
      reasons.push(error.constructor.name);
      throw error;
    }
  });
  const outcome = assert.rejects(call, DeadlineExceededError);
  await clock.runAll();
  await outcome;
  // 0-300 attempt 1, 400-700 attempt 2, 800-1000 attempt 3 cut by the deadline.
  assert.deepEqual(started, [0, 400, 800]);
  assert.deepEqual(reasons, [
    AttemptTimeoutError.name,
    AttemptTimeoutError.name,
    DeadlineExceededError.name,
  ]);
  assert.equal(clock.now(), 1_000);
  assert.deepEqual(events.filter((type) => type === "retry").length, 2);
});

test("retry: transient failures are retried until success, with the backoff between", async () => {
  const clock = new VirtualClock();
  const api = policy("node-retry", {
    telemetry: false,
    clock,
    retry: { maxAttempts: 4, backoff: constant(250) },
  });
  const at = [];
  const call = api.execute(({ attempt }) => {
    at.push(clock.now());
    if (attempt < 3) throw new TransientError(`down ${attempt}`);
    return `ok after ${attempt}`;
  });
  await clock.runAll();
  assert.equal(await call, "ok after 3");
  assert.deepEqual(at, [0, 250, 500]);
});

test("circuit: opens after 2 failures, refuses without calling, probes after breakMs", async () => {
  const clock = new VirtualClock();
  const transitions = [];
  const api = policy("node-circuit", {
    telemetry: false,
    clock,
    retry: { maxAttempts: 1 },
    circuit: { kind: "consecutive", threshold: 2, breakMs: 1_000 },
    onEvent: (event) => {
      if (event.type === "circuit_transition") {
        transitions.push(`${event.from}->${event.to}`);
      }
    },
  });
  let calls = 0;
  let healthy = false;
  const fn = () => {
    calls++;
    if (!healthy) throw new TransientError("unavailable");
    return "up";
  };
  const exhausted = {
    name: "RetryExhaustedError",
    message: 'policy "node-circuit" gave up after 1 attempt (max_attempts: 1)',
    attempts: 1,
    reason: "max_attempts",
  };
  await assert.rejects(api.execute(fn), exhausted);
  await assert.rejects(api.execute(fn), exhausted);
  await assert.rejects(api.execute(fn), (error) => {
    assert.ok(error instanceof CircuitOpenError);
    assert.equal(error.retryAfterMs, 1_000);
    return true;
  });
  assert.equal(calls, 2, "the open circuit did not call fn");
  healthy = true;
  await clock.advance(1_000);
  assert.equal(await api.execute(fn), "up");
  assert.equal(calls, 3);
  assert.deepEqual(transitions, [
    "closed->open",
    "open->half_open",
    "half_open->closed",
  ]);
});

test("failure budget: a breached budget with action reject fails calls fast", async () => {
  const clock = new VirtualClock();
  const api = policy("node-budget", {
    telemetry: false,
    clock,
    retry: { maxAttempts: 1 },
    failureBudget: {
      threshold: 0.5,
      windowMs: 10_000,
      minSamples: 4,
      action: "reject",
    },
  });
  let calls = 0;
  const outcomes = [true, false, false, false];
  for (const ok of outcomes) {
    const call = api.execute(() => {
      calls++;
      if (!ok) throw new TransientError("failed");
      return "ok";
    });
    if (ok) assert.equal(await call, "ok");
    else {
      await assert.rejects(call, (error) => {
        assert.ok(error instanceof RetryExhaustedError);
        assert.ok(error.cause instanceof TransientError);
        return true;
      });
    }
  }
  // 3 failures in 4 calls: 0.75 > 0.5 with 4 samples.
  await assert.rejects(api.execute(() => calls++), (error) => {
    assert.ok(error instanceof FailureBudgetExceededError);
    assert.match(error.message, /node-budget/);
    return true;
  });
  assert.equal(calls, 4);
  // The window rolls past: the budget recovers.
  await clock.advance(10_000);
  assert.equal(await api.execute(() => "again"), "again");
});

test("bulkhead: maxConcurrent 1 and maxQueue 1 run one, queue one, refuse the third", async () => {
  const clock = new VirtualClock();
  const rejected = [];
  const api = policy("node-bulkhead", {
    telemetry: false,
    clock,
    bulkhead: { maxConcurrent: 1, maxQueue: 1 },
    onEvent: (event) => {
      if (event.type === "bulkhead_rejected") rejected.push(event.type);
    },
  });
  const order = [];
  let release;
  const first = api.execute(() => {
    order.push("first");
    return new Promise((resolve) => (release = resolve));
  });
  const second = api.execute(() => {
    order.push("second");
    return "second";
  });
  await assert.rejects(
    api.execute(() => order.push("third")),
    BulkheadRejectedError,
  );
  await Promise.resolve();
  assert.deepEqual(order, ["first"]);
  release("first");
  assert.equal(await first, "first");
  assert.equal(await second, "second");
  assert.deepEqual(order, ["first", "second"]);
  assert.deepEqual(rejected, ["bulkhead_rejected"]);
});

test("all parts together: a policy with every part gives up at its deadline", async () => {
  const clock = new VirtualClock();
  const api = policy("node-full", {
    telemetry: false,
    clock,
    deadlineMs: 500,
    attemptTimeoutMs: 200,
    retry: { maxAttempts: 10, backoff: constant(50) },
    circuit: { kind: "consecutive", threshold: 5, breakMs: 1_000 },
    failureBudget: {
      threshold: 0.9,
      windowMs: 10_000,
      minSamples: 100,
      action: "reject",
    },
    bulkhead: { maxConcurrent: 2, maxQueue: 0 },
  });
  let attempts = 0;
  const call = api.execute((context) => {
    attempts++;
    return hang(context);
  });
  const outcome = assert.rejects(call, DeadlineExceededError);
  await clock.runAll();
  await outcome;
  // 0-200, 250-450; a third attempt could only start at the deadline (450 + 50),
  // so the call gives up at 450 rather than sleep into it.
  assert.equal(attempts, 2);
  assert.equal(clock.now(), 450);
});

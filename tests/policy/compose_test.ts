import assert from "node:assert/strict";
import { policy } from "../../src/policy/policy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { constant } from "../../src/backoff/constant.ts";
import { PermanentError, TransientError } from "../../src/classify/markers.ts";
import {
  BulkheadRejectedError,
  DeadlineExceededError,
  FailureBudgetExceededError,
  RetryExhaustedError,
} from "../../src/core/errors.ts";
import { RetryBudget } from "../../src/budget/retry_budget.ts";
import { FailureBudget } from "../../src/budget/failure_budget.ts";
import { Bulkhead } from "../../src/bulkhead/bulkhead.ts";
import { recorder, settleLater } from "../_helpers.ts";

const fail = () => Promise.reject(new TransientError("down"));

Deno.test("failure budget (observe) is fed every attempt and reports its breach", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("api", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 2, backoff: constant(0) },
    failureBudget: { threshold: 0.5, windowMs: 10_000, minSamples: 4 },
  });
  await p.execute(() => "ok");
  await p.execute(() => "ok");
  await settleLater(p.execute(fail)); // 2 failed attempts: 2 of 4 = 0.5, not > 0.5
  assert.equal(p.failureBudget!.samples(), 4);
  assert.equal(p.failureBudget!.isBreached(), false);
  assert.ok(!rec.types().includes("failure_budget_breach"));
  await settleLater(p.execute(fail)); // 4 of 6 failed
  assert.equal(p.failureBudget!.failureRate(), 4 / 6);
  const breach = rec.events.filter((e) => e.type === "failure_budget_breach");
  assert.equal(breach.length, 1);
  assert.equal(breach[0].policy, "api");
  // observe: calls still run
  assert.equal(await p.execute(() => "still runs"), "still runs");
});

Deno.test("failure budget with action reject fails fast while breached", async () => {
  const clock = new VirtualClock();
  const p = policy("api", {
    retry: { maxAttempts: 1 },
    clock,
    failureBudget: { threshold: 0.1, windowMs: 1_000, minSamples: 2, action: "reject" },
  });
  await settleLater(p.execute(fail));
  await settleLater(p.execute(fail));
  let called = false;
  await assert.rejects(
    p.execute(() => (called = true)),
    (e) => e instanceof FailureBudgetExceededError && e.policy === "api",
  );
  assert.equal(called, false);
  await clock.advance(1_000); // the window forgets the failures
  assert.equal(await p.execute(() => "recovered"), "recovered");
});

Deno.test("permanent failures count against neither the breaker nor the failure budget", async () => {
  const clock = new VirtualClock();
  const p = policy("api", {
    clock,
    failureBudget: { threshold: 0.1, windowMs: 1_000, minSamples: 1 },
    circuit: { kind: "consecutive", threshold: 1, breakMs: 1_000 },
  });
  for (let i = 0; i < 3; i++) {
    await settleLater(p.execute(() => Promise.reject(new PermanentError("bad input"))));
  }
  assert.equal(p.failureBudget!.samples(), 0);
  assert.equal(p.circuit!.state, "closed");
});

Deno.test("bulkhead: one permit per call, rejection ends the call with BulkheadRejectedError", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("db", {
    clock,
    onEvent: rec.onEvent,
    bulkhead: { maxConcurrent: 1, maxQueue: 0 },
    retry: { maxAttempts: 3, backoff: constant(10) },
  });
  let release!: () => void;
  const first = p.execute(() => new Promise<string>((r) => (release = () => r("first"))));
  await clock.advance(0);
  assert.equal(p.bulkhead!.inFlight, 1);
  let called = false;
  await assert.rejects(
    p.execute(() => (called = true)),
    (e) => e instanceof BulkheadRejectedError,
  );
  assert.equal(called, false);
  assert.deepEqual(rec.types(), ["bulkhead_rejected"]);
  release();
  assert.equal(await first, "first");
  assert.equal(p.bulkhead!.inFlight, 0);
});

Deno.test("bulkhead: the permit is held across retries and sleeps, and released at the end", async () => {
  const clock = new VirtualClock();
  const p = policy("db", {
    clock,
    bulkhead: { maxConcurrent: 1, maxQueue: 5 },
    retry: { maxAttempts: 3, backoff: constant(100) },
  });
  let n = 0;
  const first = settleLater(p.execute(() => (++n < 3 ? fail() : Promise.resolve("a"))));
  const second = settleLater(p.execute(() => Promise.resolve("b")));
  await clock.advance(150);
  assert.equal(p.bulkhead!.inFlight, 1);
  assert.equal(p.bulkhead!.queued, 1);
  await clock.runAll();
  assert.deepEqual(await first, { ok: true, value: "a" });
  assert.deepEqual(await second, { ok: true, value: "b" });
  assert.equal(p.bulkhead!.inFlight, 0);
});

Deno.test("bulkhead: a queue wait ends at the deadline with DeadlineExceededError", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("db", {
    clock,
    onEvent: rec.onEvent,
    bulkhead: { maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 10_000 },
  });
  // The first call has no deadline and holds the only permit for 1 s.
  const hog = settleLater(p.execute(() => clock.sleep(1_000).then(() => "hog")));
  let settledAt = -1;
  const waiting = settleLater(
    p.execute(() => "late", { deadline: 300 }).finally(() => (settledAt = clock.now())),
  );
  await clock.runAll();
  const w = await waiting;
  assert.ok(!w.ok && w.error instanceof DeadlineExceededError);
  assert.equal(settledAt, 300);
  assert.equal(p.bulkhead!.queued, 0);
  assert.deepEqual(await hog, { ok: true, value: "hog" });
  // Reported once, as a deadline: not also as a bulkhead queue timeout.
  assert.deepEqual(rec.types(), ["deadline_exceeded", "success"]);
  assert.equal(clock.pending, 0);
});

Deno.test("a shared bulkhead limits several policies together", async () => {
  const clock = new VirtualClock();
  const shared = new Bulkhead({ maxConcurrent: 1, maxQueue: 0, clock });
  const a = policy("a", { clock, bulkhead: shared });
  const b = policy("b", { clock, bulkhead: shared });
  assert.equal(a.bulkhead, shared);
  const running = a.execute(() => clock.sleep(10).then(() => "a"));
  await clock.advance(0);
  await assert.rejects(b.execute(() => "b"), BulkheadRejectedError);
  await clock.runAll();
  assert.equal(await running, "a");
});

Deno.test("retry budget: a refused retry ends the call with reason retry_budget", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const budget = new RetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000, clock });
  // The floor allows 0.1/s * 10 s = 1 retry per window.
  const p = policy("api", {
    clock,
    onEvent: rec.onEvent,
    retry: { maxAttempts: 5, backoff: constant(0), retryBudget: budget },
  });
  const first = await settleLater(p.execute(fail));
  assert.ok(!first.ok && first.error instanceof RetryExhaustedError);
  assert.equal(first.error.reason, "retry_budget");
  assert.equal(first.error.attempts, 2);
  assert.deepEqual(rec.types(), ["retry", "retry_budget_exhausted"]);
  const second = await settleLater(p.execute(fail));
  assert.ok(!second.ok && second.error instanceof RetryExhaustedError);
  assert.equal(second.error.attempts, 1);
  assert.equal(p.retryBudget, budget);
});

Deno.test("retry budget: 1,000 failing calls with maxAttempts 5 stay within the budget", async () => {
  const run = async (withBudget: boolean) => {
    const clock = new VirtualClock();
    let attempts = 0;
    const p = policy("fleet", {
      clock,
      retry: {
        maxAttempts: 5,
        backoff: constant(0),
        ...(withBudget ? { retryBudget: { ratio: 0.1, minPerSecond: 10, windowMs: 10_000 } } : {}),
      },
    });
    for (let i = 0; i < 1_000; i++) {
      await settleLater(p.execute(() => {
        attempts++;
        return fail();
      }));
    }
    return attempts;
  };
  const budgeted = await run(true);
  // 1,000 first attempts + 10% of them + the floor (10/s over one 10 s window).
  assert.ok(budgeted <= 1_000 * 1.1 + 100, `${budgeted} attempts`);
  assert.equal(budgeted, 1_200);
  assert.equal(await run(false), 5_000);
});

Deno.test("parts given as options are validated under their path", () => {
  assert.throws(
    () => policy("p", { failureBudget: { threshold: 2, windowMs: 1, minSamples: 1 } }),
    {
      name: "RangeError",
      message: /^failureBudget\.threshold must be/,
    },
  );
  assert.throws(() => policy("p", { bulkhead: { maxConcurrent: 0 } }), {
    name: "RangeError",
    message: "bulkhead.maxConcurrent must be an integer between 1 and 1000000: received 0",
  });
  assert.throws(() => policy("p", { retry: { retryBudget: { ratio: -1 } } }), {
    name: "RangeError",
    message: /^retry\.retryBudget\.ratio must be/,
  });
  assert.throws(() => policy("p", { bulkhead: 3 as never }), {
    name: "TypeError",
    message: "bulkhead must be an object: received 3",
  });
});

Deno.test("shared parts keep their own names and events go to the policy that caused them", async () => {
  const clock = new VirtualClock();
  const shared = new FailureBudget({
    name: "fleet",
    threshold: 0.4,
    windowMs: 1_000,
    minSamples: 2,
    clock,
  });
  const ra = recorder();
  const rb = recorder();
  const a = policy("a", {
    retry: { maxAttempts: 1 },
    clock,
    onEvent: ra.onEvent,
    failureBudget: shared,
  });
  const b = policy("b", {
    retry: { maxAttempts: 1 },
    clock,
    onEvent: rb.onEvent,
    failureBudget: shared,
  });
  await b.execute(() => "ok");
  await settleLater(a.execute(fail)); // 1 of 2 failed: 0.5 > 0.4 -> breach caused by a
  assert.deepEqual(ra.types().filter((t) => t.startsWith("failure_budget")), [
    "failure_budget_breach",
  ]);
  assert.deepEqual(rb.types().filter((t) => t.startsWith("failure_budget")), []);
  assert.equal(ra.events.find((e) => e.type === "failure_budget_breach")?.policy, "fleet");
});

Deno.test("an open circuit ends the call with CircuitOpenError without calling fn; policies can share a breaker", async () => {
  const { CircuitBreaker } = await import("../../src/circuit/circuit_breaker.ts");
  const { CircuitOpenError } = await import("../../src/core/errors.ts");
  const clock = new VirtualClock();
  const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 2, breakMs: 5_000, clock });
  const ra = recorder();
  const rb = recorder();
  const a = policy("a", {
    retry: { maxAttempts: 1 },
    clock,
    onEvent: ra.onEvent,
    circuit: breaker,
  });
  const b = policy("b", {
    clock,
    onEvent: rb.onEvent,
    circuit: breaker,
    retry: { maxAttempts: 5 },
  });
  await settleLater(a.execute(fail));
  await settleLater(a.execute(fail)); // opens the shared breaker
  assert.equal(breaker.state, "open");
  let called = false;
  const r = await settleLater(b.execute(() => (called = true)));
  assert.equal(called, false);
  assert.ok(!r.ok && r.error instanceof CircuitOpenError);
  assert.equal(r.error.retryAfterMs, 5_000);
  assert.equal(r.error.policy, "b");
  // The transition is reported by the policy whose call caused it, once.
  assert.equal(ra.types().filter((t) => t === "circuit_transition").length, 1);
  assert.deepEqual(rb.types(), ["circuit_rejected"]);
  await clock.advance(5_000);
  assert.equal(await b.execute(() => "probe ok"), "probe ok");
  assert.equal(breaker.state, "closed");
  assert.deepEqual(
    rb.events.filter((e) => e.type === "circuit_transition").map((e) =>
      e.type === "circuit_transition" ? `${e.from}->${e.to}` : ""
    ),
    ["open->half_open", "half_open->closed"],
  );
});

Deno.test("a breaker opening mid-call stops the retry loop with CircuitOpenError", async () => {
  const { CircuitOpenError } = await import("../../src/core/errors.ts");
  const clock = new VirtualClock();
  let attempts = 0;
  const p = policy("api", {
    clock,
    retry: { maxAttempts: 10, backoff: constant(10) },
    circuit: { kind: "consecutive", threshold: 3, breakMs: 1_000 },
  });
  const r = settleLater(p.execute(() => {
    attempts++;
    return fail();
  }));
  await clock.runAll();
  const out = await r;
  assert.ok(!out.ok && out.error instanceof CircuitOpenError);
  assert.equal(attempts, 3);
  assert.ok(out.error.cause instanceof TransientError);
  assert.equal(p.circuit!.name, "api", "an owned breaker is named after the policy");
});

Deno.test("disposing a policy detaches it from the shared parts it was given", async () => {
  const { CircuitBreaker } = await import("../../src/circuit/circuit_breaker.ts");
  const clock = new VirtualClock();
  const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 1, breakMs: 100, clock });
  const rec = recorder();
  const p = policy("short-lived", {
    retry: { maxAttempts: 1 },
    clock,
    onEvent: rec.onEvent,
    circuit: breaker,
  });
  await settleLater(p.execute(fail));
  assert.equal(rec.types().filter((t) => t === "circuit_transition").length, 1);
  p[Symbol.dispose]();
  breaker.reset();
  await clock.advance(100);
  await settleLater(p.execute(fail)); // still works, no longer hears the breaker
  assert.equal(breaker.state, "open");
  assert.equal(rec.types().filter((t) => t === "circuit_transition").length, 1);
});

// Hedged calls in virtual time, with exact times: when hedges start, who
// wins, what the losers see and what the circuit records (DESIGN.md §6).
import assert from "node:assert/strict";
import { policy, type PolicyOptions } from "../../src/policy/policy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import {
  DeadlineExceededError,
  HedgeCancelledError,
  RetryExhaustedError,
} from "../../src/core/errors.ts";
import { PermanentError, TransientError } from "../../src/classify/markers.ts";
import { constant } from "../../src/backoff/constant.ts";
import type { ResilienceEvent } from "../../src/core/events.ts";
import type { AttemptContext } from "../../src/engine/attempt.ts";
import { RetryBudget } from "../../src/budget/retry_budget.ts";
import { finish, flush, manual, track } from "../_wheel.ts";

/** Attempt n takes plan[n-1].ms, then fails with plan[n-1].fail or returns "r<n>". */
interface Step {
  ms: number;
  fail?: Error;
}

function scripted(clock: VirtualClock, plan: Step[]) {
  const starts: number[] = [];
  const aborts: unknown[] = [];
  const fn = async ({ attempt, signal }: AttemptContext) => {
    starts.push(clock.now());
    const step = plan[attempt - 1];
    try {
      await clock.sleep(step.ms, signal);
    } catch (error) {
      aborts[attempt - 1] = signal.reason;
      throw error;
    }
    if (step.fail !== undefined) throw step.fail;
    return `r${attempt}`;
  };
  return { fn, starts, aborts };
}

function hedged(clock: VirtualClock, options: PolicyOptions = {}) {
  const events: ResilienceEvent[] = [];
  const p = policy("search", {
    clock,
    telemetry: false,
    onEvent: (e) => events.push(e),
    hedge: { delayMs: 10, maxHedges: 2 },
    retry: { maxAttempts: 5, backoff: constant(1_000) },
    ...options,
  });
  return { p, events };
}

/** Runs one call to its end; returns its outcome and the time it settled. */
async function settle<T>(clock: VirtualClock, promise: Promise<T>) {
  let at = NaN;
  const outcome = promise.then(
    (value) => ({ value, error: undefined, at: at = clock.now() }),
    (error) => ({ value: undefined, error, at: at = clock.now() }),
  );
  await clock.runAll();
  const result = await outcome;
  assert.equal(result.at, at);
  return result;
}

const types = (events: ResilienceEvent[]) => events.map((e) => `${e.type}@${e.timestamp}`);

Deno.test("hedges start at 0, d and 2d; the first success wins and the others' signals abort", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock);
  const { fn, starts, aborts } = scripted(clock, [{ ms: 100 }, { ms: 100 }, { ms: 15 }]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.value, "r3");
  assert.equal(result.at, 35);
  assert.deepEqual(starts, [0, 10, 20]);
  for (const [i, reason] of [aborts[0], aborts[1]].entries()) {
    assert.ok(reason instanceof HedgeCancelledError);
    assert.equal(reason.attempt, i + 1);
    assert.equal(reason.winner, 3);
    assert.equal(reason.policy, "search");
    assert.equal(
      reason.message,
      `policy "search" cancelled attempt ${i + 1}: attempt 3 ended the call`,
    );
  }
  assert.equal(aborts[2], undefined);
  assert.deepEqual(types(events), ["hedge@10", "hedge@20", "success@35"]);
  assert.deepEqual(
    events.filter((e) => e.type === "hedge").map((e) => [e.attempt, e.delayMs]),
    [[2, 10], [3, 10]],
  );
  assert.equal(clock.pending, 0, "no timer left behind");
});

Deno.test("a call that succeeds before the hedge delay sends no hedge and leaves no timer", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock);
  const { fn, starts } = scripted(clock, [{ ms: 9 }]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.value, "r1");
  assert.equal(result.at, 9);
  assert.deepEqual(starts, [0]);
  assert.deepEqual(types(events), ["success@9"]);
  assert.equal(clock.pending, 0);
});

Deno.test("losers leave the circuit's counts unchanged: one success, no failure", async () => {
  const clock = new VirtualClock();
  const { p } = hedged(clock, {
    circuit: { kind: "count", size: 10, threshold: 0.5, minCalls: 10, breakMs: 1_000 },
  });
  const { fn } = scripted(clock, [{ ms: 100 }, { ms: 100 }, { ms: 5 }]);
  assert.equal((await settle(clock, p.execute(fn))).value, "r3");
  const stats = p.circuit!.stats();
  assert.equal(stats.successes, 1);
  assert.equal(stats.failures, 0);
  assert.equal(stats.probesInFlight, 0);
});

Deno.test("a retryable failure with nothing else in flight starts the next attempt at once, without backoff", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock);
  const { fn, starts } = scripted(clock, [{ ms: 3, fail: new TransientError("blip") }, { ms: 5 }]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.value, "r2");
  assert.deepEqual(starts, [0, 3]);
  assert.equal(result.at, 8);
  assert.deepEqual(types(events), ["retry@3", "success@8"]);
  assert.equal((events[0] as { delayMs: number }).delayMs, 0);
});

Deno.test("a failed hedge while another attempt runs starts nothing at once; the next hedge keeps its schedule", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock, { hedge: { delayMs: 10, maxHedges: 1 } });
  const { fn, starts, aborts } = scripted(clock, [
    { ms: 50 },
    { ms: 5, fail: new TransientError("blip") },
    { ms: 100 },
  ]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.value, "r1");
  assert.equal(result.at, 50);
  // Attempt 2 failed at 15 while attempt 1 ran: attempt 3 waited for the delay (20).
  assert.deepEqual(starts, [0, 10, 20]);
  assert.ok(aborts[2] instanceof HedgeCancelledError);
  assert.deepEqual(types(events), ["hedge@10", "hedge@20", "success@50"]);
});

Deno.test("a permanent failure ends the call at once and aborts the attempts in flight", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock);
  const permanent = new PermanentError("bad request");
  const { fn, starts, aborts } = scripted(clock, [{ ms: 100 }, { ms: 5, fail: permanent }]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.error, permanent);
  assert.equal(result.at, 15);
  assert.deepEqual(starts, [0, 10]);
  assert.ok(aborts[0] instanceof HedgeCancelledError);
  assert.equal((aborts[0] as HedgeCancelledError).winner, 2);
  assert.deepEqual(types(events), ["hedge@10", "permanent_fail@15"]);
});

Deno.test("maxAttempts caps hedges: they count as attempts", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock, {
    hedge: { delayMs: 10, maxHedges: 3 },
    retry: { maxAttempts: 2 },
  });
  const { fn, starts } = scripted(clock, [{ ms: 100 }, { ms: 100 }]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.value, "r1");
  assert.equal(result.at, 100);
  assert.deepEqual(starts, [0, 10]);
  assert.deepEqual(types(events), ["hedge@10", "success@100"]);
});

Deno.test("attempts all failing: the call gives up with max_attempts after the last one", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock, { retry: { maxAttempts: 3 } });
  const blip = (ms: number) => ({ ms, fail: new TransientError(`blip ${ms}`) });
  const { fn, starts } = scripted(clock, [blip(30), blip(25), blip(12)]);
  const result = await settle(clock, p.execute(fn));
  assert.ok(result.error instanceof RetryExhaustedError);
  assert.equal(result.error.attempts, 3);
  assert.equal(result.error.reason, "max_attempts");
  // 0-30, 10-35, 20-32: the last failure (attempt 2, at 35) ends the call.
  assert.equal((result.error.cause as Error).message, "blip 25");
  assert.equal(result.at, 35);
  assert.deepEqual(starts, [0, 10, 20]);
  assert.deepEqual(types(events), ["hedge@10", "hedge@20", "max_attempts_exceeded@35"]);
});

Deno.test("the deadline aborts every attempt in flight", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock, { deadlineMs: 25 });
  const { fn, starts, aborts } = scripted(clock, [{ ms: 100 }, { ms: 100 }, { ms: 100 }]);
  const result = await settle(clock, p.execute(fn));
  assert.ok(result.error instanceof DeadlineExceededError);
  assert.equal(result.error.message, 'policy "search" deadline exceeded after 3 attempts');
  assert.equal(result.at, 25);
  assert.deepEqual(starts, [0, 10, 20]);
  assert.deepEqual(aborts, [result.error, result.error, result.error]);
  assert.deepEqual(types(events), ["hedge@10", "hedge@20", "deadline_exceeded@25"]);
  assert.equal(clock.pending, 0);
});

Deno.test("the caller's abort stops every attempt; nothing is recorded by the circuit", async () => {
  const clock = new VirtualClock();
  const { p } = hedged(clock, {
    circuit: { kind: "consecutive", threshold: 1, breakMs: 1_000 },
  });
  const { fn, starts, aborts } = scripted(clock, [{ ms: 100 }, { ms: 100 }, { ms: 100 }]);
  const controller = new AbortController();
  const call = p.execute(fn, { signal: controller.signal });
  await clock.advance(15);
  controller.abort(new Error("user left"));
  const result = await settle(clock, call);
  assert.equal((result.error as Error).message, "user left");
  assert.deepEqual(starts, [0, 10]);
  assert.equal((aborts[0] as Error).message, "user left");
  assert.equal((aborts[1] as Error).message, "user left");
  assert.equal(p.circuit!.state, "closed");
  assert.equal(p.circuit!.stats().failures, 0);
});

Deno.test("a hedge the retry budget refuses is not sent; the call goes on", async () => {
  const clock = new VirtualClock();
  const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 0, clock });
  const { p, events } = hedged(clock, { retry: { maxAttempts: 5, retryBudget: budget } });
  const { fn, starts } = scripted(clock, [{ ms: 100 }]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.value, "r1");
  assert.deepEqual(starts, [0]);
  assert.deepEqual(types(events), ["success@100"]);
});

Deno.test("the percentile delay sends nothing before 100 samples, then follows the latencies", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock, { hedge: { delayMs: "p95", maxHedges: 1 } });
  const hedges = () => events.filter((e) => e.type === "hedge") as { delayMs: number }[];
  const call = async (ms: number) => {
    const { fn } = scripted(clock, [{ ms }, { ms }]);
    return (await settle(clock, p.execute(fn))).value;
  };
  // 99 samples: 94 at 10 ms, 5 at 50 ms; still no hedge, however slow a call.
  for (let i = 0; i < 94; i++) await call(10);
  for (let i = 0; i < 5; i++) await call(50);
  assert.equal(await call(200), "r1");
  assert.equal(hedges().length, 0);
  // 100 samples now (the 200 ms call was the 100th): p95 is 50 ms.
  await call(200);
  assert.equal(hedges().length, 1);
  // (The upper end of p95's bucket: never below the percentile, at most 2 % above.)
  const first = hedges()[0].delayMs;
  assert.ok(first >= 50 && first <= 51, `${first}`);
  // 1,000 fast samples later, the delay follows them down to about 10 ms.
  for (let i = 0; i < 1_000; i++) await call(10);
  const before = hedges().length;
  await call(200);
  assert.equal(hedges().length, before + 1);
  const later = hedges()[before].delayMs;
  assert.ok(later >= 10 && later <= 10.2, `${later}`);
});

Deno.test("a percentile delay is never below minDelayMs", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock, { hedge: { delayMs: "p50", minDelayMs: 5 } });
  for (let i = 0; i < 100; i++) {
    const { fn } = scripted(clock, [{ ms: 1 }]);
    await settle(clock, p.execute(fn));
  }
  const { fn, starts } = scripted(clock, [{ ms: 100 }, { ms: 1 }]);
  const start = clock.now();
  await settle(clock, p.execute(fn));
  assert.deepEqual(starts.map((t) => t - start), [0, 5]);
  assert.equal(events.filter((e) => e.type === "hedge").length, 1);
});

Deno.test("a call with a signal (the general path) hedges the same way", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock);
  const { fn, starts } = scripted(clock, [{ ms: 100 }, { ms: 100 }, { ms: 15 }]);
  const result = await settle(
    clock,
    p.execute(fn, { signal: new AbortController().signal }),
  );
  assert.equal(result.value, "r3");
  assert.equal(result.at, 35);
  assert.deepEqual(starts, [0, 10, 20]);
  assert.deepEqual(types(events), ["hedge@10", "hedge@20", "success@35"]);
});

Deno.test("an attempt timeout fails one attempt; the hedge beside it goes on, and a new one fills its place", async () => {
  const clock = new VirtualClock();
  const { p, events } = hedged(clock, { attemptTimeoutMs: 30, hedge: { delayMs: 10 } });
  const { fn, starts } = scripted(clock, [{ ms: 100 }, { ms: 25 }]);
  const result = await settle(clock, p.execute(fn));
  assert.equal(result.value, "r2");
  assert.equal(result.at, 35);
  // Attempt 1 timed out at 30 with attempt 2 in flight: room for a hedge,
  // and its delay since the last start (10) had passed, so one starts at 30.
  assert.deepEqual(starts, [0, 10, 30]);
  assert.deepEqual(types(events), [
    "hedge@10",
    "attempt_timeout@30",
    "hedge@30",
    "success@35",
  ]);
});

Deno.test("bad hedge options name the option and the value", () => {
  const cases: [unknown, string, string][] = [
    [
      { delayMs: 10, maxHedges: 0 },
      "RangeError",
      "hedge.maxHedges must be an integer >= 1: received 0",
    ],
    [
      { delayMs: 10, maxHedges: 1.5 },
      "RangeError",
      "hedge.maxHedges must be an integer >= 1: received 1.5",
    ],
    [{ delayMs: -1 }, "RangeError", "hedge.delayMs must be a number >= 0: received -1"],
    [{ delayMs: NaN }, "RangeError", "hedge.delayMs must be a number >= 0: received NaN"],
    [
      { delayMs: Infinity },
      "RangeError",
      "hedge.delayMs must be a number >= 0: received Infinity",
    ],
    [
      { delayMs: "p42" },
      "TypeError",
      'hedge.delayMs must be a number of milliseconds >= 0 or one of "p50", "p90", "p95", "p99": received "p42"',
    ],
    [
      {},
      "TypeError",
      'hedge.delayMs must be a number of milliseconds >= 0 or one of "p50", "p90", "p95", "p99": received undefined',
    ],
    [
      { delayMs: 10, minDelayMs: -2 },
      "RangeError",
      "hedge.minDelayMs must be a number >= 0: received -2",
    ],
    [
      { delayMs: 10, delay: 5 },
      "TypeError",
      "hedge.delay is not a known option (expected one of: delayMs, maxHedges, minDelayMs)",
    ],
    [5, "TypeError", "hedge must be an object: received 5"],
  ];
  for (const [hedge, name, message] of cases) {
    assert.throws(
      () => policy("p", { telemetry: false, hedge: hedge as PolicyOptions["hedge"] }),
      { name, message },
      JSON.stringify(hedge),
    );
  }
  assert.throws(
    () => policy("p", { telemetry: false, hedge: null as unknown as PolicyOptions["hedge"] }),
    /^TypeError: hedge must be left out/,
  );
});

Deno.test("on a timer wheel (the system clock's kind), the fast path's one timer entry is the hedge delay", async () => {
  const m = manual(5);
  const p = policy("search", {
    clock: m.clock,
    telemetry: false,
    deadlineMs: 1_000,
    hedge: { delayMs: 10 },
  });
  const starts: number[] = [];
  const signals: AbortSignal[] = [];
  const resolvers: ((value: string) => void)[] = [];
  const call = track(p.execute(({ signal }) => {
    starts.push(m.now());
    signals.push(signal);
    return new Promise<string>((resolve) => resolvers.push(resolve));
  }));
  await m.at(1_005);
  assert.deepEqual(starts, [1_000]);
  await m.at(1_010);
  assert.deepEqual(starts, [1_000, 1_010]);
  resolvers[1]("r2");
  await flush();
  assert.equal(call.value, "r2");
  assert.ok(signals[0].reason instanceof HedgeCancelledError);
  assert.equal(signals[1].aborted, false);
  // The first attempt's late outcome changes nothing.
  resolvers[0]("r1");
  await flush();
  assert.equal(call.value, "r2");
  await finish(m.wheel);
});

/**
 * Hardening ("keep what holds"): 10,000 seeded calls on a VirtualClock
 * through one policy (deadline, attempt timeout, retries, circuit, bulkhead),
 * mixing hanging attempts, caller aborts, per-call deadlines, open circuits
 * and full bulkheads. Every call settles exactly once, by its deadline (or
 * its abort) plus one tick; the bulkhead drains to 0. A listener that throws
 * on every event changes no outcome and no settle time.
 */
import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { seededRandom } from "../../src/core/random.ts";
import { policy } from "../../src/policy/policy.ts";
import { constant } from "../../src/backoff/constant.ts";
import { TransientError } from "../../src/classify/markers.ts";
import {
  AttemptTimeoutError,
  BulkheadRejectedError,
  CircuitOpenError,
  DeadlineExceededError,
  RetryExhaustedError,
} from "../../src/core/errors.ts";

const CALLS = 10_000;
const DEADLINE_MS = 1_000;
const TICK_MS = 1;

interface SoakRun {
  /** Per call: "ok" or the kind of error. */
  outcome: string[];
  settledCount: Uint8Array;
  settledAt: Float64Array;
  /** Per call: the earliest of its deadline and its abort, plus one tick. */
  bound: Float64Array;
  outcomes: Map<string, number>;
  unexpected: string[];
  events: number;
  inFlight: number;
  queued: number;
}

/** One seeded soak run; `onEvent` receives every event of the policy and its parts. */
async function soak(onEvent?: (e: { type: string }) => void): Promise<SoakRun> {
  const clock = new VirtualClock();
  let events = 0;
  const rnd = seededRandom(20261201);
  const p = policy("soak", {
    telemetry: false,
    clock,
    random: seededRandom(7),
    onEvent: (e) => {
      events++;
      onEvent?.(e);
    },
    deadlineMs: DEADLINE_MS,
    attemptTimeoutMs: 150,
    retry: { maxAttempts: 3, backoff: constant(40) },
    circuit: { kind: "consecutive", threshold: 15, breakMs: 200 },
    bulkhead: { maxConcurrent: 100, maxQueue: 50, queueTimeoutMs: 300 },
  });
  const bulkhead = p.bulkhead!;

  /** Phases of (virtual) time with different failure mixes, so the circuit opens and closes. */
  const failureRate = (t: number) => (Math.floor(t / 400) % 5 === 1 ? 0.9 : 0.05);

  const settledCount = new Uint8Array(CALLS);
  const bound = new Float64Array(CALLS);
  const settledAt = new Float64Array(CALLS);
  const outcomes = new Map<string, number>();
  const outcome: string[] = new Array(CALLS);
  const count = (i: number, k: string) => {
    outcome[i] = k;
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  };
  const unexpected: string[] = [];
  const abortReason = new Error("caller aborted");
  let started = 0;

  function start(i: number): void {
    const now = clock.now();
    const kind = rnd();
    const failRate = failureRate(now);
    const callDeadline = rnd() < 0.2 ? now + 50 + Math.floor(rnd() * 400) : undefined;
    let abortAt = Infinity;
    let signal: AbortSignal | undefined;
    if (rnd() < 0.1) {
      const controller = new AbortController();
      signal = controller.signal;
      const delay = Math.floor(rnd() * 600);
      abortAt = now + delay;
      clock.setTimer(() => controller.abort(abortReason), delay);
    }
    bound[i] = Math.min(now + DEADLINE_MS, callDeadline ?? Infinity, abortAt) + TICK_MS;
    const op = ({ signal: attemptSignal }: { signal: AbortSignal }) => {
      if (kind < 0.05) return new Promise<never>(() => {}); // hangs, ignores its signal
      const ms = Math.floor(rnd() * 120);
      const fail = rnd() < failRate;
      return clock.sleep(ms, attemptSignal).then(() => {
        if (fail) throw new TransientError("boom");
        return i;
      });
    };
    p.execute(op, {
      ...(signal === undefined ? {} : { signal }),
      ...(callDeadline === undefined ? {} : { deadline: callDeadline }),
    }).then(
      (v) => {
        settledCount[i]++;
        settledAt[i] = clock.now();
        if (v !== i) unexpected.push(`call ${i} returned ${v}`);
        count(i, "ok");
      },
      (e) => {
        settledCount[i]++;
        settledAt[i] = clock.now();
        if (e === abortReason) count(i, "aborted");
        else if (e instanceof DeadlineExceededError) count(i, "deadline");
        else if (e instanceof CircuitOpenError) count(i, "circuit_open");
        else if (e instanceof BulkheadRejectedError) count(i, "bulkhead_full");
        else if (e instanceof RetryExhaustedError) count(i, "exhausted");
        else if (e instanceof AttemptTimeoutError) count(i, "attempt_timeout");
        else unexpected.push(`call ${i}: ${String(e)}`);
      },
    );
  }

  // 10,000 calls over ~7,000 virtual ms, in bursts, then time until all settle.
  while (started < CALLS) {
    const burst = rnd() < 0.004 ? 250 : rnd() < 0.5 ? 1 : 0;
    for (let k = 0; k < burst && started < CALLS; k++) start(started++);
    await clock.advance(TICK_MS);
  }
  const end = clock.now() + DEADLINE_MS + 10;
  while (clock.now() < end) await clock.advance(TICK_MS);

  const run: SoakRun = {
    outcome,
    settledCount,
    settledAt,
    bound,
    outcomes,
    unexpected,
    events,
    inFlight: bulkhead.inFlight,
    queued: bulkhead.queued,
  };
  p[Symbol.dispose]();
  return run;
}

Deno.test("soak: 10,000 mixed calls settle once, by deadline + one tick; bulkhead drains", async () => {
  const { outcome, settledCount, settledAt, bound, outcomes, unexpected, inFlight, queued } =
    await soak();
  assert.deepEqual(unexpected, []);
  const late: string[] = [];
  for (let i = 0; i < CALLS; i++) {
    assert.equal(settledCount[i], 1, `call ${i} settled ${settledCount[i]} times`);
    assert.ok(outcome[i] !== undefined);
    if (settledAt[i] > bound[i]) late.push(`call ${i}: at ${settledAt[i]}, bound ${bound[i]}`);
  }
  assert.deepEqual(late.slice(0, 10), []);
  assert.equal(inFlight, 0);
  assert.equal(queued, 0);
  if (Deno.env.get("BULWARK_SOAK_REPORT")) console.log(JSON.stringify([...outcomes]));
  // Every mix was exercised.
  for (const k of ["ok", "aborted", "deadline", "circuit_open", "bulkhead_full"]) {
    assert.ok((outcomes.get(k) ?? 0) > 0, `no ${k} outcome: ${JSON.stringify([...outcomes])}`);
  }
});

Deno.test("soak: a listener that throws on every event changes no outcome and no settle time", async () => {
  const quiet = await soak();
  let thrown = 0;
  const noisy = await soak(() => {
    thrown++;
    throw new Error("listener bug");
  });
  assert.ok(thrown > 1_000, `only ${thrown} events`);
  assert.equal(noisy.events, quiet.events);
  assert.deepEqual(noisy.unexpected, []);
  assert.deepEqual(noisy.outcome, quiet.outcome);
  assert.deepEqual(noisy.settledAt, quiet.settledAt);
  assert.deepEqual(noisy.settledCount, quiet.settledCount);
  assert.equal(noisy.inFlight, 0);
  assert.equal(noisy.queued, 0);
});

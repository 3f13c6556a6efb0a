import assert from "node:assert/strict";
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerSnapshot,
} from "../src/circuit/circuit_breaker.ts";
import { ConsecutiveDetector } from "../src/circuit/consecutive_detector.ts";
import { CountDetector } from "../src/circuit/count_detector.ts";
import { TimeDetector } from "../src/circuit/time_detector.ts";
import { createDetector } from "../src/circuit/detector.ts";
import type { BackoffContext } from "../src/backoff/strategy.ts";
import { exponential } from "../src/backoff/exponential.ts";
import type { Clock } from "../src/core/clock.ts";
import { CircuitOpenError } from "../src/core/errors.ts";
import type {
  CircuitRejectedEvent,
  CircuitTransitionEvent,
  ResilienceEvent,
} from "../src/core/events.ts";
import { VirtualClock } from "../src/core/virtual_clock.ts";
import { recorder } from "./_helpers.ts";
import { throwsExactly } from "./_helpers.ts";

type Options = CircuitBreakerOptions;

/** A breaker on a fresh VirtualClock with an event recorder. */
function setup(options: Options) {
  const clock = new VirtualClock();
  const rec = recorder();
  const breaker = new CircuitBreaker({ ...options, clock, onEvent: rec.onEvent } as Options);
  const transitions = () =>
    rec.events
      .filter((e): e is CircuitTransitionEvent => e.type === "circuit_transition")
      .map((e) => `${e.from}->${e.to}:${e.reason}`);
  const rejections = () =>
    rec.events.filter((e): e is CircuitRejectedEvent => e.type === "circuit_rejected");
  return { clock, rec, breaker, transitions, rejections };
}

/** Asserts that the breaker never set a timer on the clock. */
function noTimers(clock: VirtualClock): void {
  assert.equal(clock.pending, 0);
  assert.equal(clock.timersCreated, 0);
}

/** Feeds "S" (success), "F" (failure) and "W" (slow success, 1 s) through allowCall/record. */
function feed(breaker: CircuitBreaker, script: string): string[] {
  const states: string[] = [];
  for (const step of script) {
    assert.equal(breaker.allowCall(), true, "only feed while the circuit admits calls");
    if (step === "F") breaker.recordFailure();
    else if (step === "W") breaker.recordSuccess(1_000);
    else breaker.recordSuccess(step === "S" ? 1 : undefined);
    states.push(breaker.state);
  }
  return states;
}

/** Index (1-based) of the call after which the circuit opened, or 0. */
function openedAfter(options: Options, script: string): number {
  const { breaker } = setup(options);
  const states = feed(breaker, script);
  const i = states.indexOf("open");
  if (i >= 0) assert.equal(i, states.length - 1, "the script must end at the opening");
  return i + 1;
}

// --- 1. detectors trip exactly at their threshold ------------------------------------------

Deno.test("detectors trip exactly at their threshold (table)", () => {
  const cases: Array<[string, Options, string, number]> = [
    ["consecutive 3: F,F stays closed", { kind: "consecutive", threshold: 3 }, "FF", 0],
    ["consecutive 3: the third F opens", { kind: "consecutive", threshold: 3 }, "FFF", 3],
    ["consecutive 3: a success resets the run", { kind: "consecutive", threshold: 3 }, "FFSFF", 0],
    ["consecutive 3: ...then three in a row", { kind: "consecutive", threshold: 3 }, "FFSFFF", 6],
    ["consecutive 1: one failure", { kind: "consecutive", threshold: 1 }, "SSF", 3],
    [
      "count 10/0.5: 4 failures in 10 stays closed",
      { kind: "count", size: 10, threshold: 0.5 },
      "FFFFSSSSSS",
      0,
    ],
    [
      "count 10/0.5: 5 failures in 9 calls is below minCalls (10)",
      { kind: "count", size: 10, threshold: 0.5 },
      "FFFFFSSSS",
      0,
    ],
    [
      "count 10/0.5: the 10th call (a success) reaches minCalls at ratio 0.5 (>=)",
      { kind: "count", size: 10, threshold: 0.5 },
      "FFFFFSSSSS",
      10,
    ],
    [
      "count 10/0.3: 3 of 10 is exactly 0.3",
      { kind: "count", size: 10, threshold: 0.3 },
      "SSSSSSSFFF",
      10,
    ],
    [
      "count 4/0.5 minCalls 2: 1 of 2",
      { kind: "count", size: 4, threshold: 0.5, minCalls: 2 },
      "SF",
      2,
    ],
    [
      "count 4/0.5 minCalls 2: 1 of 3 stays closed, 2 of 4 opens",
      { kind: "count", size: 4, threshold: 0.5, minCalls: 2 },
      "SSFF",
      4,
    ],
    [
      "count 4/0.75: the window slides (SFFS = 0.5, then FFSF = 0.75)",
      { kind: "count", size: 4, threshold: 0.75 },
      "SFFSF",
      5,
    ],
    [
      "count 4/0.75: old failures leave the window",
      { kind: "count", size: 4, threshold: 0.75 },
      "FFSSSFF",
      0,
    ],
    [
      "count 1/1: a single failure",
      { kind: "count", size: 1, threshold: 1 },
      "SSF",
      3,
    ],
    [
      "time: minThroughput 4, 3 failures stay closed",
      { kind: "time", windowMs: 1_000, threshold: 0.5, minThroughput: 4 },
      "FFF",
      0,
    ],
    [
      "time: minThroughput 4, the 4th call opens",
      { kind: "time", windowMs: 1_000, threshold: 0.5, minThroughput: 4 },
      "FFFS",
      4,
    ],
    [
      "time: 1 failure in 4 is below 0.5",
      { kind: "time", windowMs: 1_000, threshold: 0.5, minThroughput: 4 },
      "SSSFS",
      0,
    ],
    [
      "time: default minThroughput is 100",
      { kind: "time", windowMs: 1_000, threshold: 0.5 },
      "F".repeat(99),
      0,
    ],
    [
      "time: ...and the 100th failure opens",
      { kind: "time", windowMs: 1_000, threshold: 0.5 },
      "F".repeat(100),
      100,
    ],
  ];
  for (const [label, options, script, expected] of cases) {
    assert.equal(openedAfter(options, script), expected, label);
  }
});

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

Deno.test("time window forgets failures older than windowMs", async () => {
  const { breaker, clock } = setup({
    kind: "time",
    windowMs: 1_000,
    threshold: 0.5,
    minThroughput: 4,
  });
  feed(breaker, "FFF");
  await clock.advance(1_000);
  // the three failures are gone: 1 failure in 4 calls
  assert.deepEqual(feed(breaker, "SSSF"), ["closed", "closed", "closed", "closed"]);
  assert.equal(breaker.stats().failureRate, 0.25);
  // within the window they still count
  await clock.advance(500);
  feed(breaker, "F"); // 2 of 5
  assert.equal(breaker.state, "closed");
  feed(breaker, "F"); // 3 of 6
  assert.equal(breaker.state, "open");
  noTimers(clock);
});

Deno.test("time window precision: bucket granularity is windowMs / buckets", () => {
  const d = new TimeDetector({ windowMs: 1_000, buckets: 10, threshold: 1, minThroughput: 1 });
  assert.equal(d.bucketMs, 100);
  d.record(true, 0);
  assert.equal(d.calls(999), 1, "age 999 < windowMs: still counted");
  assert.equal(d.calls(1_000), 0, "age == windowMs: forgotten");

  d.reset();
  d.record(true, 50); // same bucket as t = 0
  assert.equal(d.calls(950), 1, "age 900 == windowMs - bucketMs: counted");
  assert.equal(d.calls(999), 1);
  assert.equal(d.calls(1_000), 0, "age 950: forgotten with its bucket (precision bucketMs)");

  d.reset();
  d.record(true, 99);
  assert.equal(d.calls(999), 1);
  assert.equal(d.calls(1_000), 0, "age 901: gone");

  // a clock that steps back counts into the newest bucket
  d.reset();
  d.record(true, 500);
  d.record(false, 100);
  assert.equal(d.calls(1_499), 2, "both in the bucket of t = 500");
  assert.equal(d.calls(1_500), 0);

  // one bucket: the window is aligned to multiples of windowMs
  const one = new TimeDetector({ windowMs: 1_000, buckets: 1, threshold: 1, minThroughput: 1 });
  one.record(true, 999);
  assert.equal(one.calls(999), 1);
  assert.equal(one.calls(1_000), 0);

  // negative clock times work too
  const neg = new TimeDetector({ windowMs: 1_000, buckets: 3, threshold: 1, minThroughput: 1 });
  neg.record(true, -1_500);
  assert.equal(neg.calls(-1_000), 1);
  // -1500 lies in the bucket [-1666.7, -1333.3), which leaves the window when the
  // bucket starting at -666.7 begins
  assert.equal(neg.calls(-667), 1);
  assert.equal(neg.calls(-666), 0);
  assert.equal(neg.calls(-500), 0, "age 1000: gone");
});

Deno.test("time window expires buckets one by one (running totals stay exact)", () => {
  const d = new TimeDetector({ windowMs: 400, buckets: 4, threshold: 0.5, minThroughput: 1 });
  d.record(true, 0); // bucket 0
  d.record(false, 100); // bucket 1
  d.record(false, 200); // bucket 2
  d.record(true, 300); // bucket 3
  assert.equal(d.failureRate(399), 0.5);
  assert.equal(d.calls(400), 3); // bucket 0 gone
  assert.equal(d.failureRate(400), 1 / 3);
  assert.equal(d.calls(600), 1); // buckets 1, 2 gone
  assert.equal(d.failureRate(600), 1);
  assert.equal(d.tripReason(600), "failure_threshold");
  assert.equal(d.calls(700), 0);
  assert.equal(d.failureRate(700), 0);
  assert.equal(d.tripReason(700), undefined);
});

Deno.test("standalone detectors: record / shouldOpen / reset / rates", () => {
  const c = new ConsecutiveDetector({ threshold: 2 });
  assert.equal(c.needsTime, false);
  c.record(true, 0);
  assert.equal(c.shouldOpen(0), false);
  assert.equal(c.consecutiveFailures, 1);
  c.record(true, 0);
  assert.equal(c.shouldOpen(0), true);
  assert.equal(c.failureRate(0), undefined);
  assert.equal(c.slowCallRate(0), undefined);
  c.reset();
  assert.equal(c.consecutiveFailures, 0);

  const n = new CountDetector({ size: 3, threshold: 0.5, minCalls: 1 });
  assert.equal(n.failureRate(0), 0);
  n.record(false, 0);
  n.record(true, 0);
  assert.equal(n.calls, 2);
  assert.equal(n.failureRate(0), 0.5);
  assert.equal(n.shouldOpen(0), true);
  n.reset();
  assert.equal(n.calls, 0);
  assert.equal(n.shouldOpen(0), false);

  const t = new TimeDetector({ windowMs: 10, threshold: 1, minThroughput: 1 });
  assert.equal(t.needsTime, true);
  assert.equal(t.minThroughput, 1);
  assert.equal(t.bucketCount, 10);
  assert.equal(new TimeDetector({ windowMs: 10, threshold: 1 }).minThroughput, 100);

  assert.equal(createDetector({ kind: "count", size: 5, threshold: 1 }).kind, "count");
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

// --- 2. half-open ------------------------------------------------------------------------

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

// --- 3. breakMs as a strategy ------------------------------------------------------------

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

Deno.test("breakMs strategy: an invalid result throws and leaves the state alone", () => {
  for (const bad of [NaN, -1, Infinity, "5"]) {
    const breaker = new CircuitBreaker({
      kind: "consecutive",
      threshold: 1,
      breakMs: () => bad as number,
      clock: new VirtualClock(),
    });
    assert.equal(breaker.allowCall(), true);
    assert.throws(
      () => breaker.recordFailure(),
      (e: unknown) =>
        e instanceof (typeof bad === "number" ? RangeError : TypeError) &&
        e.message.startsWith("breakMs must be a strategy returning a finite number >= 0: received"),
    );
    assert.equal(breaker.state, "closed");
  }
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

// --- 4. isolation ------------------------------------------------------------------------

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

// --- 5. persistence and stats ------------------------------------------------------------

/** JSON round trip, as a real store would do. */
const viaJSON = (breaker: CircuitBreaker): CircuitBreakerSnapshot =>
  JSON.parse(JSON.stringify(breaker));

Deno.test("toJSON / initialState round trip: closed keeps the detector window", () => {
  const clock = new VirtualClock();
  const options = { kind: "count", size: 4, threshold: 0.75, clock } as const;
  const b = new CircuitBreaker(options);
  feed(b, "SFF");
  const snapshot = viaJSON(b);
  assert.deepEqual(snapshot, {
    state: "closed",
    openedAt: null,
    breakMs: null,
    opens: 0,
    detector: { kind: "count", outcomes: [0, 1, 1] },
  });
  const c = new CircuitBreaker({ ...options, initialState: snapshot });
  assert.deepEqual(viaJSON(c), snapshot);
  feed(c, "F"); // S F F F = 0.75
  assert.equal(c.state, "open");

  // a different size keeps the most recent outcomes
  const d = new CircuitBreaker({ ...options, size: 2, minCalls: 2, initialState: snapshot });
  assert.deepEqual(d.toJSON().detector, { kind: "count", outcomes: [1, 1] });
  // another detector kind: the window starts empty
  const e = new CircuitBreaker({
    kind: "consecutive",
    threshold: 2,
    clock,
    initialState: snapshot,
  });
  assert.deepEqual(e.toJSON().detector, { kind: "consecutive", consecutiveFailures: 0 });
});

Deno.test("toJSON / initialState: open keeps its break; half_open comes back open", async () => {
  const clock = new VirtualClock(5_000);
  const options = { kind: "consecutive", threshold: 1, breakMs: 1_000, clock } as const;
  const a = new CircuitBreaker(options);
  feed(a, "F");
  await clock.advance(300);
  const open = viaJSON(a);
  assert.deepEqual(open, {
    state: "open",
    openedAt: 5_000,
    breakMs: 1_000,
    opens: 1,
    detector: { kind: "consecutive", consecutiveFailures: 0 },
  });
  const b = new CircuitBreaker({ ...options, breakMs: 9_999, initialState: open });
  assert.equal(b.state, "open");
  assert.equal(b.retryAfterMs, 700, "the saved break is honoured");
  assert.deepEqual(viaJSON(b), open);

  await clock.advance(700);
  assert.equal(a.allowCall(), true);
  const half = viaJSON(a);
  assert.equal(half.state, "half_open");
  const c = new CircuitBreaker({ ...options, initialState: half });
  assert.equal(c.state, "open");
  assert.equal(c.retryAfterMs, 0);
  assert.deepEqual(viaJSON(c), { ...half, state: "open" });
  assert.equal(c.allowCall(), true);
  assert.equal(c.state, "half_open");
  c.recordFailure();
  assert.equal(c.stats().consecutiveOpens, 2, "the run of openings continues");
});

Deno.test("toJSON / initialState: isolated comes back as an opening at construction time", async () => {
  const clock = new VirtualClock();
  const seen: BackoffContext[] = [];
  const options = {
    kind: "consecutive",
    threshold: 1,
    clock,
    breakMs: (ctx: BackoffContext) => {
      seen.push(ctx);
      return 100 * ctx.attempt;
    },
  } as const;
  const a = new CircuitBreaker(options);
  a.isolate();
  const fromClosed = viaJSON(a);
  assert.deepEqual(fromClosed, {
    state: "isolated",
    openedAt: null,
    breakMs: null,
    opens: 0,
    detector: { kind: "consecutive", consecutiveFailures: 0 },
  });
  await clock.advance(50);
  const b = new CircuitBreaker({ ...options, initialState: fromClosed });
  assert.equal(b.state, "open");
  assert.equal(b.retryAfterMs, 100);
  assert.deepEqual(viaJSON(b), {
    ...fromClosed,
    state: "open",
    openedAt: 50,
    breakMs: 100,
    opens: 1,
  });

  // isolated during a run of openings: the run goes on
  const c = new CircuitBreaker({ ...options, initialState: viaJSON(b) });
  c.isolate();
  const d = new CircuitBreaker({ ...options, initialState: viaJSON(c) });
  assert.deepEqual(viaJSON(d), {
    ...fromClosed,
    state: "open",
    openedAt: 50,
    breakMs: 200,
    opens: 2,
  });
  assert.deepEqual(seen.at(-1)?.prevDelayMs, 100);
});

Deno.test("toJSON / initialState: time detector buckets survive, other widths are ignored", () => {
  const clock = new VirtualClock(10_000);
  const options = { kind: "time", windowMs: 1_000, threshold: 0.5, minThroughput: 4, clock };
  const a = new CircuitBreaker(options as Options);
  feed(a, "FSF");
  const snapshot = viaJSON(a);
  assert.deepEqual(snapshot.detector, {
    kind: "time",
    bucketMs: 100,
    head: 100,
    calls: [3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    failures: [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    slowCalls: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  });
  const b = new CircuitBreaker({ ...options, initialState: snapshot } as Options);
  assert.equal(b.stats().failureRate, 2 / 3);
  feed(b, "S"); // 2 of 4
  assert.equal(b.state, "open");

  const other = new CircuitBreaker({ ...options, buckets: 5, initialState: snapshot } as Options);
  assert.equal(other.stats().failureRate, 0, "a different bucket width starts empty");
  assert.deepEqual((other.toJSON().detector as { calls: number[] }).calls, [0, 0, 0, 0, 0]);
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

// --- 6. execute --------------------------------------------------------------------------

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
  const p = breaker.execute((signal) => {
    assert.equal(signal, controller.signal);
    return new Promise((_, reject) => signal!.addEventListener("abort", () => reject(reason)));
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

// --- 7. slow calls -----------------------------------------------------------------------

Deno.test("slow calls: count and time detectors open on the slow ratio", () => {
  const cases: Array<[Options, string, number]> = [
    [{ kind: "count", size: 4, threshold: 1, slowCallMs: 100, slowCallRatio: 0.5 }, "WSW", 0],
    [{ kind: "count", size: 4, threshold: 1, slowCallMs: 100, slowCallRatio: 0.5 }, "WSWS", 4],
    [{ kind: "count", size: 4, threshold: 1, slowCallMs: 100, slowCallRatio: 0.75 }, "WSWSW", 0],
    [{ kind: "count", size: 4, threshold: 1, slowCallMs: 100, slowCallRatio: 0.75 }, "WWSW", 4],
    [
      {
        kind: "time",
        windowMs: 1_000,
        threshold: 1,
        minThroughput: 3,
        slowCallMs: 100,
        slowCallRatio: 1,
      },
      "WWW",
      3,
    ],
    // exactly slowCallMs is not slow (strictly slower)
    [{ kind: "count", size: 2, threshold: 1, slowCallMs: 1_000, slowCallRatio: 0.5 }, "WW", 0],
    // consecutive: ratio over the last `threshold` calls
    [{ kind: "consecutive", threshold: 3, slowCallMs: 100, slowCallRatio: 1 }, "WWSWW", 0],
    [{ kind: "consecutive", threshold: 3, slowCallMs: 100, slowCallRatio: 1 }, "WWSWWW", 6],
    [{ kind: "consecutive", threshold: 3, slowCallMs: 100, slowCallRatio: 0.6 }, "WSW", 3],
    [{ kind: "consecutive", threshold: 3, slowCallMs: 100, slowCallRatio: 0.6 }, "WSFW", 0],
  ];
  for (const [options, script, expected] of cases) {
    assert.equal(openedAfter(options, script), expected, `${JSON.stringify(options)} ${script}`);
  }
  const { breaker, transitions } = setup({
    kind: "count",
    size: 2,
    threshold: 1,
    slowCallMs: 100,
    slowCallRatio: 1,
  });
  feed(breaker, "WW");
  assert.deepEqual(transitions(), ["closed->open:slow_call_threshold"]);
  // a slow failure is a failure, not a slow call
  const slowFail = new CircuitBreaker({
    kind: "count",
    size: 1,
    threshold: 1,
    slowCallMs: 0,
    slowCallRatio: 1,
  });
  slowFail.recordFailure(1_000);
  assert.equal(slowFail.stats().slowCalls, 0);
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

// --- 8. bounded memory -------------------------------------------------------------------

Deno.test("time detector keeps `buckets` buckets after 100,000 calls over a long time", () => {
  const clock = new VirtualClock();
  let now = 0;
  const fake: Clock = { ...clock, now: () => now } as Clock;
  const detector = new TimeDetector({ windowMs: 10_000, buckets: 7, threshold: 1 });
  const breaker = new CircuitBreaker({
    kind: "time",
    windowMs: 10_000,
    buckets: 7,
    threshold: 1,
    clock: fake,
  });
  for (let i = 0; i < 100_000; i++) {
    now += 37; // about 3.7e6 ms in all, hundreds of windows
    detector.record(i % 10 === 0, now);
    breaker.allowCall();
    breaker.recordSuccess();
  }
  assert.equal(detector.bucketCount, 7);
  const snapshot = detector.toJSON();
  assert.equal(snapshot.calls.length, 7);
  assert.equal(snapshot.failures.length, 7);
  const inWindow = snapshot.calls.reduce((a, b) => a + b, 0);
  assert.ok(inWindow > 200 && inWindow <= 271, `${inWindow} calls in the window`);
  const bd = breaker.toJSON().detector as { calls: number[] };
  assert.equal(bd.calls.length, 7);
  assert.equal(breaker.state, "closed");
});

// --- 9. bad input ------------------------------------------------------------------------

Deno.test("bad options: every option, exact messages", () => {
  const make = (options: unknown) => () => new CircuitBreaker(options as Options);
  const c = { kind: "consecutive", threshold: 3 };
  const n = { kind: "count", size: 10, threshold: 0.5 };
  const t = { kind: "time", windowMs: 1_000, threshold: 0.5 };
  const snap = (s: unknown) => ({ ...c, initialState: s });
  const closedSnap = { state: "closed", openedAt: null, breakMs: null, opens: 0 };
  const cases: Array<[unknown, RangeErrorConstructor | TypeErrorConstructor, string]> = [
    [undefined, TypeError, "options must be an object: received undefined"],
    [[], TypeError, "options must be an object: received an array"],
    [{}, TypeError, 'kind must be "consecutive", "count" or "time": received undefined'],
    [{ kind: "x" }, TypeError, 'kind must be "consecutive", "count" or "time": received "x"'],
    [
      { ...c, size: 3 },
      TypeError,
      "size is not a known option (expected one of: kind, name, breakMs, halfOpenMaxCalls, " +
      "slowCallMs, slowCallRatio, onEvent, clock, random, initialState, threshold)",
    ],
    [
      { ...n, minCall: 3 },
      TypeError,
      "minCall is not a known option (expected one of: kind, name, breakMs, halfOpenMaxCalls, " +
      "slowCallMs, slowCallRatio, onEvent, clock, random, initialState, size, threshold, minCalls)",
    ],
    [{ ...c, name: "" }, TypeError, 'name must be a non-empty string: received ""'],
    [{ ...c, name: 5 }, TypeError, "name must be a non-empty string: received 5"],
    [
      { ...c, breakMs: 0 },
      RangeError,
      "breakMs must be a number > 0 or a backoff strategy: received 0",
    ],
    [
      { ...c, breakMs: -1 },
      RangeError,
      "breakMs must be a number > 0 or a backoff strategy: received -1",
    ],
    [
      { ...c, breakMs: Infinity },
      RangeError,
      "breakMs must be a number > 0 or a backoff strategy: received Infinity",
    ],
    [
      { ...c, breakMs: NaN },
      RangeError,
      "breakMs must be a number > 0 or a backoff strategy: received NaN",
    ],
    [
      { ...c, breakMs: "1s" },
      TypeError,
      'breakMs must be a number > 0 or a backoff strategy: received "1s"',
    ],
    [
      { ...c, halfOpenMaxCalls: 0 },
      RangeError,
      "halfOpenMaxCalls must be an integer >= 1: received 0",
    ],
    [
      { ...c, halfOpenMaxCalls: 1.5 },
      RangeError,
      "halfOpenMaxCalls must be an integer >= 1: received 1.5",
    ],
    [
      { ...c, halfOpenMaxCalls: "2" },
      TypeError,
      'halfOpenMaxCalls must be an integer >= 1: received "2"',
    ],
    [
      { ...c, slowCallMs: 100 },
      TypeError,
      "slowCallRatio must be set together with slowCallMs: received undefined",
    ],
    [
      { ...c, slowCallRatio: 0.5 },
      TypeError,
      "slowCallMs must be set together with slowCallRatio: received undefined",
    ],
    [
      { ...c, slowCallMs: -1, slowCallRatio: 0.5 },
      RangeError,
      "slowCallMs must be a number >= 0: received -1",
    ],
    [
      { ...c, slowCallMs: 10, slowCallRatio: 0 },
      RangeError,
      "slowCallRatio must be a number > 0 and <= 1: received 0",
    ],
    [
      { ...c, slowCallMs: 10, slowCallRatio: 1.5 },
      RangeError,
      "slowCallRatio must be a number > 0 and <= 1: received 1.5",
    ],
    [
      { ...c, clock: {} },
      TypeError,
      "clock must be a Clock (an object with a now() method): received {}",
    ],
    [
      { ...c, clock: null },
      TypeError,
      "clock must be a Clock (an object with a now() method): received null",
    ],
    [{ ...c, random: 0.5 }, TypeError, "random must be a function: received 0.5"],
    [{ ...c, onEvent: "log" }, TypeError, 'onEvent must be a function: received "log"'],
    // consecutive
    [{ kind: "consecutive" }, TypeError, "threshold must be an integer >= 1: received undefined"],
    [{ ...c, threshold: 0 }, RangeError, "threshold must be an integer >= 1: received 0"],
    [{ ...c, threshold: 2.5 }, RangeError, "threshold must be an integer >= 1: received 2.5"],
    // count
    [{ ...n, size: 0 }, RangeError, "size must be an integer >= 1: received 0"],
    [{ ...n, size: undefined }, TypeError, "size must be an integer >= 1: received undefined"],
    [{ ...n, threshold: 2 }, RangeError, "threshold must be a number > 0 and <= 1: received 2"],
    [{ ...n, threshold: 0 }, RangeError, "threshold must be a number > 0 and <= 1: received 0"],
    [{ ...n, threshold: NaN }, RangeError, "threshold must be a number > 0 and <= 1: received NaN"],
    [
      { ...n, threshold: "0.5" },
      TypeError,
      'threshold must be a number > 0 and <= 1: received "0.5"',
    ],
    [
      { ...n, minCalls: 11 },
      RangeError,
      "minCalls must be an integer between 1 and size (10): received 11",
    ],
    [
      { ...n, minCalls: 0 },
      RangeError,
      "minCalls must be an integer between 1 and size (10): received 0",
    ],
    [
      { ...n, minCalls: 2.5 },
      RangeError,
      "minCalls must be an integer between 1 and size (10): received 2.5",
    ],
    [
      { ...n, minCalls: "3" },
      TypeError,
      'minCalls must be an integer between 1 and size (10): received "3"',
    ],
    // time
    [{ ...t, windowMs: 0 }, RangeError, "windowMs must be a number > 0: received 0"],
    [{ ...t, windowMs: Infinity }, RangeError, "windowMs must be a number > 0: received Infinity"],
    [{ ...t, windowMs: undefined }, TypeError, "windowMs must be a number > 0: received undefined"],
    [{ ...t, buckets: 0 }, RangeError, "buckets must be an integer >= 1: received 0"],
    [{ ...t, buckets: 2.5 }, RangeError, "buckets must be an integer >= 1: received 2.5"],
    [
      { ...t, threshold: 1.01 },
      RangeError,
      "threshold must be a number > 0 and <= 1: received 1.01",
    ],
    [{ ...t, minThroughput: 0 }, RangeError, "minThroughput must be an integer >= 1: received 0"],
    [
      { ...t, minThroughput: null },
      TypeError,
      "minThroughput must be an integer >= 1: received null",
    ],
    [
      { ...t, minCalls: 5 },
      TypeError,
      "minCalls is not a known option (expected one of: kind, name, breakMs, halfOpenMaxCalls, " +
      "slowCallMs, slowCallRatio, onEvent, clock, random, initialState, windowMs, buckets, " +
      "threshold, minThroughput)",
    ],
    // initialState
    [snap(5), TypeError, "initialState must be an object: received 5"],
    [
      snap({ ...closedSnap, extra: 1 }),
      TypeError,
      "initialState.extra is not a known option (expected one of: state, openedAt, breakMs, opens, detector)",
    ],
    [
      snap({ ...closedSnap, state: "ajar" }),
      TypeError,
      'initialState.state must be "closed", "open", "half_open" or "isolated": received "ajar"',
    ],
    [
      snap({ ...closedSnap, opens: -1 }),
      RangeError,
      "initialState.opens must be an integer >= 0: received -1",
    ],
    [
      snap({ ...closedSnap, state: "open" }),
      RangeError,
      "initialState.opens must be an integer >= 1: received 0",
    ],
    [
      snap({ ...closedSnap, state: "open", opens: 1 }),
      TypeError,
      "initialState.openedAt must be a finite number: received null",
    ],
    [
      snap({ ...closedSnap, state: "open", opens: 1, openedAt: 0 }),
      TypeError,
      "initialState.breakMs must be a number >= 0: received null",
    ],
    [
      snap({ ...closedSnap, detector: 5 }),
      TypeError,
      "initialState.detector must be a detector snapshot object: received 5",
    ],
    [
      snap({ ...closedSnap, detector: { kind: "consecutive", consecutiveFailures: -1 } }),
      RangeError,
      "initialState.detector.consecutiveFailures must be an integer >= 0: received -1",
    ],
    [
      { ...n, initialState: { ...closedSnap, detector: { kind: "count", outcomes: [0, 3] } } },
      TypeError,
      "initialState.detector.outcomes must be an array of outcome codes (0, 1 or 2): received an array",
    ],
    [
      {
        ...t,
        initialState: {
          ...closedSnap,
          detector: {
            kind: "time",
            bucketMs: 100,
            head: 0,
            calls: [-1],
            failures: [],
            slowCalls: [],
          },
        },
      },
      TypeError,
      "initialState.detector.calls must be an array of finite numbers >= 0: received an array",
    ],
    [
      {
        ...t,
        initialState: {
          ...closedSnap,
          detector: {
            kind: "time",
            bucketMs: 100,
            head: 0.5,
            calls: [],
            failures: [],
            slowCalls: [],
          },
        },
      },
      TypeError,
      "initialState.detector.head must be an integer or null: received 0.5",
    ],
  ];
  for (const [options, Class, message] of cases) throwsExactly(make(options), Class, message);

  // standalone detectors validate the same way
  throwsExactly(
    () => new ConsecutiveDetector({ threshold: 2, slowCallRatio: 2 }),
    RangeError,
    "slowCallRatio must be a number > 0 and <= 1: received 2",
  );
  throwsExactly(
    () => new CountDetector(null as never),
    TypeError,
    "options must be an object: received null",
  );
  throwsExactly(
    () => createDetector({ kind: "sliding" } as never),
    TypeError,
    'kind must be "consecutive", "count" or "time": received "sliding"',
  );
});

Deno.test("optional options may be explicitly undefined", () => {
  const breaker = new CircuitBreaker({
    kind: "count",
    size: 5,
    threshold: 1,
    minCalls: undefined,
    name: undefined,
    breakMs: undefined,
    halfOpenMaxCalls: undefined,
    slowCallMs: undefined,
    slowCallRatio: undefined,
    onEvent: undefined,
    clock: undefined,
    random: undefined,
    initialState: undefined,
  });
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.retryAfterMs, 0);
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

// The failure detectors: thresholds, the time window's buckets, slow calls, bounded memory.
import assert from "node:assert/strict";
import { CircuitBreaker } from "../../src/circuit/circuit_breaker.ts";
import { ConsecutiveDetector } from "../../src/circuit/consecutive_detector.ts";
import { CountDetector } from "../../src/circuit/count_detector.ts";
import { TimeDetector } from "../../src/circuit/time_detector.ts";
import { createDetector } from "../../src/circuit/detector.ts";
import type { Clock } from "../../src/core/clock.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { feed, noTimers, openedAfter, type Options, setup } from "./_helpers.ts";

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

Deno.test("time detector: a query at a later time does not move the window", () => {
  const d = new TimeDetector({ windowMs: 1_000, buckets: 10, threshold: 0.5, minThroughput: 1 });
  d.record(true, 0);
  assert.equal(d.calls(5_000), 0, "seen from t = 5000 the window is empty");
  assert.equal(d.failureRate(5_000), 0);
  assert.equal(d.tripReason(5_000), undefined);
  // ...but nothing moved: a call at t = 100 still joins the failure at t = 0
  d.record(false, 100);
  assert.equal(d.calls(100), 2);
  assert.equal(d.failureRate(100), 0.5);
  assert.equal(d.toJSON().head, 1);
});

// A call exactly on a bucket boundary lands in the bucket Math.floor(t / bucketMs)
// names, whatever came before (with windowMs 7 and 3 buckets, 27 widths
// round to 63.00000000000001 while 63 floors to bucket 27).
const boundary = { windowMs: 7, buckets: 3, threshold: 1, minThroughput: 1 };

Deno.test("a call on a bucket boundary lands in the same bucket whatever came before", () => {
  const a = new TimeDetector(boundary);
  a.record(false, 62); // bucket 26
  a.record(true, 63); // bucket 27 (63 / bucketMs floors to 27)
  const b = new TimeDetector(boundary);
  b.record(true, 63);
  assert.equal(b.toJSON().head, 27);
  assert.equal(a.toJSON().head, 27, "the failure at 63 opened bucket 27 (old detector: head 27)");
  // at 68 (bucket 29) the window is buckets 27..29: the failure at 63 is still in it
  assert.equal(b.failureRate(68), 1);
  assert.equal(a.failureRate(68), 1, "old detector: 1; new: 0 (the failure was put in bucket 26)");
  assert.equal(a.tripReason(68), "failure_threshold");
});

Deno.test("breaker stats at a bucket boundary match the old detector", async () => {
  const clock = new VirtualClock();
  const breaker = new CircuitBreaker({
    kind: "time",
    windowMs: 7,
    buckets: 3,
    threshold: 1,
    minThroughput: 3,
    clock,
  });
  await clock.advance(62);
  breaker.recordSuccess();
  await clock.advance(1); // 63
  breaker.recordFailure();
  await clock.advance(5); // 68
  assert.equal(breaker.stats().failureRate, 1, "old: 1 (failure at 63 still in the window)");
});

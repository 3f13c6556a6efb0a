// Circuit breaker snapshots: toJSON() and initialState.
import assert from "node:assert/strict";
import { CircuitBreaker, type CircuitBreakerSnapshot } from "../../src/circuit/circuit_breaker.ts";
import type { BackoffContext } from "../../src/backoff/strategy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { feed, type Options } from "./_helpers.ts";

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

Deno.test("a snapshot whose count arrays have holes is rejected, not loaded as NaN", () => {
  const clock = new VirtualClock();
  const holes = new Array(10); // length 10, no elements
  const options = {
    kind: "time" as const,
    windowMs: 1_000,
    threshold: 0.5,
    minThroughput: 1,
    clock,
  };
  const initialState = {
    state: "closed" as const,
    openedAt: null,
    breakMs: null,
    opens: 0,
    detector: {
      kind: "time" as const,
      bucketMs: 100,
      head: 0,
      calls: holes,
      failures: holes,
      slowCalls: holes,
    },
  };
  let breaker: CircuitBreaker | undefined;
  try {
    breaker = new CircuitBreaker({ ...options, initialState });
  } catch (error) {
    assert.ok(error instanceof TypeError);
    assert.match((error as Error).message, /^initialState\.detector\.calls must be/);
    return;
  }
  // Accepted: then it must at least still work.
  breaker.recordFailure();
  assert.equal(breaker.state, "open", "a failure with minThroughput 1 and threshold 0.5 trips");
});

import assert from "node:assert/strict";
import { RetryBudget } from "../../src/budget/retry_budget.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import type { ResilienceEvent } from "../../src/core/events.ts";
import { loose, throwsExactly } from "../_helpers.ts";

const MAX_ATTEMPTS = 5;

/**
 * One logical call to an always-failing operation, as the retry loop runs it:
 * the first attempt is a request; each further attempt needs the budget's
 * consent (when there is a budget). Returns the attempts made.
 */
function failingCall(budget: RetryBudget | undefined): number {
  budget?.recordRequest();
  let attempts = 1; // the first attempt fails
  while (attempts < MAX_ATTEMPTS) {
    if (budget !== undefined && !budget.tryRetry()) break;
    attempts++; // the retry fails too
  }
  return attempts;
}

Deno.test("retry budget: 1,000 failing calls with maxAttempts 5 stay within 1,000 * (1 + ratio) + the floor", () => {
  const ratio = 0.1;
  const minPerSecond = 10;
  const windowMs = 10_000;
  const clock = new VirtualClock();
  const budget = new RetryBudget({ ratio, minPerSecond, windowMs, clock });
  let attempts = 0;
  for (let call = 0; call < 1_000; call++) attempts += failingCall(budget);
  // Everything happens inside one window: the floor allows 10/s * 10 s = 100 retries.
  const floor = (minPerSecond * windowMs) / 1000;
  assert.equal(floor, 100);
  const bound = 1_000 * (1 + ratio) + floor;
  assert.equal(bound, 1_200);
  // The greedy loop uses the whole allowance: 100 from the floor, 100 from the ratio.
  assert.equal(attempts, 1_200);
  assert.ok(attempts <= bound);
  assert.deepEqual(budget.stats(), { requests: 1_000, retries: 200, allowance: 200, available: 0 });

  // Without a budget every call makes all five attempts.
  let unbudgeted = 0;
  for (let call = 0; call < 1_000; call++) unbudgeted += failingCall(undefined);
  assert.equal(unbudgeted, 5_000);
});

Deno.test("retry budget: calls spread over 20 s stay within the bound, the floor counted per window", async () => {
  const ratio = 0.1;
  const minPerSecond = 10;
  const windowMs = 10_000;
  const clock = new VirtualClock();
  const budget = new RetryBudget({ ratio, minPerSecond, windowMs, clock });
  let attempts = 0;
  for (let call = 0; call < 1_000; call++) {
    attempts += failingCall(budget);
    await clock.advance(20); // 50 calls per second
  }
  const elapsedMs = 999 * 20; // the last call started at 19,980 ms
  // Aligned windows touched by [0, elapsed]: each may spend the whole floor once.
  const windows = Math.floor(elapsedMs / windowMs) + 1;
  assert.equal(windows, 2);
  const bound = 1_000 * (1 + ratio) + ((minPerSecond * windowMs) / 1000) * windows;
  assert.equal(bound, 1_300);
  assert.ok(attempts <= bound, `${attempts} attempts > ${bound}`);
  // The greedy loop reaches it: both windows spend their floor and the ratio.
  assert.equal(attempts, 1_300);
});

/**
 * A reference model of the documented rule, kept deliberately naive: every
 * request and retry is stored with its time; one counts while its bucket
 * (time / width, floored) is one of the last `buckets` buckets.
 */
class ReferenceBudget {
  #requests: number[] = [];
  #retries: number[] = [];
  constructor(
    readonly ratio: number,
    readonly minPerSecond: number,
    readonly windowMs: number,
    readonly buckets: number,
    readonly clock: VirtualClock,
  ) {}
  #inWindow(times: number[]): number {
    const width = this.windowMs / this.buckets;
    const current = Math.floor(this.clock.now() / width);
    return times.filter((t) => Math.floor(t / width) > current - this.buckets).length;
  }
  recordRequest(): void {
    this.#requests.push(this.clock.now());
  }
  tryRetry(): boolean {
    const allowance = this.ratio * this.#inWindow(this.#requests) +
      (this.minPerSecond * this.windowMs) / 1000;
    if (this.#inWindow(this.#retries) + 1 > allowance + 1e-9) return false;
    this.#retries.push(this.clock.now());
    return true;
  }
}

Deno.test("retry budget: decisions match a naive model of the rule over a bursty load", async () => {
  const clock = new VirtualClock(123);
  const budget = new RetryBudget({
    ratio: 0.2,
    minPerSecond: 3,
    windowMs: 2_000,
    buckets: 4,
    clock,
  });
  const model = new ReferenceBudget(0.2, 3, 2_000, 4, clock);
  let granted = 0;
  let refused = 0;
  for (let step = 0; step < 2_000; step++) {
    // bursts of requests, then retries, then quiet periods
    const phase = Math.floor(step / 100) % 4;
    if (phase === 0 || step % 7 === 0) {
      budget.recordRequest();
      model.recordRequest();
    }
    if (phase !== 3 && step % 3 === 0) {
      const expected = model.tryRetry();
      assert.equal(budget.tryRetry(), expected, `step ${step} at ${clock.now()} ms`);
      if (expected) granted++;
      else refused++;
    }
    await clock.advance(phase === 3 ? 97 : 13);
  }
  // both outcomes were exercised
  assert.ok(granted > 100 && refused > 100, `granted ${granted}, refused ${refused}`);
});

Deno.test("retry budget: the window rolls over and forgets old requests and retries", async () => {
  const clock = new VirtualClock();
  const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 0, windowMs: 10_000, clock });
  for (let i = 0; i < 100; i++) budget.recordRequest();
  for (let i = 0; i < 10; i++) assert.equal(budget.tryRetry(), true, `retry ${i + 1}`);
  assert.equal(budget.tryRetry(), false);
  assert.deepEqual(budget.stats(), { requests: 100, retries: 10, allowance: 10, available: 0 });

  await clock.advance(9_999);
  assert.deepEqual(budget.stats(), { requests: 100, retries: 10, allowance: 10, available: 0 });
  assert.equal(budget.tryRetry(), false);

  await clock.advance(1); // t = 10,000: the first bucket is gone
  assert.deepEqual(budget.stats(), { requests: 0, retries: 0, allowance: 0, available: 0 });
  assert.equal(budget.tryRetry(), false, "no requests and no floor: no retries");
  for (let i = 0; i < 10; i++) budget.recordRequest();
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), false);
  assert.equal(clock.timersCreated, 0, "the budget sets no timers");
});

Deno.test("retry budget: the window moves a bucket at a time", async () => {
  const clock = new VirtualClock();
  // buckets of 250 ms
  const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1_000, buckets: 4, clock });
  budget.recordRequest(); // t = 0, bucket [0, 250)
  await clock.advance(600);
  budget.recordRequest(); // t = 600, bucket [500, 750)
  assert.equal(budget.tryRetry(), true);
  assert.deepEqual(budget.stats(), { requests: 2, retries: 1, allowance: 2, available: 1 });
  await clock.advance(400); // t = 1,000: the t = 0 request is forgotten
  assert.deepEqual(budget.stats(), { requests: 1, retries: 1, allowance: 1, available: 0 });
  assert.equal(budget.tryRetry(), false);
  await clock.advance(499); // t = 1,499: the t = 600 ones are still there
  assert.equal(budget.stats().requests, 1);
  await clock.advance(1); // t = 1,500: now they are gone too
  assert.deepEqual(budget.stats(), { requests: 0, retries: 0, allowance: 0, available: 0 });
});

Deno.test("retry budget: the floor allows minPerSecond * windowMs / 1000 retries per window", async () => {
  const clock = new VirtualClock();
  const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 10, windowMs: 10_000, clock });
  assert.deepEqual(budget.stats(), { requests: 0, retries: 0, allowance: 100, available: 100 });
  let granted = 0;
  while (budget.tryRetry()) granted++;
  assert.equal(granted, 100);
  await clock.advance(10_000);
  granted = 0;
  while (budget.tryRetry()) granted++;
  assert.equal(granted, 100);

  const half = new RetryBudget({ ratio: 0, minPerSecond: 0.5, windowMs: 10_000, clock });
  granted = 0;
  while (half.tryRetry()) granted++;
  assert.equal(granted, 5);

  const none = new RetryBudget({ ratio: 0, minPerSecond: 0, clock });
  for (let i = 0; i < 1_000; i++) none.recordRequest();
  assert.equal(none.tryRetry(), false);
});

Deno.test("retry budget: one budget shared by two policies limits their retries together", () => {
  const clock = new VirtualClock();
  const shared = new RetryBudget({ ratio: 0.1, minPerSecond: 0, clock });
  // policy B calls a healthy dependency 100 times: requests, no retries
  for (let i = 0; i < 100; i++) shared.recordRequest();
  // policy A's 10 calls all fail: A's and B's 110 requests allow 11 retries in all
  let aAttempts = 0;
  for (let i = 0; i < 10; i++) aAttempts += failingCall(shared);
  assert.equal(aAttempts, 10 + 11);
  assert.deepEqual(shared.stats(), { requests: 110, retries: 11, allowance: 11, available: 0 });
  // A spent the shared allowance: B's next failure gets no retry either
  assert.equal(failingCall(shared), 1);
  assert.equal(shared.stats().requests, 111);
  assert.equal(shared.stats().retries, 11);
});

Deno.test("retry budget: ratio above 1, and products that are integers on paper", () => {
  const clock = new VirtualClock();
  const double = new RetryBudget({ ratio: 2, minPerSecond: 0, clock });
  for (let i = 0; i < 3; i++) double.recordRequest();
  let granted = 0;
  while (double.tryRetry()) granted++;
  assert.equal(granted, 6);

  // 0.57 * 100 is 56.99999999999999 in floating point; the budget still grants 57
  const odd = new RetryBudget({ ratio: 0.57, minPerSecond: 0, clock });
  for (let i = 0; i < 100; i++) odd.recordRequest();
  assert.equal(odd.stats().available, 57);
  granted = 0;
  while (odd.tryRetry()) granted++;
  assert.equal(granted, 57);
});

Deno.test("retry budget: defaults and the fields it exposes", () => {
  const budget = new RetryBudget({ ratio: 0.1 }); // systemClock
  assert.equal(budget.ratio, 0.1);
  assert.equal(budget.minPerSecond, 10);
  assert.equal(budget.windowMs, 10_000);
  assert.deepEqual(budget.stats(), { requests: 0, retries: 0, allowance: 100, available: 100 });
  budget.recordRequest();
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.stats().retries, 1);
});

Deno.test("retry budget: rejects bad input with the option's name", () => {
  const clock = new VirtualClock();
  const make = (extra: Record<string, unknown>) => () =>
    new RetryBudget(loose({ ratio: 0.1, clock, ...extra }));
  const cases: [() => unknown, RangeErrorConstructor | TypeErrorConstructor, string][] = [
    [
      () => new RetryBudget(loose(undefined)),
      TypeError,
      "options must be an object: received undefined",
    ],
    [() => new RetryBudget(loose([])), TypeError, "options must be an object: received an array"],
    [
      make({ minPerSec: 1 }),
      TypeError,
      "minPerSec is not a known option (expected one of: ratio, minPerSecond, windowMs, buckets, clock, name, onEvent, fleet)",
    ],
    [make({ ratio: undefined }), TypeError, "ratio must be a number >= 0: received undefined"],
    [make({ ratio: -0.1 }), RangeError, "ratio must be a number >= 0: received -0.1"],
    [make({ ratio: NaN }), RangeError, "ratio must be a number >= 0: received NaN"],
    [make({ ratio: Infinity }), RangeError, "ratio must be a number >= 0: received Infinity"],
    [make({ ratio: "0.1" }), TypeError, 'ratio must be a number >= 0: received "0.1"'],
    [make({ minPerSecond: -1 }), RangeError, "minPerSecond must be a number >= 0: received -1"],
    [
      make({ minPerSecond: Infinity }),
      RangeError,
      "minPerSecond must be a number >= 0: received Infinity",
    ],
    [make({ minPerSecond: "10" }), TypeError, 'minPerSecond must be a number >= 0: received "10"'],
    [make({ windowMs: 0 }), RangeError, "windowMs must be a number > 0: received 0"],
    [make({ windowMs: -10 }), RangeError, "windowMs must be a number > 0: received -10"],
    [make({ windowMs: Infinity }), RangeError, "windowMs must be a number > 0: received Infinity"],
    [make({ windowMs: "10s" }), TypeError, 'windowMs must be a number > 0: received "10s"'],
    [make({ buckets: 0 }), RangeError, "buckets must be an integer between 1 and 1000: received 0"],
    [
      make({ buckets: 2.5 }),
      RangeError,
      "buckets must be an integer between 1 and 1000: received 2.5",
    ],
    [
      make({ clock: 5 }),
      TypeError,
      "clock must be a Clock (now, sleep, setTimer, clearTimer): received 5",
    ],
    [
      make({ clock: {} }),
      TypeError,
      "clock must be a Clock (now, sleep, setTimer, clearTimer): received {}",
    ],
  ];
  for (const [fn, Class, message] of cases) throwsExactly(fn, Class, message);
  // valid edge values
  new RetryBudget({ ratio: 0, minPerSecond: 0, windowMs: 1, buckets: 1, clock });
});

Deno.test("RetryBudget: a refused retry emits retry_budget_exhausted with the window's counts", () => {
  const clock = new VirtualClock();
  const events: ResilienceEvent[] = [];
  const budget = new RetryBudget({
    name: "fleet",
    ratio: 0,
    minPerSecond: 0.1,
    windowMs: 10_000,
    clock,
    onEvent: (e) => events.push(e),
  });
  budget.recordRequest();
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), false);
  assert.deepEqual(events, [{
    type: "retry_budget_exhausted",
    policy: "fleet",
    timestamp: 0,
    requests: 1,
    retries: 1,
  }]);
  throwsExactly(
    () => new RetryBudget({ ratio: 1, name: "" }),
    TypeError,
    'name must be a non-empty string: received ""',
  );
});

Deno.test("buckets has an upper bound of 1000, checked at construction", () => {
  const make = (buckets: number) => () => new RetryBudget({ ratio: 0.1, buckets });
  throwsExactly(
    make(1e9),
    RangeError,
    "buckets must be an integer between 1 and 1000: received 1000000000",
  );
  throwsExactly(
    make(1001),
    RangeError,
    "buckets must be an integer between 1 and 1000: received 1001",
  );
  assert.equal(new RetryBudget({ ratio: 0.1, buckets: 1000 }).name, "retry-budget");
});

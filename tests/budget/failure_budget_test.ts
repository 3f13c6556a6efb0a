import assert from "node:assert/strict";
import {
  FailureBudget,
  type FailureBudgetBreach,
  type FailureBudgetOptions,
} from "../../src/budget/failure_budget.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import type { FailureBudgetEvent } from "../../src/core/events.ts";
import { recorder } from "../_helpers.ts";
import { loose, throwsExactly } from "../_helpers.ts";

/** Records `failures` failures then `successes` successes. */
function feed(budget: FailureBudget, failures: number, successes: number): void {
  for (let i = 0; i < failures; i++) budget.record(true);
  for (let i = 0; i < successes; i++) budget.record(false);
}

const BASE = { threshold: 0.5, windowMs: 10_000, minSamples: 10 } as const;

Deno.test("failure budget: breached exactly when samples >= minSamples and rate > threshold", () => {
  // [threshold, minSamples, failures, successes, expected rate, breached]
  const table: [number, number, number, number, number, boolean][] = [
    [0.5, 10, 5, 5, 0.5, false], // equal to the threshold: within budget
    [0.5, 10, 6, 4, 0.6, true], // just above
    [0.5, 10, 6, 3, 6 / 9, false], // above, but one sample short of minSamples
    [0.5, 10, 9, 0, 1, false], // all failing, still one short
    [0.5, 10, 10, 0, 1, true], // minSamples reached exactly
    [0.25, 4, 1, 3, 0.25, false],
    [0.25, 4, 2, 2, 0.5, true],
    [0, 1, 0, 5, 0, false], // threshold 0: no failure is within budget...
    [0, 1, 1, 5, 1 / 6, true], // ...one failure is a breach
    [1, 1, 7, 0, 1, false], // threshold 1 can never be breached
    [0.05, 50, 2, 48, 0.04, false],
    [0.05, 50, 3, 47, 0.06, true],
  ];
  for (const [threshold, minSamples, failures, successes, rate, breached] of table) {
    const clock = new VirtualClock();
    const budget = new FailureBudget({ threshold, windowMs: 1_000, minSamples, clock });
    feed(budget, failures, successes);
    const label = `threshold ${threshold}, minSamples ${minSamples}, ${failures}F/${successes}S`;
    assert.equal(budget.samples(), failures + successes, label);
    assert.equal(budget.failureRate(), rate, label);
    assert.equal(budget.isBreached(), breached, label);
  }
});

Deno.test("failure budget: empty window has rate 0, no samples, no breach", () => {
  const budget = new FailureBudget({ ...BASE, clock: new VirtualClock() });
  assert.equal(budget.failureRate(), 0);
  assert.equal(budget.samples(), 0);
  assert.equal(budget.isBreached(), false);
});

Deno.test("failure budget: the breach starts on the record that crosses the threshold", () => {
  const calls: FailureBudgetBreach[] = [];
  const budget = new FailureBudget({
    ...BASE,
    name: "payments",
    onBreach: (info) => calls.push(info),
    clock: new VirtualClock(),
  });
  feed(budget, 5, 4); // 9 samples: below minSamples
  assert.equal(calls.length, 0);
  budget.record(false); // 10 samples, rate 0.5: not above
  assert.equal(calls.length, 0);
  budget.record(true); // 11 samples, 6/11 > 0.5
  assert.deepEqual(calls, [{ name: "payments", rate: 6 / 11, threshold: 0.5, samples: 11 }]);
});

Deno.test("failure budget: onBreach once per breach, again after recovery and a new breach", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const rates: number[] = [];
  const budget = new FailureBudget({
    name: "fb",
    threshold: 0.5,
    windowMs: 10_000,
    minSamples: 4,
    onBreach: ({ rate }) => rates.push(rate),
    onEvent: rec.onEvent,
    clock,
  });
  feed(budget, 4, 0); // breach at the 4th failure
  feed(budget, 3, 0); // still breached: no new call or event
  assert.equal(budget.isBreached(), true);
  assert.equal(budget.isBreached(), true);
  assert.deepEqual(rates, [1]);
  assert.deepEqual(rec.types(), ["failure_budget_breach"]);

  await clock.advance(1_000);
  feed(budget, 0, 7); // 7 of 14 failed: rate 0.5, recovered
  assert.equal(budget.isBreached(), false);
  assert.deepEqual(rec.types(), ["failure_budget_breach", "failure_budget_recovered"]);
  assert.deepEqual(rec.events[1], {
    type: "failure_budget_recovered",
    policy: "fb",
    timestamp: 1_000,
    rate: 0.5,
    threshold: 0.5,
    samples: 14,
  });

  await clock.advance(1_000);
  budget.record(true); // 8 of 15: breached again
  assert.deepEqual(rates, [1, 8 / 15]);
  assert.deepEqual(rec.events[2], {
    type: "failure_budget_breach",
    policy: "fb",
    timestamp: 2_000,
    rate: 8 / 15,
    threshold: 0.5,
    samples: 15,
  });
  assert.deepEqual(rec.types(), [
    "failure_budget_breach",
    "failure_budget_recovered",
    "failure_budget_breach",
  ]);
  assert.deepEqual(
    rec.events[0],
    {
      type: "failure_budget_breach",
      policy: "fb",
      timestamp: 0,
      rate: 1,
      threshold: 0.5,
      samples: 4,
    } satisfies FailureBudgetEvent,
  );
});

Deno.test("failure budget: window forgets samples after windowMs; reading ends the breach", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const budget = new FailureBudget({ ...BASE, onEvent: rec.onEvent, clock });
  feed(budget, 10, 0); // at t=0: breached
  assert.deepEqual(rec.types(), ["failure_budget_breach"]);
  await clock.advance(5_000);
  feed(budget, 0, 10); // at t=5000: 10 of 20 failed, rate 0.5: recovered
  assert.deepEqual(rec.types(), ["failure_budget_breach", "failure_budget_recovered"]);
  feed(budget, 2, 0); // 12 of 22 failed: breached again
  assert.equal(budget.samples(), 22);

  await clock.advance(4_999); // t=9999: the t=0 samples are still in the window
  assert.equal(budget.samples(), 22);
  assert.equal(budget.isBreached(), true);
  assert.equal(rec.types().length, 3);

  await clock.advance(1); // t=10000: they are gone; 2 of 12 failed
  assert.equal(budget.samples(), 12);
  assert.equal(budget.failureRate(), 2 / 12);
  assert.equal(rec.types().length, 3, "failureRate() alone does not evaluate");
  assert.equal(budget.isBreached(), false);
  assert.deepEqual(rec.events[3], {
    type: "failure_budget_recovered",
    policy: "failure-budget",
    timestamp: 10_000,
    rate: 2 / 12,
    threshold: 0.5,
    samples: 12,
  });

  await clock.advance(5_000); // t=15000: everything is gone
  assert.equal(budget.samples(), 0);
  assert.equal(budget.failureRate(), 0);
  assert.equal(budget.isBreached(), false);
  assert.equal(rec.types().length, 4);
});

Deno.test("failure budget: a breach can end by time alone, with no samples left", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const budget = new FailureBudget({ ...BASE, onEvent: rec.onEvent, clock });
  feed(budget, 10, 0);
  await clock.advance(10_000);
  assert.equal(clock.timersCreated, 0, "the budget sets no timers");
  assert.equal(budget.isBreached(), false);
  assert.deepEqual(rec.events[1], {
    type: "failure_budget_recovered",
    policy: "failure-budget",
    timestamp: 10_000,
    rate: 0,
    threshold: 0.5,
    samples: 0,
  });
});

Deno.test("failure budget: buckets set the granularity of expiry", async () => {
  const clock = new VirtualClock();
  // 4 buckets of 250 ms over 1 s
  const budget = new FailureBudget({
    threshold: 0.5,
    windowMs: 1_000,
    minSamples: 1,
    buckets: 4,
    clock,
  });
  await clock.advance(100);
  budget.record(true); // bucket [0, 250)
  await clock.advance(200);
  budget.record(false); // t=300, bucket [250, 500)
  await clock.advance(699); // t=999
  assert.equal(budget.samples(), 2);
  await clock.advance(1); // t=1000: bucket [0, 250) expires, 900 ms after its sample
  assert.equal(budget.samples(), 1);
  assert.equal(budget.failureRate(), 0);
  await clock.advance(249); // t=1249
  assert.equal(budget.samples(), 1);
  await clock.advance(1); // t=1250
  assert.equal(budget.samples(), 0);

  // one bucket: the window is a tumbling one
  const tumbling = new FailureBudget({
    threshold: 0.5,
    windowMs: 1_000,
    minSamples: 1,
    buckets: 1,
    clock,
  });
  tumbling.record(true); // t=1250, window [1000, 2000)
  await clock.advance(749);
  assert.equal(tumbling.samples(), 1);
  await clock.advance(1);
  assert.equal(tumbling.samples(), 0);
});

Deno.test("failure budget: a throwing or rejecting onBreach and listener are isolated", async () => {
  let calls = 0;
  const budget = new FailureBudget({
    ...BASE,
    minSamples: 1,
    onBreach: () => {
      calls++;
      throw new Error("broken onBreach");
    },
    onEvent: () => {
      throw new Error("broken listener");
    },
    clock: new VirtualClock(),
  });
  budget.record(true);
  assert.equal(calls, 1);
  assert.equal(budget.isBreached(), true);

  const asyncBudget = new FailureBudget({
    ...BASE,
    minSamples: 1,
    onBreach: () => Promise.reject(new Error("async onBreach")),
    clock: new VirtualClock(),
  });
  asyncBudget.record(true);
  // give an unhandled rejection the chance to surface (it would fail the test)
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(asyncBudget.isBreached(), true);
});

Deno.test("failure budget: onBreach reading the budget does not report twice", () => {
  const rec = recorder();
  let seen: boolean | undefined;
  const budget: FailureBudget = new FailureBudget({
    ...BASE,
    minSamples: 1,
    onEvent: rec.onEvent,
    onBreach: () => {
      seen = budget.isBreached();
    },
    clock: new VirtualClock(),
  });
  budget.record(true);
  assert.equal(seen, true);
  assert.deepEqual(rec.types(), ["failure_budget_breach"]);
});

Deno.test("failure budget: name, action, threshold and events", () => {
  const clock = new VirtualClock();
  const observe = new FailureBudget({ ...BASE, clock });
  assert.equal(observe.name, "failure-budget");
  assert.equal(observe.action, "observe");
  assert.equal(observe.threshold, 0.5);
  const reject = new FailureBudget({ ...BASE, name: "orders", action: "reject", clock });
  assert.equal(reject.name, "orders");
  assert.equal(reject.action, "reject");
  // a listener added later through `events` receives the events too
  const late: string[] = [];
  reject.events.add((e) => late.push(e.type));
  feed(reject, 10, 0);
  assert.deepEqual(late, ["failure_budget_breach"]);
});

Deno.test("failure budget: rejects bad input with the option's name", () => {
  const clock = new VirtualClock();
  const make = (extra: Record<string, unknown>) => () =>
    new FailureBudget(loose({ ...BASE, clock, ...extra }));
  const cases: [() => unknown, RangeErrorConstructor | TypeErrorConstructor, string][] = [
    [
      () => new FailureBudget(loose(undefined)),
      TypeError,
      "options must be an object: received undefined",
    ],
    [() => new FailureBudget(loose(null)), TypeError, "options must be an object: received null"],
    [
      make({ treshold: 0.1 }),
      TypeError,
      "treshold is not a known option (expected one of: name, threshold, windowMs, minSamples, buckets, onBreach, action, onEvent, clock, fleet)",
    ],
    [make({ name: "" }), TypeError, 'name must be a non-empty string: received ""'],
    [make({ name: 7 }), TypeError, "name must be a non-empty string: received 7"],
    [make({ threshold: 2 }), RangeError, "threshold must be a number between 0 and 1: received 2"],
    [
      make({ threshold: -0.1 }),
      RangeError,
      "threshold must be a number between 0 and 1: received -0.1",
    ],
    [
      make({ threshold: NaN }),
      RangeError,
      "threshold must be a number between 0 and 1: received NaN",
    ],
    [
      make({ threshold: "0.1" }),
      TypeError,
      'threshold must be a number between 0 and 1: received "0.1"',
    ],
    [
      make({ threshold: undefined }),
      TypeError,
      "threshold must be a number between 0 and 1: received undefined",
    ],
    [make({ windowMs: 0 }), RangeError, "windowMs must be a number > 0: received 0"],
    [make({ windowMs: -5 }), RangeError, "windowMs must be a number > 0: received -5"],
    [make({ windowMs: Infinity }), RangeError, "windowMs must be a number > 0: received Infinity"],
    [make({ windowMs: undefined }), TypeError, "windowMs must be a number > 0: received undefined"],
    [make({ minSamples: 0 }), RangeError, "minSamples must be an integer >= 1: received 0"],
    [make({ minSamples: 2.5 }), RangeError, "minSamples must be an integer >= 1: received 2.5"],
    [
      make({ minSamples: undefined }),
      TypeError,
      "minSamples must be an integer >= 1: received undefined",
    ],
    [make({ buckets: 0 }), RangeError, "buckets must be an integer between 1 and 1000: received 0"],
    [
      make({ buckets: 1.5 }),
      RangeError,
      "buckets must be an integer between 1 and 1000: received 1.5",
    ],
    [
      make({ buckets: "10" }),
      TypeError,
      'buckets must be an integer between 1 and 1000: received "10"',
    ],
    [make({ onBreach: "alert" }), TypeError, 'onBreach must be a function: received "alert"'],
    [
      make({ action: "block" }),
      RangeError,
      'action must be "observe" or "reject": received "block"',
    ],
    [make({ action: true }), TypeError, 'action must be "observe" or "reject": received true'],
    [make({ onEvent: 1 }), TypeError, "onEvent must be a function: received 1"],
    [
      make({ clock: {} }),
      TypeError,
      "clock must be a Clock (now, sleep, setTimer, clearTimer): received {}",
    ],
    [
      make({ clock: 5 }),
      TypeError,
      "clock must be a Clock (now, sleep, setTimer, clearTimer): received 5",
    ],
  ];
  for (const [fn, Class, message] of cases) throwsExactly(fn, Class, message);
  // valid edge values
  new FailureBudget({ threshold: 0, windowMs: 0.5, minSamples: 1, buckets: 1, clock });
  new FailureBudget({ threshold: 1, windowMs: 1, minSamples: 1, action: "reject", clock });
});

Deno.test("failure budget: systemClock is the default", () => {
  const options: FailureBudgetOptions = { threshold: 0.1, windowMs: 60_000, minSamples: 1 };
  const budget = new FailureBudget(options);
  budget.record(true);
  assert.equal(budget.samples(), 1);
  assert.equal(budget.isBreached(), true);
});

Deno.test("buckets has an upper bound of 1000, checked at construction", () => {
  const make = (buckets: number) => () =>
    new FailureBudget({ threshold: 0.5, windowMs: 1_000, minSamples: 1, buckets });
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
  assert.equal(
    new FailureBudget({ threshold: 0.5, windowMs: 1_000, minSamples: 1, buckets: 1000 })
      .name,
    "failure-budget",
  );
});

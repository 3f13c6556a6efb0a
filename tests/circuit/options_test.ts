// Circuit breaker options: every invalid option, with its exact message.
import assert from "node:assert/strict";
import { CircuitBreaker } from "../../src/circuit/circuit_breaker.ts";
import { ConsecutiveDetector } from "../../src/circuit/consecutive_detector.ts";
import { CountDetector } from "../../src/circuit/count_detector.ts";
import { createDetector } from "../../src/circuit/detector.ts";
import { constant } from "../../src/backoff/constant.ts";
import { exponential } from "../../src/backoff/exponential.ts";
import { policy } from "../../src/policy/policy.ts";
import { loose, throwsExactly } from "../_helpers.ts";
import type { Options } from "./_helpers.ts";

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
      "slowCallMs, slowCallRatio, onEvent, clock, random, initialState, fleet, threshold)",
    ],
    [
      { ...n, minCall: 3 },
      TypeError,
      "minCall is not a known option (expected one of: kind, name, breakMs, halfOpenMaxCalls, " +
      "slowCallMs, slowCallRatio, onEvent, clock, random, initialState, fleet, size, threshold, minCalls)",
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
      "clock must be left out for its default, not null: received null",
    ],
    [{ ...c, random: 0.5 }, TypeError, "random must be a function: received 0.5"],
    [{ ...c, onEvent: "log" }, TypeError, 'onEvent must be a function: received "log"'],
    // consecutive
    [
      { kind: "consecutive" },
      TypeError,
      "threshold must be an integer between 1 and 100000: received undefined",
    ],
    [
      { ...c, threshold: 0 },
      RangeError,
      "threshold must be an integer between 1 and 100000: received 0",
    ],
    [
      { ...c, threshold: 2.5 },
      RangeError,
      "threshold must be an integer between 1 and 100000: received 2.5",
    ],
    [
      { ...c, threshold: 1e12 },
      RangeError,
      "threshold must be an integer between 1 and 100000: received 1000000000000",
    ],
    // count
    [{ ...n, size: 0 }, RangeError, "size must be an integer between 1 and 100000: received 0"],
    [
      { ...n, size: undefined },
      TypeError,
      "size must be an integer between 1 and 100000: received undefined",
    ],
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
    [{ ...t, buckets: 0 }, RangeError, "buckets must be an integer between 1 and 1000: received 0"],
    [
      { ...t, buckets: 2.5 },
      RangeError,
      "buckets must be an integer between 1 and 1000: received 2.5",
    ],
    [
      { ...t, threshold: 1.01 },
      RangeError,
      "threshold must be a number > 0 and <= 1: received 1.01",
    ],
    [{ ...t, minThroughput: 0 }, RangeError, "minThroughput must be an integer >= 1: received 0"],
    [
      { ...t, minThroughput: null },
      TypeError,
      "minThroughput must be left out for its default, not null: received null",
    ],
    [
      { ...t, minCalls: 5 },
      TypeError,
      "minCalls is not a known option (expected one of: kind, name, breakMs, halfOpenMaxCalls, " +
      "slowCallMs, slowCallRatio, onEvent, clock, random, initialState, fleet, windowMs, buckets, " +
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
      "initialState.detector.calls must be an array of safe integers >= 0: received an array",
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
            calls: [2.5],
            failures: [0],
            slowCalls: [0],
          },
        },
      },
      TypeError,
      "initialState.detector.calls must be an array of safe integers >= 0: received an array",
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
      "initialState.detector.head must be a safe integer or null: received 0.5",
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

Deno.test("breakMs rejects a backoff factory passed uncalled, on the breaker and in a policy", () => {
  throwsExactly(
    () => new CircuitBreaker({ kind: "consecutive", threshold: 1, breakMs: loose(exponential) }),
    TypeError,
    "breakMs must be a backoff strategy, not the factory exponential: " +
      "call exponential({ ... }) first",
  );
  throwsExactly(
    () => new CircuitBreaker({ kind: "count", size: 2, threshold: 1, breakMs: loose(constant) }),
    TypeError,
    "breakMs must be a backoff strategy, not the factory constant: call constant(ms) first",
  );
  throwsExactly(
    () =>
      policy("p", {
        telemetry: false,
        circuit: { kind: "consecutive", threshold: 1, breakMs: loose(exponential) },
      }),
    TypeError,
    "circuit.breakMs must be a backoff strategy, not the factory exponential: " +
      "call exponential({ ... }) first",
  );
  const called = new CircuitBreaker({
    kind: "consecutive",
    threshold: 1,
    breakMs: exponential({ baseMs: 10 }),
  });
  assert.equal(called.state, "closed");
});

Deno.test("size options have upper bounds, checked at construction", () => {
  const make = (options: unknown) => () => new CircuitBreaker(options as Options);
  throwsExactly(
    make({ kind: "count", size: 2 ** 31, threshold: 0.5 }),
    RangeError,
    "size must be an integer between 1 and 100000: received 2147483648",
  );
  throwsExactly(
    make({ kind: "count", size: 100_001, threshold: 0.5 }),
    RangeError,
    "size must be an integer between 1 and 100000: received 100001",
  );
  throwsExactly(
    make({ kind: "time", windowMs: 1_000, buckets: 1e8, threshold: 0.5 }),
    RangeError,
    "buckets must be an integer between 1 and 1000: received 100000000",
  );
  throwsExactly(
    make({ kind: "time", windowMs: 1_000, buckets: 1001, threshold: 0.5 }),
    RangeError,
    "buckets must be an integer between 1 and 1000: received 1001",
  );
  // The bounds themselves are accepted.
  new CountDetector({ size: 100_000, threshold: 0.5 });
  make({ kind: "time", windowMs: 1_000, buckets: 1000, threshold: 0.5 })();
});

import assert from "node:assert/strict";
import type { BackoffContext, BackoffStrategy } from "../../src/backoff/strategy.ts";
import type { ErrorClass } from "../../src/core/error_class.ts";
import { constant } from "../../src/backoff/constant.ts";
import { exponential } from "../../src/backoff/exponential.ts";
import { fullJitter } from "../../src/backoff/full_jitter.ts";
import { equalJitter } from "../../src/backoff/equal_jitter.ts";
import { decorrelatedJitter } from "../../src/backoff/decorrelated_jitter.ts";
import { tokenBackoff } from "../../src/backoff/token_backoff.ts";
import { seededRandom } from "../../src/core/random.ts";
import { loose, throwsExactly } from "../_helpers.ts";

const ATTEMPTS = [1, 2, 3, 4, 5, 6];

/** A random source that always returns `r`. */
const fixed = (r: number) => () => r;

/** A random source that fails the test if it is called. */
const noRandom = (): number => {
  throw new Error("random must not be called");
};

/** Returns random numbers from a list, in order; fails when it runs out. */
function sequence(values: readonly number[]): () => number {
  let i = 0;
  return () => {
    assert.ok(i < values.length, "random called more often than expected");
    return values[i++];
  };
}

function ctx(attempt: number, random: () => number, extra: Partial<BackoffContext> = {}) {
  return { attempt, errorClass: "transient" as ErrorClass, random, ...extra };
}

/** Delays for attempts 1..6 with a fixed random number. */
function delays(strategy: BackoffStrategy, r: number): number[] {
  return ATTEMPTS.map((attempt) => strategy(ctx(attempt, fixed(r))));
}

type BadCase = [
  fn: () => unknown,
  Class: RangeErrorConstructor | TypeErrorConstructor,
  msg: string,
];

function runBadCases(cases: readonly BadCase[]): void {
  for (const [fn, Class, message] of cases) throwsExactly(fn, Class, message);
}

// --- constant --------------------------------------------------------------

Deno.test("constant returns the same delay for every attempt and class, without random", () => {
  const backoff = constant(250);
  assert.deepEqual(ATTEMPTS.map((a) => backoff(ctx(a, noRandom))), [250, 250, 250, 250, 250, 250]);
  for (const errorClass of ["rate_limit", "unknown"] as const) {
    assert.equal(backoff({ attempt: 2, errorClass, random: noRandom, prevDelayMs: 9 }), 250);
  }
  assert.equal(constant(0)(ctx(1, noRandom)), 0);
  assert.equal(constant(12.5)(ctx(3, noRandom)), 12.5);
});

Deno.test("constant rejects bad input", () => {
  runBadCases([
    [() => constant(-1), RangeError, "ms must be a number >= 0: received -1"],
    [() => constant(NaN), RangeError, "ms must be a number >= 0: received NaN"],
    [() => constant(Infinity), RangeError, "ms must be a number >= 0: received Infinity"],
    [() => constant(loose("5")), TypeError, 'ms must be a number >= 0: received "5"'],
    [() => constant(loose(undefined)), TypeError, "ms must be a number >= 0: received undefined"],
    [() => constant(loose(null)), TypeError, "ms must be a number >= 0: received null"],
  ]);
});

// --- exponential -----------------------------------------------------------

Deno.test("exponential doubles from baseMs by default and never calls random without jitter", () => {
  const backoff = exponential({ baseMs: 100 });
  assert.deepEqual(
    ATTEMPTS.map((a) => backoff(ctx(a, noRandom))),
    [100, 200, 400, 800, 1600, 3200],
  );
});

Deno.test("exponential caps at maxMs", () => {
  const backoff = exponential({ baseMs: 100, maxMs: 1_000 });
  assert.deepEqual(
    ATTEMPTS.map((a) => backoff(ctx(a, noRandom))),
    [100, 200, 400, 800, 1_000, 1_000],
  );
  // far past the point where factor^(attempt - 1) overflows to Infinity
  assert.equal(backoff(ctx(5_000, noRandom)), 1_000);
  // maxMs equal to baseMs is a constant delay
  assert.deepEqual(delays(exponential({ baseMs: 70, maxMs: 70 }), 0.5), [70, 70, 70, 70, 70, 70]);
});

Deno.test("exponential with other factors", () => {
  assert.deepEqual(
    delays(exponential({ baseMs: 100, factor: 3 }), 0),
    [100, 300, 900, 2_700, 8_100, 24_300],
  );
  assert.deepEqual(
    delays(exponential({ baseMs: 100, factor: 1.5 }), 0),
    [100, 150, 225, 337.5, 506.25, 759.375],
  );
  assert.deepEqual(delays(exponential({ baseMs: 40, factor: 1 }), 0), [40, 40, 40, 40, 40, 40]);
});

Deno.test("exponential with factor 3, maxMs and jitter 0.5", () => {
  const backoff = exponential({ baseMs: 100, maxMs: 5_000, factor: 3, jitter: 0.5 });
  // capped delay d = [100, 300, 900, 2700, 5000, 5000]; result d + r * (0.5 * d)
  assert.deepEqual(delays(backoff, 0), [100, 300, 900, 2_700, 5_000, 5_000]);
  assert.deepEqual(delays(backoff, 0.25), [112.5, 337.5, 1_012.5, 3_037.5, 5_625, 5_625]);
  assert.deepEqual(delays(backoff, 0.5), [125, 375, 1_125, 3_375, 6_250, 6_250]);
  assert.deepEqual(
    delays(backoff, 0.999),
    [149.95, 449.85, 1_349.55, 4_048.65, 7_497.5, 7_497.5],
  );
});

Deno.test("exponential with jitter 1 can double the delay; random is called once per delay", () => {
  let calls = 0;
  const random = () => {
    calls++;
    return 0.5;
  };
  const backoff = exponential({ baseMs: 100, maxMs: 1_000, jitter: 1 });
  assert.deepEqual(
    ATTEMPTS.map((a) => backoff(ctx(a, random))),
    [150, 300, 600, 1_200, 1_500, 1_500],
  );
  assert.equal(calls, 6);
});

Deno.test("exponential with baseMs 0 is always 0, even past the overflow point", () => {
  const backoff = exponential({ baseMs: 0, jitter: 1 });
  assert.deepEqual(delays(backoff, 0.999), [0, 0, 0, 0, 0, 0]);
  assert.equal(backoff(ctx(5_000, fixed(0.5))), 0);
});

Deno.test("exponential ignores prevDelayMs and errorClass", () => {
  const backoff = exponential({ baseMs: 100 });
  assert.equal(
    backoff({ attempt: 3, prevDelayMs: 9_999, errorClass: "flaky", random: noRandom }),
    400,
  );
});

Deno.test("exponential rejects bad input", () => {
  runBadCases([
    [() => exponential(loose(null)), TypeError, "options must be an object: received null"],
    [
      () => exponential(loose(undefined)),
      TypeError,
      "options must be an object: received undefined",
    ],
    [() => exponential(loose(100)), TypeError, "options must be an object: received 100"],
    [() => exponential(loose([])), TypeError, "options must be an object: received an array"],
    [
      () => exponential(loose({ baseMs: 100, maxMS: 1_000 })),
      TypeError,
      "maxMS is not a known option (expected one of: baseMs, maxMs, factor, jitter)",
    ],
    [() => exponential(loose({})), TypeError, "baseMs must be a number >= 0: received undefined"],
    [() => exponential({ baseMs: -1 }), RangeError, "baseMs must be a number >= 0: received -1"],
    [() => exponential({ baseMs: NaN }), RangeError, "baseMs must be a number >= 0: received NaN"],
    [
      () => exponential({ baseMs: Infinity }),
      RangeError,
      "baseMs must be a number >= 0: received Infinity",
    ],
    [
      () => exponential(loose({ baseMs: "100" })),
      TypeError,
      'baseMs must be a number >= 0: received "100"',
    ],
    [
      () => exponential({ baseMs: 100, maxMs: 99 }),
      RangeError,
      "maxMs must be a number >= baseMs (100): received 99",
    ],
    [
      () => exponential({ baseMs: 0, maxMs: -1 }),
      RangeError,
      "maxMs must be a number >= baseMs (0): received -1",
    ],
    [
      () => exponential({ baseMs: 100, maxMs: NaN }),
      RangeError,
      "maxMs must be a number >= baseMs (100): received NaN",
    ],
    [
      () => exponential(loose({ baseMs: 100, maxMs: "1000" })),
      TypeError,
      'maxMs must be a number >= baseMs (100): received "1000"',
    ],
    [
      () => exponential(loose({ baseMs: 100, maxMs: null })),
      TypeError,
      "maxMs must be left out for its default, not null: received null",
    ],
    [
      () => exponential({ baseMs: 100, factor: 0.5 }),
      RangeError,
      "factor must be a number >= 1: received 0.5",
    ],
    [
      () => exponential({ baseMs: 100, factor: Infinity }),
      RangeError,
      "factor must be a number >= 1: received Infinity",
    ],
    [
      () => exponential(loose({ baseMs: 100, factor: "2" })),
      TypeError,
      'factor must be a number >= 1: received "2"',
    ],
    [
      () => exponential({ baseMs: 100, jitter: -0.1 }),
      RangeError,
      "jitter must be a number between 0 and 1: received -0.1",
    ],
    [
      () => exponential({ baseMs: 100, jitter: 1.5 }),
      RangeError,
      "jitter must be a number between 0 and 1: received 1.5",
    ],
    [
      () => exponential({ baseMs: 100, jitter: NaN }),
      RangeError,
      "jitter must be a number between 0 and 1: received NaN",
    ],
    [
      () => exponential(loose({ baseMs: 100, jitter: true })),
      TypeError,
      "jitter must be a number between 0 and 1: received true",
    ],
  ]);
  // the edges of every range are accepted
  exponential({ baseMs: 0, maxMs: 0, factor: 1, jitter: 0 });
  exponential({ baseMs: 100, maxMs: Infinity, factor: 1, jitter: 1 });
  exponential({ baseMs: 100, maxMs: undefined, factor: undefined, jitter: undefined });
});

// --- fullJitter ------------------------------------------------------------

Deno.test("fullJitter draws from [0, min(maxMs, baseMs * 2^(attempt - 1))]", () => {
  const backoff = fullJitter({ baseMs: 100, maxMs: 1_000 });
  // ceilings: [100, 200, 400, 800, 1000, 1000]
  assert.deepEqual(delays(backoff, 0), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(delays(backoff, 0.5), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual(delays(backoff, 0.999), [99.9, 199.8, 399.6, 799.2, 999, 999]);
  assert.equal(backoff(ctx(5_000, fixed(0.5))), 500);
});

Deno.test("fullJitter without maxMs keeps doubling; baseMs 0 is always 0", () => {
  assert.deepEqual(delays(fullJitter({ baseMs: 100 }), 0.5), [50, 100, 200, 400, 800, 1_600]);
  const zero = fullJitter({ baseMs: 0 });
  assert.deepEqual(delays(zero, 0.999), [0, 0, 0, 0, 0, 0]);
  assert.equal(zero(ctx(5_000, fixed(0.5))), 0);
});

Deno.test("fullJitter rejects bad input", () => {
  runBadCases([
    [() => fullJitter(loose(null)), TypeError, "options must be an object: received null"],
    [() => fullJitter(loose("x")), TypeError, 'options must be an object: received "x"'],
    [
      () => fullJitter(loose({ baseMs: 100, jitter: 1 })),
      TypeError,
      "jitter is not a known option (expected one of: baseMs, maxMs)",
    ],
    [() => fullJitter(loose({})), TypeError, "baseMs must be a number >= 0: received undefined"],
    [() => fullJitter({ baseMs: -1 }), RangeError, "baseMs must be a number >= 0: received -1"],
    [
      () => fullJitter(loose({ baseMs: "1" })),
      TypeError,
      'baseMs must be a number >= 0: received "1"',
    ],
    [
      () => fullJitter({ baseMs: 100, maxMs: 50 }),
      RangeError,
      "maxMs must be a number >= baseMs (100): received 50",
    ],
    [
      () => fullJitter(loose({ baseMs: 100, maxMs: "50" })),
      TypeError,
      'maxMs must be a number >= baseMs (100): received "50"',
    ],
  ]);
  fullJitter({ baseMs: 0, maxMs: 0 });
  fullJitter({ baseMs: 100, maxMs: 100 });
});

// --- equalJitter -----------------------------------------------------------

Deno.test("equalJitter is t/2 + random(0, t/2) with t = min(maxMs, baseMs * 2^(attempt - 1))", () => {
  const backoff = equalJitter({ baseMs: 100, maxMs: 1_000 });
  // t: [100, 200, 400, 800, 1000, 1000]
  assert.deepEqual(delays(backoff, 0), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual(delays(backoff, 0.5), [75, 150, 300, 600, 750, 750]);
  assert.deepEqual(delays(backoff, 0.999), [99.95, 199.9, 399.8, 799.6, 999.5, 999.5]);
  assert.equal(backoff(ctx(5_000, fixed(0))), 500);
});

Deno.test("equalJitter without maxMs keeps doubling; baseMs 0 is always 0", () => {
  assert.deepEqual(delays(equalJitter({ baseMs: 100 }), 0), [50, 100, 200, 400, 800, 1_600]);
  const zero = equalJitter({ baseMs: 0 });
  assert.deepEqual(delays(zero, 0.999), [0, 0, 0, 0, 0, 0]);
  assert.equal(zero(ctx(5_000, fixed(0.5))), 0);
});

Deno.test("equalJitter rejects bad input", () => {
  runBadCases([
    [
      () => equalJitter(loose(undefined)),
      TypeError,
      "options must be an object: received undefined",
    ],
    [
      () => equalJitter(loose({ base: 100 })),
      TypeError,
      "base is not a known option (expected one of: baseMs, maxMs)",
    ],
    [() => equalJitter(loose({})), TypeError, "baseMs must be a number >= 0: received undefined"],
    [
      () => equalJitter({ baseMs: -0.5 }),
      RangeError,
      "baseMs must be a number >= 0: received -0.5",
    ],
    [
      () => equalJitter({ baseMs: 100, maxMs: 10 }),
      RangeError,
      "maxMs must be a number >= baseMs (100): received 10",
    ],
    [
      () => equalJitter(loose({ baseMs: 100, maxMs: false })),
      TypeError,
      "maxMs must be a number >= baseMs (100): received false",
    ],
  ]);
  equalJitter({ baseMs: 0, maxMs: 0 });
});

// --- decorrelatedJitter ----------------------------------------------------

Deno.test("decorrelatedJitter: the first delay is random(baseMs, min(maxMs, 3 * baseMs))", () => {
  const backoff = decorrelatedJitter({ baseMs: 100, maxMs: 1_000 });
  assert.equal(backoff(ctx(1, fixed(0))), 100);
  assert.equal(backoff(ctx(1, fixed(0.5))), 200);
  assert.equal(backoff(ctx(1, fixed(0.999))), 299.8);
  // maxMs below 3 * baseMs caps the first delay
  const tight = decorrelatedJitter({ baseMs: 100, maxMs: 250 });
  assert.equal(tight(ctx(1, fixed(0))), 100);
  assert.equal(tight(ctx(1, fixed(0.5))), 200);
  assert.equal(tight(ctx(1, fixed(0.999))), 250);
});

Deno.test("decorrelatedJitter: later delays are min(maxMs, random(baseMs, prev * 3))", () => {
  const backoff = decorrelatedJitter({ baseMs: 100, maxMs: 1_000 });
  const at = (prevDelayMs: number, r: number) => backoff(ctx(2, fixed(r), { prevDelayMs }));
  assert.equal(at(200, 0), 100);
  assert.equal(at(200, 0.5), 350);
  assert.equal(at(350, 0.5), 575);
  assert.equal(at(900, 0.5), 1_000); // 100 + 0.5 * 2600 = 1400, capped
  assert.equal(at(1_000, 0), 100);
  // below baseMs (or NaN) counts as baseMs, so no delay is under baseMs
  assert.equal(at(0, 0.5), 200);
  assert.equal(at(50, 0), 100);
  assert.equal(at(NaN, 0.5), 200);
  // stateless: the attempt number is ignored and the same input gives the same output
  assert.equal(backoff(ctx(6, fixed(0.5), { prevDelayMs: 200 })), 350);
  assert.equal(backoff(ctx(6, fixed(0.5), { prevDelayMs: 200 })), 350);
});

Deno.test("decorrelatedJitter fed back its own delays follows the hand-computed sequence", () => {
  const backoff = decorrelatedJitter({ baseMs: 100, maxMs: 1_000 });
  const random = sequence([0.5, 0.5, 0.5, 0.75, 0, 0.999]);
  const got: number[] = [];
  let prevDelayMs: number | undefined;
  for (const attempt of ATTEMPTS) {
    prevDelayMs = backoff(ctx(attempt, random, { prevDelayMs }));
    got.push(prevDelayMs);
  }
  // 100 + 0.5*200 = 200; 100 + 0.5*500 = 350; 100 + 0.5*950 = 575;
  // 100 + 0.75*1625 = 1318.75 -> 1000; 100 + 0*2900 = 100; 100 + 0.999*200 = 299.8
  assert.deepEqual(got, [200, 350, 575, 1_000, 100, 299.8]);
});

Deno.test("decorrelatedJitter stays within [baseMs, min(maxMs, prev * 3)] over 10,000 seeded steps", () => {
  const baseMs = 100;
  const maxMs = 5_000;
  const run = (seed: number) => {
    const backoff = decorrelatedJitter({ baseMs, maxMs });
    const random = seededRandom(seed);
    const out: number[] = [];
    let prevDelayMs: number | undefined;
    for (let step = 0; step < 10_000; step++) {
      const delay = backoff({ attempt: step + 1, prevDelayMs, errorClass: "transient", random });
      const upper = Math.min(maxMs, (prevDelayMs ?? baseMs) * 3);
      if (!(delay >= baseMs && delay <= upper)) {
        assert.fail(`step ${step}: ${delay} not in [${baseMs}, ${upper}] (prev ${prevDelayMs})`);
      }
      out.push(delay);
      prevDelayMs = delay;
    }
    return out;
  };
  const a = run(20_240_601);
  assert.deepEqual(run(20_240_601), a, "same seed, same delays");
  assert.notDeepEqual(run(7), a, "another seed, other delays");
  assert.ok(a.includes(maxMs), "the cap is reached");
  assert.ok(a.some((d) => d < 2 * baseMs), "delays fall back near baseMs");
});

Deno.test("decorrelatedJitter rejects bad input", () => {
  runBadCases([
    [() => decorrelatedJitter(loose(null)), TypeError, "options must be an object: received null"],
    [
      () => decorrelatedJitter(loose({ baseMs: 100, capMs: 1 })),
      TypeError,
      "capMs is not a known option (expected one of: baseMs, maxMs)",
    ],
    [
      () => decorrelatedJitter(loose({})),
      TypeError,
      "baseMs must be a number > 0: received undefined",
    ],
    [
      () => decorrelatedJitter({ baseMs: 0 }),
      RangeError,
      "baseMs must be a number > 0: received 0",
    ],
    [
      () => decorrelatedJitter({ baseMs: -1 }),
      RangeError,
      "baseMs must be a number > 0: received -1",
    ],
    [
      () => decorrelatedJitter({ baseMs: Infinity }),
      RangeError,
      "baseMs must be a number > 0: received Infinity",
    ],
    [
      () => decorrelatedJitter(loose({ baseMs: "100" })),
      TypeError,
      'baseMs must be a number > 0: received "100"',
    ],
    [
      () => decorrelatedJitter({ baseMs: 100, maxMs: 99 }),
      RangeError,
      "maxMs must be a number >= baseMs (100): received 99",
    ],
    [
      () => decorrelatedJitter({ baseMs: 100, maxMs: NaN }),
      RangeError,
      "maxMs must be a number >= baseMs (100): received NaN",
    ],
    [
      () => decorrelatedJitter(loose({ baseMs: 100, maxMs: "5000" })),
      TypeError,
      'maxMs must be a number >= baseMs (100): received "5000"',
    ],
  ]);
  decorrelatedJitter({ baseMs: 100, maxMs: 100 });
  decorrelatedJitter({ baseMs: 0.5 });
});

// --- tokenBackoff ----------------------------------------------------------

/** Calls a token strategy at the given times. */
function callsAt(backoff: BackoffStrategy, times: readonly number[]): number[] {
  return times.map((now) =>
    backoff({ attempt: 1, errorClass: "rate_limit", random: noRandom, now })
  );
}

Deno.test("tokenBackoff queues callers at the same instant: 0, 200, 400 with rate 5, burst 1", () => {
  const backoff = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  assert.deepEqual(callsAt(backoff, [0, 0, 0, 0]), [0, 200, 400, 600]);
});

Deno.test("tokenBackoff refills over time, never above burst", () => {
  const backoff = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  assert.deepEqual(callsAt(backoff, [0, 0, 0]), [0, 200, 400]);
  // by 1000 ms the debt of 2 is repaid and 3 more tokens refilled, capped at 1
  assert.deepEqual(callsAt(backoff, [1_000, 1_000]), [0, 200]);
  // a long idle period still leaves only one token
  assert.deepEqual(callsAt(backoff, [60_000, 60_000, 60_000]), [0, 200, 400]);
});

Deno.test("tokenBackoff with partial refills", () => {
  const backoff = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  // 0: take the token. 100: half a token back, take one -> -0.5, wait 100.
  // 100: -1.5, wait 300. 200: -1.5 + 0.5 - 1 = -2, wait 400 (served at 600).
  assert.deepEqual(callsAt(backoff, [0, 100, 100, 200]), [0, 100, 300, 400]);
  // a caller arriving when its token is due is served at once
  const paced = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  assert.deepEqual(callsAt(paced, [0, 200, 400, 600]), [0, 0, 0, 0]);
  // a caller at 200 queues behind the reservation made at 0 for 200
  const queued = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  assert.deepEqual(callsAt(queued, [0, 0, 200]), [0, 200, 200]);
});

Deno.test("tokenBackoff with burst 3", () => {
  const backoff = tokenBackoff({ ratePerSecond: 10, burst: 3 });
  assert.deepEqual(callsAt(backoff, [0, 0, 0, 0, 0]), [0, 0, 0, 100, 200]);
  // at 1000: debt of 2 repaid, 8 more refilled, capped at 3
  assert.deepEqual(callsAt(backoff, [1_000, 1_000, 1_000, 1_000]), [0, 0, 0, 100]);
  // 150 ms later 1.5 tokens are back (-1 + 1.5 = 0.5)
  assert.deepEqual(callsAt(backoff, [1_150, 1_150]), [50, 150]);
});

Deno.test("tokenBackoff with a fractional rate, a clock going backwards, separate buckets", () => {
  const slow = tokenBackoff({ ratePerSecond: 0.5, burst: 1 });
  assert.deepEqual(callsAt(slow, [0, 0, 0]), [0, 2_000, 4_000]);
  // a time earlier than the last call adds no tokens
  const backwards = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  assert.deepEqual(callsAt(backwards, [1_000, 500]), [0, 200]);
  // each call to tokenBackoff makes its own bucket
  const a = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  const b = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  assert.deepEqual(callsAt(a, [0, 0]), [0, 200]);
  assert.deepEqual(callsAt(b, [0]), [0]);
});

Deno.test("tokenBackoff requires ctx.now and takes no token when it is missing", () => {
  const backoff = tokenBackoff({ ratePerSecond: 5, burst: 1 });
  const rule = "now must be a finite number (tokenBackoff needs the clock's time)";
  runBadCases([
    [() => backoff(ctx(1, noRandom)), TypeError, `${rule}: received undefined`],
    [() => backoff(ctx(1, noRandom, { now: NaN })), TypeError, `${rule}: received NaN`],
    [() => backoff(ctx(1, noRandom, { now: Infinity })), TypeError, `${rule}: received Infinity`],
    [
      () => backoff(ctx(1, noRandom, { now: loose("0") })),
      TypeError,
      `${rule}: received "0"`,
    ],
  ]);
  assert.deepEqual(callsAt(backoff, [0, 0]), [0, 200]);
});

Deno.test("tokenBackoff rejects bad options", () => {
  runBadCases([
    [() => tokenBackoff(loose(null)), TypeError, "options must be an object: received null"],
    [
      () => tokenBackoff(loose({ ratePerSecond: 5, burst: 1, rate: 5 })),
      TypeError,
      "rate is not a known option (expected one of: ratePerSecond, burst)",
    ],
    [
      () => tokenBackoff({ ratePerSecond: 0, burst: 1 }),
      RangeError,
      "ratePerSecond must be a number > 0: received 0",
    ],
    [
      () => tokenBackoff({ ratePerSecond: -5, burst: 1 }),
      RangeError,
      "ratePerSecond must be a number > 0: received -5",
    ],
    [
      () => tokenBackoff({ ratePerSecond: Infinity, burst: 1 }),
      RangeError,
      "ratePerSecond must be a number > 0: received Infinity",
    ],
    [
      () => tokenBackoff(loose({ ratePerSecond: "5", burst: 1 })),
      TypeError,
      'ratePerSecond must be a number > 0: received "5"',
    ],
    [
      () => tokenBackoff(loose({ burst: 1 })),
      TypeError,
      "ratePerSecond must be a number > 0: received undefined",
    ],
    [
      () => tokenBackoff({ ratePerSecond: 5, burst: 0 }),
      RangeError,
      "burst must be an integer >= 1: received 0",
    ],
    [
      () => tokenBackoff({ ratePerSecond: 5, burst: 1.5 }),
      RangeError,
      "burst must be an integer >= 1: received 1.5",
    ],
    [
      () => tokenBackoff({ ratePerSecond: 5, burst: Infinity }),
      RangeError,
      "burst must be an integer >= 1: received Infinity",
    ],
    [
      () => tokenBackoff(loose({ ratePerSecond: 5, burst: "1" })),
      TypeError,
      'burst must be an integer >= 1: received "1"',
    ],
    [
      () => tokenBackoff(loose({ ratePerSecond: 5 })),
      TypeError,
      "burst must be an integer >= 1: received undefined",
    ],
  ]);
  tokenBackoff({ ratePerSecond: 0.001, burst: 1 });
});

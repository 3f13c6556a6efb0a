import assert from "node:assert/strict";
import { LatencyHistogram } from "../../src/core/latency_histogram.ts";
import { seededRandom } from "../../src/core/random.ts";
import { loose, throwsExactly } from "../_helpers.ts";

const N = 100_000;

/**
 * Percentiles checked, each as an exact fraction num/den of 100 so the
 * expected nearest rank can be computed in integers, independently of the
 * histogram's floating-point rank.
 */
const PERCENTILES: readonly [p: number, num: number, den: number][] = [
  [0, 0, 1],
  [1, 1, 1],
  [5, 5, 1],
  [25, 25, 1],
  [50, 50, 1],
  [75, 75, 1],
  [90, 90, 1],
  [95, 95, 1],
  [99, 99, 1],
  [99.9, 999, 10],
  [100, 100, 1],
];

/** Nearest rank ⌈(num/den)/100 · n⌉ in integer arithmetic; 1 for p = 0. */
function exactRank(num: number, den: number, n: number): number {
  const scaled = num * n; // integers well below 2^53: exact
  const divisor = den * 100;
  const remainder = scaled % divisor;
  const rank = (scaled - remainder) / divisor + (remainder === 0 ? 0 : 1);
  return Math.max(1, rank);
}

/** Value at nearest rank of an ascending array. */
function exactPercentile(sorted: Float64Array, num: number, den: number): number {
  return sorted[exactRank(num, den, sorted.length) - 1];
}

/** Asserts |actual − exact| <= relativeError · exact, with a readable message. */
function assertWithin(actual: number, exact: number, relativeError: number, what: string): void {
  const error = Math.abs(actual - exact);
  assert.ok(
    error <= relativeError * exact,
    `${what}: got ${actual}, exact ${exact}, relative error ${error / exact} > ${relativeError}`,
  );
}

/** Records `values` and checks every percentile against an exact sort. */
function checkAgainstSort(values: Float64Array, relativeError: number, label: string): void {
  const histogram = new LatencyHistogram({ relativeError });
  for (const value of values) histogram.record(value);
  const sorted = values.slice().sort();
  for (const [p, num, den] of PERCENTILES) {
    assertWithin(
      histogram.percentile(p),
      exactPercentile(sorted, num, den),
      relativeError,
      `${label} p${p}`,
    );
  }
  let sum = 0;
  for (const value of values) sum += value;
  assert.equal(histogram.count, values.length);
  assert.equal(histogram.sum, sum);
  assert.equal(histogram.min, sorted[0]);
  assert.equal(histogram.max, sorted[sorted.length - 1]);
  assert.equal(histogram.mean, sum / values.length);
  assert.equal(histogram.percentile(0), sorted[0]);
  assert.equal(histogram.percentile(100), sorted[sorted.length - 1]);
}

function uniform(seed: number, n = N): Float64Array {
  const random = seededRandom(seed);
  return Float64Array.from({ length: n }, () => 1 + 999 * random());
}

/** exp of a uniform: log-uniform over about 0.05 ms .. 160 s, heavy right tail. */
function logUniform(seed: number, n = N): Float64Array {
  const random = seededRandom(seed);
  return Float64Array.from({ length: n }, () => Math.exp(-3 + 15 * random()));
}

/** 90 % fast (5..15 ms), 10 % slow (800..1200 ms). */
function bimodal(seed: number, n = N): Float64Array {
  const random = seededRandom(seed);
  return Float64Array.from(
    { length: n },
    () => (random() < 0.9 ? 5 + 10 * random() : 800 + 400 * random()),
  );
}

// --- the test helper itself ------------------------------------------------

Deno.test("exactRank is nearest rank in integer arithmetic", () => {
  assert.equal(exactRank(0, 1, 10), 1);
  assert.equal(exactRank(50, 1, 10), 5);
  assert.equal(exactRank(51, 1, 10), 6);
  assert.equal(exactRank(999, 10, 1_000), 999);
  assert.equal(exactRank(999, 10, 1_001), 1_000);
  assert.equal(exactRank(100, 1, 7), 7);
});

// --- accuracy ---------------------------------------------------------------

Deno.test("percentiles of 100,000 uniform 1..1000 ms samples are within 1 %", () => {
  checkAgainstSort(uniform(1), 0.01, "uniform");
});

Deno.test("percentiles of 100,000 log-uniform samples (exp of uniform) are within 1 %", () => {
  checkAgainstSort(logUniform(2), 0.01, "log-uniform");
});

Deno.test("percentiles of 100,000 bimodal samples are within 1 %", () => {
  checkAgainstSort(bimodal(3), 0.01, "bimodal");
});

Deno.test("the bound holds for other relativeError settings", () => {
  for (const relativeError of [0.0001, 0.001, 0.05, 0.1]) {
    checkAgainstSort(logUniform(4), relativeError, `log-uniform a=${relativeError}`);
    checkAgainstSort(bimodal(5), relativeError, `bimodal a=${relativeError}`);
  }
});

Deno.test("the bound holds for values right at and around bucket boundaries", () => {
  // Buckets are powers of gamma; probe each power and its floating neighbours,
  // between a tiny and a huge value so that min/max clamping does not help.
  for (const relativeError of [0.01, 0.0001, 0.1]) {
    const gamma = (1 + relativeError) / (1 - relativeError);
    for (let i = -300; i <= 700; i += 7) {
      const boundary = gamma ** i;
      if (boundary <= 0.002 || boundary >= 3_000_000) continue;
      for (const value of [boundary * (1 - 2e-16), boundary, boundary * (1 + 2e-16)]) {
        const histogram = new LatencyHistogram({ relativeError });
        histogram.record(0.0015);
        histogram.record(value);
        histogram.record(3_500_000);
        assertWithin(histogram.percentile(50), value, relativeError, `a=${relativeError} ${value}`);
      }
    }
  }
});

Deno.test("every percentile lies between min and max and is monotonic in p", () => {
  const histogram = new LatencyHistogram();
  for (const value of bimodal(6, 10_000)) histogram.record(value);
  let previous = -Infinity;
  for (let p = 0; p <= 100; p += 0.5) {
    const value = histogram.percentile(p);
    assert.ok(value >= histogram.min && value <= histogram.max);
    assert.ok(value >= previous, `p${p} = ${value} < ${previous}`);
    previous = value;
  }
});

Deno.test("nearest rank: ceil(p/100 * n), p = 0 is the minimum", () => {
  const histogram = new LatencyHistogram({ relativeError: 0.0001 });
  for (let ms = 1; ms <= 10; ms++) histogram.record(ms * 100);
  const near = (p: number, exact: number) =>
    assertWithin(histogram.percentile(p), exact, 1e-4, `p${p}`);
  near(0, 100);
  near(10, 100); // rank 1
  near(10.01, 200); // rank 2
  near(50, 500); // rank 5
  near(50.5, 600); // rank 6
  near(90, 900);
  near(99, 1_000);
  near(100, 1_000);
});

Deno.test("a decimal percentile is not pushed to the next rank by binary rounding", () => {
  // 99.9 / 100 * 1000 is 999.0000000000001 in binary: still rank 999
  const histogram = new LatencyHistogram({ relativeError: 0.0001 });
  for (let ms = 1; ms <= 1_000; ms++) histogram.record(ms);
  assertWithin(histogram.percentile(99.9), 999, 1e-4, "p99.9 of 1..1000");
  assertWithin(histogram.percentile(0.1), 1, 1e-4, "p0.1 of 1..1000");
  assertWithin(histogram.percentile(99.95), 1_000, 1e-4, "p99.95 of 1..1000");
});

Deno.test("small random sets: every rank from either end of the bucket array", () => {
  // n from 1 to 60, values in the zero bucket, in range and above maxValue
  const random = seededRandom(10);
  const minValue = 0.01;
  const maxValue = 10_000;
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(random() * 60);
    const values = Float64Array.from({ length: n }, () => {
      const r = random();
      return r < 0.1
        ? random() * minValue
        : r < 0.15
        ? maxValue * (1 + random())
        : Math.exp(-4 + 13 * random());
    });
    const histogram = new LatencyHistogram({ minValue, maxValue });
    for (const value of values) histogram.record(value);
    const sorted = values.slice().sort();
    for (let tenths = 0; tenths <= 1_000; tenths += 5) {
      const exact = exactPercentile(sorted, tenths, 10);
      const actual = histogram.percentile(tenths / 10);
      const what = `trial ${trial} n=${n} p${tenths / 10}`;
      if (exact <= minValue) {
        assert.ok(Math.abs(actual - exact) < minValue, `${what}: ${actual} vs ${exact}`);
      } else if (exact <= maxValue) {
        assertWithin(actual, exact, 0.01, what);
      } else {
        assert.ok(actual >= maxValue * 0.99 && actual <= exact, `${what}: ${actual} vs ${exact}`);
      }
    }
  }
});

// --- range ends -------------------------------------------------------------

Deno.test("values at or below minValue share the zero bucket and report the minimum", () => {
  const histogram = new LatencyHistogram({ minValue: 0.01 });
  for (const value of [0, 0.004, 0.01, 0.002]) histogram.record(value);
  for (let i = 0; i < 6; i++) histogram.record(50);
  assert.equal(histogram.count, 10);
  assert.equal(histogram.min, 0);
  assert.equal(histogram.percentile(0), 0);
  // ranks 1..4 are in the zero bucket: reported as the minimum, off by < minValue
  for (const p of [10, 20, 30, 40]) {
    const value = histogram.percentile(p);
    assert.equal(value, 0);
  }
  assertWithin(histogram.percentile(50), 50, 0.01, "p50");
  assert.equal(histogram.sum, 0 + 0.004 + 0.01 + 0.002 + 50 + 50 + 50 + 50 + 50 + 50);
});

Deno.test("values above maxValue count in the top bucket and stay exact in count/sum/max", () => {
  const histogram = new LatencyHistogram({ maxValue: 1_000 });
  const buckets = histogram.bucketCount;
  for (let i = 0; i < 5; i++) histogram.record(10);
  for (const value of [5_000, 70_000, 1e12]) histogram.record(value);
  for (let i = 0; i < 2; i++) histogram.record(2_000);
  assert.equal(histogram.bucketCount, buckets);
  assert.equal(histogram.count, 10);
  assert.equal(histogram.max, 1e12);
  assert.equal(histogram.sum, 50 + 5_000 + 70_000 + 1e12 + 4_000);
  assert.equal(histogram.percentile(100), 1e12);
  // ranks 6..9 are above maxValue: reported as about maxValue (a lower bound)
  for (const p of [60, 70, 80, 90]) assertWithin(histogram.percentile(p), 1_000, 0.01, `p${p}`);
  assertWithin(histogram.percentile(50), 10, 0.01, "p50");
});

Deno.test("0 and -0 are valid values", () => {
  const histogram = new LatencyHistogram();
  histogram.record(0);
  histogram.record(-0);
  assert.equal(histogram.count, 2);
  assert.equal(histogram.percentile(50), 0);
});

// --- fixed memory -----------------------------------------------------------

Deno.test("the bucket array never grows: same length after 1 and 1,000,000 records", () => {
  const histogram = new LatencyHistogram();
  assert.equal(histogram.bucketCount, 1_102);
  histogram.record(12.5);
  const afterOne = histogram.bucketCount;
  const random = seededRandom(7);
  for (let i = 0; i < 1_000_000; i++) histogram.record(Math.exp(-10 + 30 * random()));
  assert.equal(histogram.count, 1_000_001);
  assert.equal(histogram.bucketCount, afterOne);
  histogram.reset();
  assert.equal(histogram.bucketCount, afterOne);
});

Deno.test("bucketCount follows relativeError and the value range", () => {
  const coarse = new LatencyHistogram({ relativeError: 0.1 });
  const fine = new LatencyHistogram({ relativeError: 0.001 });
  const narrow = new LatencyHistogram({ minValue: 1, maxValue: 1_000 });
  assert.ok(coarse.bucketCount < 120, String(coarse.bucketCount));
  assert.ok(fine.bucketCount > 10_000 && fine.bucketCount < 12_000, String(fine.bucketCount));
  assert.ok(narrow.bucketCount < 360, String(narrow.bucketCount));
  // about ln(max / min) / ln(gamma) + 2
  const expected = Math.log(3_600_000 / 0.001) / Math.log(1.01 / 0.99);
  const defaults = new LatencyHistogram();
  assert.ok(Math.abs(defaults.bucketCount - expected) <= 3);
});

// --- empty, reset, merge, toJSON ---------------------------------------------

Deno.test("an empty histogram reports NaN", () => {
  const histogram = new LatencyHistogram();
  assert.equal(histogram.count, 0);
  assert.equal(histogram.sum, 0);
  assert.ok(Number.isNaN(histogram.min));
  assert.ok(Number.isNaN(histogram.max));
  assert.ok(Number.isNaN(histogram.mean));
  for (const p of [0, 50, 100]) assert.ok(Number.isNaN(histogram.percentile(p)));
});

Deno.test("reset forgets everything", () => {
  const histogram = new LatencyHistogram();
  for (const value of uniform(8, 1_000)) histogram.record(value);
  histogram.reset();
  assert.equal(histogram.count, 0);
  assert.equal(histogram.sum, 0);
  assert.ok(Number.isNaN(histogram.percentile(50)));
  assert.ok(Number.isNaN(histogram.min));
  histogram.record(42);
  assert.equal(histogram.min, 42);
  assert.equal(histogram.max, 42);
  assert.equal(histogram.percentile(50), 42);
});

Deno.test("merge equals recording everything in one histogram", () => {
  const values = bimodal(9, 20_000);
  const all = new LatencyHistogram();
  const left = new LatencyHistogram();
  const right = new LatencyHistogram();
  values.forEach((value, i) => {
    all.record(value);
    (i % 3 === 0 ? left : right).record(value);
  });
  const rightBefore = right.toJSON();
  left.merge(right);
  assert.deepEqual(right.toJSON(), rightBefore, "other is unchanged");
  assert.equal(left.count, all.count);
  assert.equal(left.min, all.min);
  assert.equal(left.max, all.max);
  assert.ok(Math.abs(left.sum - all.sum) <= 1e-9 * all.sum);
  for (const [p] of PERCENTILES) assert.equal(left.percentile(p), all.percentile(p), `p${p}`);
  const sorted = values.slice().sort();
  for (const [p, num, den] of PERCENTILES) {
    assertWithin(left.percentile(p), exactPercentile(sorted, num, den), 0.01, `merged p${p}`);
  }
});

Deno.test("merge with an empty histogram, into an empty one, and with itself", () => {
  const a = new LatencyHistogram();
  for (const value of [3, 30, 300]) a.record(value);
  const before = a.toJSON();
  a.merge(new LatencyHistogram());
  assert.deepEqual(a.toJSON(), before);

  const empty = new LatencyHistogram();
  empty.merge(a);
  assert.deepEqual(empty.toJSON(), before);

  a.merge(a);
  assert.equal(a.count, 6);
  assert.equal(a.sum, 666);
  assert.equal(a.min, 3);
  assert.equal(a.max, 300);
});

Deno.test("merge requires the same options", () => {
  const a = new LatencyHistogram();
  throwsExactly(
    () => a.merge(new LatencyHistogram({ relativeError: 0.02 })),
    RangeError,
    "other must have the same relativeError, minValue and maxValue (0.01, 0.001, 3600000): received 0.02, 0.001, 3600000",
  );
  throwsExactly(
    () => a.merge(new LatencyHistogram({ minValue: 1 })),
    RangeError,
    "other must have the same relativeError, minValue and maxValue (0.01, 0.001, 3600000): received 0.01, 1, 3600000",
  );
  throwsExactly(
    () => a.merge(new LatencyHistogram({ maxValue: 60_000 })),
    RangeError,
    "other must have the same relativeError, minValue and maxValue (0.01, 0.001, 3600000): received 0.01, 0.001, 60000",
  );
  throwsExactly(
    () => a.merge(loose({ count: 1 })),
    TypeError,
    'other must be a LatencyHistogram: received {"count":1}',
  );
  throwsExactly(
    () => a.merge(loose(null)),
    TypeError,
    "other must be a LatencyHistogram: received null",
  );
  assert.equal(a.count, 0);
});

Deno.test("toJSON summarizes options, counts and the usual percentiles", () => {
  const histogram = new LatencyHistogram({ relativeError: 0.001 });
  for (let ms = 1; ms <= 1_000; ms++) histogram.record(ms);
  const json = histogram.toJSON();
  assert.deepEqual(Object.keys(json), [
    "relativeError",
    "minValue",
    "maxValue",
    "count",
    "sum",
    "min",
    "max",
    "mean",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
  ]);
  assert.equal(json.relativeError, 0.001);
  assert.equal(json.minValue, 0.001);
  assert.equal(json.maxValue, 3_600_000);
  assert.equal(json.count, 1_000);
  assert.equal(json.sum, 500_500);
  assert.equal(json.min, 1);
  assert.equal(json.max, 1_000);
  assert.equal(json.mean, 500.5);
  assert.equal(json.p50, histogram.percentile(50));
  assertWithin(json.p50!, 500, 0.001, "p50");
  assertWithin(json.p90!, 900, 0.001, "p90");
  assertWithin(json.p95!, 950, 0.001, "p95");
  assertWithin(json.p99!, 990, 0.001, "p99");
  assertWithin(json.p999!, 999, 0.001, "p99.9");
  assert.deepEqual(JSON.parse(JSON.stringify(histogram)), json);
});

Deno.test("toJSON of an empty histogram uses null, not NaN", () => {
  assert.deepEqual(new LatencyHistogram().toJSON(), {
    relativeError: 0.01,
    minValue: 0.001,
    maxValue: 3_600_000,
    count: 0,
    sum: 0,
    min: null,
    max: null,
    mean: null,
    p50: null,
    p90: null,
    p95: null,
    p99: null,
    p999: null,
  });
});

// --- bad input --------------------------------------------------------------

Deno.test("record rejects negative, NaN, infinite and non-number values and stays unchanged", () => {
  const histogram = new LatencyHistogram();
  histogram.record(5);
  const cases: [unknown, RangeErrorConstructor | TypeErrorConstructor, string][] = [
    [-1, RangeError, "value must be a number >= 0: received -1"],
    [-1e-9, RangeError, "value must be a number >= 0: received -1e-9"],
    [NaN, RangeError, "value must be a number >= 0: received NaN"],
    [Infinity, RangeError, "value must be a number >= 0: received Infinity"],
    [-Infinity, RangeError, "value must be a number >= 0: received -Infinity"],
    ["5", TypeError, 'value must be a number >= 0: received "5"'],
    [undefined, TypeError, "value must be a number >= 0: received undefined"],
    [null, TypeError, "value must be a number >= 0: received null"],
    [5n, TypeError, "value must be a number >= 0: received 5n"],
  ];
  for (const [value, Class, message] of cases) {
    throwsExactly(() => histogram.record(loose(value)), Class, message);
  }
  assert.deepEqual(histogram.toJSON().count, 1);
  assert.equal(histogram.sum, 5);
  assert.equal(histogram.max, 5);
});

Deno.test("percentile rejects p outside [0, 100], also when empty", () => {
  for (const histogram of [new LatencyHistogram(), new LatencyHistogram()]) {
    histogram.record(1);
    const cases: [unknown, RangeErrorConstructor | TypeErrorConstructor, string][] = [
      [-1, RangeError, "p must be a number between 0 and 100: received -1"],
      [100.5, RangeError, "p must be a number between 0 and 100: received 100.5"],
      [NaN, RangeError, "p must be a number between 0 and 100: received NaN"],
      [Infinity, RangeError, "p must be a number between 0 and 100: received Infinity"],
      ["50", TypeError, 'p must be a number between 0 and 100: received "50"'],
      [undefined, TypeError, "p must be a number between 0 and 100: received undefined"],
    ];
    for (const [p, Class, message] of cases) {
      throwsExactly(() => histogram.percentile(loose(p)), Class, message);
    }
    histogram.reset();
    throwsExactly(
      () => histogram.percentile(101),
      RangeError,
      "p must be a number between 0 and 100: received 101",
    );
  }
});

Deno.test("the constructor rejects bad options", () => {
  const cases: [() => unknown, RangeErrorConstructor | TypeErrorConstructor, string][] = [
    [
      () => new LatencyHistogram(loose(null)),
      TypeError,
      "options must be an object: received null",
    ],
    [() => new LatencyHistogram(loose(5)), TypeError, "options must be an object: received 5"],
    [
      () => new LatencyHistogram(loose([])),
      TypeError,
      "options must be an object: received an array",
    ],
    [
      () => new LatencyHistogram(loose({ relativeErr: 0.01 })),
      TypeError,
      "relativeErr is not a known option (expected one of: relativeError, minValue, maxValue)",
    ],
    [
      () => new LatencyHistogram({ relativeError: 2 }),
      RangeError,
      "relativeError must be a number between 0.0001 and 0.1: received 2",
    ],
    [
      () => new LatencyHistogram({ relativeError: 0 }),
      RangeError,
      "relativeError must be a number between 0.0001 and 0.1: received 0",
    ],
    [
      () => new LatencyHistogram({ relativeError: NaN }),
      RangeError,
      "relativeError must be a number between 0.0001 and 0.1: received NaN",
    ],
    [
      () => new LatencyHistogram(loose({ relativeError: "0.01" })),
      TypeError,
      'relativeError must be a number between 0.0001 and 0.1: received "0.01"',
    ],
    [
      () => new LatencyHistogram({ minValue: 0 }),
      RangeError,
      "minValue must be a number > 0: received 0",
    ],
    [
      () => new LatencyHistogram({ minValue: -1 }),
      RangeError,
      "minValue must be a number > 0: received -1",
    ],
    [
      () => new LatencyHistogram({ minValue: Infinity }),
      RangeError,
      "minValue must be a number > 0: received Infinity",
    ],
    [
      () => new LatencyHistogram(loose({ minValue: null })),
      TypeError,
      "minValue must be left out for its default, not null: received null",
    ],
    [
      () => new LatencyHistogram(loose({ relativeError: null })),
      TypeError,
      "relativeError must be left out for its default, not null: received null",
    ],
    [
      () => new LatencyHistogram(loose({ maxValue: null })),
      TypeError,
      "maxValue must be left out for its default, not null: received null",
    ],
    [
      () => new LatencyHistogram({ maxValue: 0.001 }),
      RangeError,
      "maxValue must be a number > minValue (0.001): received 0.001",
    ],
    [
      () => new LatencyHistogram({ minValue: 10, maxValue: 5 }),
      RangeError,
      "maxValue must be a number > minValue (10): received 5",
    ],
    [
      () => new LatencyHistogram({ maxValue: Infinity }),
      RangeError,
      "maxValue must be a number > minValue (0.001): received Infinity",
    ],
    [
      () => new LatencyHistogram(loose({ maxValue: "1000" })),
      TypeError,
      'maxValue must be a number > minValue (0.001): received "1000"',
    ],
    [
      () => new LatencyHistogram({ relativeError: 0.0001, minValue: 1e-100, maxValue: 1e100 }),
      RangeError,
      "relativeError 0.0001 from minValue 1e-100 to maxValue 1e+100 needs 2302587 buckets: at most 1000000 are allowed",
    ],
  ];
  for (const [fn, Class, message] of cases) throwsExactly(fn, Class, message);
});

Deno.test("undefined options take the defaults", () => {
  const histogram = new LatencyHistogram({
    relativeError: undefined,
    minValue: undefined,
    maxValue: undefined,
  });
  assert.equal(histogram.relativeError, 0.01);
  assert.equal(histogram.minValue, 0.001);
  assert.equal(histogram.maxValue, 3_600_000);
  assert.equal(histogram.bucketCount, new LatencyHistogram().bucketCount);
});

import assert from "node:assert/strict";
import { capOption } from "../../src/backoff/_options.ts";
import { exponential } from "../../src/backoff/exponential.ts";
import { fullJitter } from "../../src/backoff/full_jitter.ts";
import { equalJitter } from "../../src/backoff/equal_jitter.ts";
import { decorrelatedJitter } from "../../src/backoff/decorrelated_jitter.ts";
import type { BackoffStrategy } from "../../src/backoff/strategy.ts";
import { loose, throwsExactly } from "../_helpers.ts";

const CAPPED: Array<[string, (options: { baseMs: number; maxMs?: number }) => BackoffStrategy]> = [
  ["exponential", exponential],
  ["fullJitter", fullJitter],
  ["equalJitter", equalJitter],
  ["decorrelatedJitter", decorrelatedJitter],
];

Deno.test("capOption() is the maxMs rule: a number >= baseMs, Infinity when absent", () => {
  assert.equal(capOption({}, 100), Infinity);
  assert.equal(capOption({ maxMs: undefined }, 100), Infinity);
  assert.equal(capOption({ maxMs: 100 }, 100), 100);
  assert.equal(capOption({ maxMs: Infinity }, 100), Infinity);
  throwsExactly(
    () => capOption({ maxMs: 99 }, 100),
    RangeError,
    "maxMs must be a number >= baseMs (100): received 99",
  );
  throwsExactly(
    () => capOption({ maxMs: NaN }, 0),
    RangeError,
    "maxMs must be a number >= baseMs (0): received NaN",
  );
  throwsExactly(
    () => capOption(loose({ maxMs: "5" }), 1),
    TypeError,
    'maxMs must be a number >= baseMs (1): received "5"',
  );
});

Deno.test("every capped factory applies the same maxMs rule with the same messages", () => {
  for (const [label, factory] of CAPPED) {
    const cases: Array<[unknown, RangeErrorConstructor | TypeErrorConstructor, string]> = [
      [99, RangeError, "maxMs must be a number >= baseMs (100): received 99"],
      [-Infinity, RangeError, "maxMs must be a number >= baseMs (100): received -Infinity"],
      [NaN, RangeError, "maxMs must be a number >= baseMs (100): received NaN"],
      ["1000", TypeError, 'maxMs must be a number >= baseMs (100): received "1000"'],
      [null, TypeError, "maxMs must be a number >= baseMs (100): received null"],
    ];
    for (const [maxMs, Class, message] of cases) {
      try {
        throwsExactly(() => factory({ baseMs: 100, maxMs: loose(maxMs) }), Class, message);
      } catch (error) {
        throw new Error(`${label}: ${(error as Error).message}`);
      }
    }
    // maxMs == baseMs and Infinity are accepted, and undefined means no cap
    factory({ baseMs: 100, maxMs: 100 });
    factory({ baseMs: 100, maxMs: Infinity });
    factory({ baseMs: 100, maxMs: undefined });
  }
});

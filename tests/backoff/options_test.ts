import assert from "node:assert/strict";
import { capOption, strategyOption } from "../../src/backoff/_options.ts";
import { constant } from "../../src/backoff/constant.ts";
import { tokenBackoff } from "../../src/backoff/token_backoff.ts";
import { policy } from "../../src/policy/policy.ts";
import { retry } from "../../src/retry/retry.ts";
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
      [null, TypeError, "maxMs must be left out for its default, not null: received null"],
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

const FACTORIES: Array<[string, string, unknown]> = [
  ["constant", "constant(ms)", constant],
  ["exponential", "exponential({ ... })", exponential],
  ["fullJitter", "fullJitter({ ... })", fullJitter],
  ["equalJitter", "equalJitter({ ... })", equalJitter],
  ["decorrelatedJitter", "decorrelatedJitter({ ... })", decorrelatedJitter],
  ["tokenBackoff", "tokenBackoff({ ... })", tokenBackoff],
];

Deno.test("strategyOption() takes a strategy and rejects every built-in factory passed uncalled", () => {
  const strategy: BackoffStrategy = () => 5;
  assert.equal(strategyOption("backoff", strategy), strategy);
  const built = exponential({ baseMs: 1 });
  assert.equal(strategyOption("backoff", built), built);
  throwsExactly(
    () => strategyOption("retry.backoff", 5),
    TypeError,
    "retry.backoff must be a function: received 5",
  );
  for (const [name, call, factory] of FACTORIES) {
    throwsExactly(
      () => strategyOption("retry.backoff", factory),
      TypeError,
      `retry.backoff must be a backoff strategy, not the factory ${name}: call ${call} first`,
    );
  }
});

Deno.test("retry.backoff and retry.backoffByClass.<class> reject an uncalled factory when the policy is built", () => {
  throwsExactly(
    () => policy("p", { telemetry: false, retry: { backoff: loose(exponential) } }),
    TypeError,
    "retry.backoff must be a backoff strategy, not the factory exponential: " +
      "call exponential({ ... }) first",
  );
  throwsExactly(
    () =>
      policy("p", {
        telemetry: false,
        retry: { backoffByClass: { rate_limit: loose(tokenBackoff) } },
      }),
    TypeError,
    "retry.backoffByClass.rate_limit must be a backoff strategy, not the factory tokenBackoff: " +
      "call tokenBackoff({ ... }) first",
  );
  throwsExactly(
    () =>
      policy("p", {
        telemetry: false,
        retry: { backoffByClass: { transient: loose(constant) } },
      }),
    TypeError,
    "retry.backoffByClass.transient must be a backoff strategy, not the factory constant: " +
      "call constant(ms) first",
  );
  // retry() takes the retry options at the top level
  throwsExactly(
    () => retry(() => 1, { backoff: loose(fullJitter) }),
    TypeError,
    "backoff must be a backoff strategy, not the factory fullJitter: call fullJitter({ ... }) first",
  );
  // called factories are fine
  policy("p", {
    telemetry: false,
    retry: {
      backoff: exponential({ baseMs: 1 }),
      backoffByClass: { rate_limit: tokenBackoff({ ratePerSecond: 1, burst: 1 }) },
    },
  });
});

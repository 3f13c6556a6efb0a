// decide(): what follows a failed attempt, as a table of inputs -> decision.
// No clock, no timers, no policy: the function alone (docs/policy.md "The
// loop, step by step", steps 4-6). "now" is 0 in the table, so a row's
// deadline is the time left.
import assert from "node:assert/strict";
import { decide, type DecideInput, type Decision } from "../../src/engine/decide.ts";
import { resolveRetryOptions, type RetryOptions } from "../../src/retry/retry_options.ts";
import type { ErrorClass } from "../../src/core/error_class.ts";
import { constant } from "../../src/backoff/constant.ts";
import { exponential } from "../../src/backoff/exponential.ts";
import { fullJitter } from "../../src/backoff/full_jitter.ts";

/** One row: the failure and the call's counters, the retry options, the expected decision. */
interface Row {
  name: string;
  errorClass: ErrorClass;
  /** Failures of this class in the call, this one included. */
  classFailures: number;
  attempt: number;
  maxAttempts?: number;
  /** The failure's Retry-After in ms (as an error's `retryAfterMs`), or a failing value itself. */
  retryAfterMs?: number;
  failure?: unknown;
  /** Milliseconds from now (0) to the call's deadline. */
  deadlineLeftMs?: number;
  prevDelayMs?: number;
  retry?: RetryOptions;
  expect: Decision;
}

const retry100: RetryOptions = { maxAttempts: 5, backoff: constant(100) };

const rows: Row[] = [
  // Step 4: permanent failures.
  {
    name: "a permanent failure ends the call (budget 0 by default)",
    errorClass: "permanent",
    classFailures: 1,
    attempt: 1,
    retry: retry100,
    expect: { action: "permanent" },
  },
  {
    name: "a permanent failure within a budget of 1 is retried",
    errorClass: "permanent",
    classFailures: 1,
    attempt: 1,
    retry: { ...retry100, budgets: { permanent: 1 } },
    expect: { action: "retry", delayMs: 100 },
  },
  {
    name: "the second permanent failure beyond a budget of 1 ends the call",
    errorClass: "permanent",
    classFailures: 2,
    attempt: 2,
    retry: { ...retry100, budgets: { permanent: 1 } },
    expect: { action: "permanent" },
  },
  {
    name: "a permanent failure ends the call even on the last attempt (before max_attempts)",
    errorClass: "permanent",
    classFailures: 1,
    attempt: 5,
    retry: retry100,
    expect: { action: "permanent" },
  },
  // Step 4: class budgets.
  {
    name: "a transient failure within its budget is retried",
    errorClass: "transient",
    classFailures: 2,
    attempt: 2,
    retry: { ...retry100, budgets: { transient: 2 } },
    expect: { action: "retry", delayMs: 100 },
  },
  {
    name: "a transient failure beyond its budget gives up with class_budget",
    errorClass: "transient",
    classFailures: 3,
    attempt: 3,
    retry: { ...retry100, budgets: { transient: 2 } },
    expect: { action: "give_up", reason: "class_budget" },
  },
  {
    name: "a class budget of 0 gives up on the first failure",
    errorClass: "flaky",
    classFailures: 1,
    attempt: 1,
    retry: { ...retry100, budgets: { flaky: 0 } },
    expect: { action: "give_up", reason: "class_budget" },
  },
  {
    name: "the class budget is checked before max_attempts",
    errorClass: "rate_limit",
    classFailures: 2,
    attempt: 5,
    retry: { ...retry100, budgets: { rate_limit: 1 } },
    expect: { action: "give_up", reason: "class_budget" },
  },
  {
    name: "another class's budget does not limit this class",
    errorClass: "server_error",
    classFailures: 3,
    attempt: 3,
    retry: { ...retry100, budgets: { transient: 0 } },
    expect: { action: "retry", delayMs: 100 },
  },
  // Step 4: unknown failures.
  {
    name: "unknown failures stop at maxUnknownAttempts",
    errorClass: "unknown",
    classFailures: 2,
    attempt: 2,
    retry: { ...retry100, maxUnknownAttempts: 2 },
    expect: { action: "give_up", reason: "max_unknown_attempts" },
  },
  {
    name: "unknown failures below maxUnknownAttempts are retried",
    errorClass: "unknown",
    classFailures: 1,
    attempt: 1,
    retry: { ...retry100, maxUnknownAttempts: 2 },
    expect: { action: "retry", delayMs: 100 },
  },
  {
    name: "maxUnknownAttempts does not apply to other classes",
    errorClass: "transient",
    classFailures: 3,
    attempt: 3,
    retry: { ...retry100, maxUnknownAttempts: 2 },
    expect: { action: "retry", delayMs: 100 },
  },
  // Step 4: max attempts.
  {
    name: "the last allowed attempt gives up with max_attempts",
    errorClass: "transient",
    classFailures: 5,
    attempt: 5,
    retry: retry100,
    expect: { action: "give_up", reason: "max_attempts" },
  },
  {
    name: "a per-call cap below the policy's applies",
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    maxAttempts: 1,
    retry: retry100,
    expect: { action: "give_up", reason: "max_attempts" },
  },
  {
    name: "the default is 3 attempts: attempt 2 retries, attempt 3 gives up",
    errorClass: "transient",
    classFailures: 3,
    attempt: 3,
    retry: { backoff: constant(100) },
    expect: { action: "give_up", reason: "max_attempts" },
  },
  // Step 5: the delay.
  {
    name: "Retry-After replaces the backoff",
    errorClass: "rate_limit",
    classFailures: 1,
    attempt: 1,
    retryAfterMs: 2_000,
    retry: retry100,
    expect: { action: "retry", delayMs: 2_000 },
  },
  {
    name: "Retry-After is cut to maxRetryAfterMs",
    errorClass: "rate_limit",
    classFailures: 1,
    attempt: 1,
    retryAfterMs: 86_400_000,
    retry: { ...retry100, maxRetryAfterMs: 5_000 },
    expect: { action: "retry", delayMs: 5_000 },
  },
  {
    name: "Retry-After is ignored with honorRetryAfter: false",
    errorClass: "rate_limit",
    classFailures: 1,
    attempt: 1,
    retryAfterMs: 2_000,
    retry: { ...retry100, honorRetryAfter: false },
    expect: { action: "retry", delayMs: 100 },
  },
  {
    name: "a 503 Response's Retry-After header (seconds) replaces the backoff",
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    failure: new Response(null, { status: 503, headers: { "retry-after": "3" } }),
    retry: retry100,
    expect: { action: "retry", delayMs: 3_000 },
  },
  {
    name: "Retry-After: 0 retries at once",
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    retryAfterMs: 0,
    retry: retry100,
    expect: { action: "retry", delayMs: 0 },
  },
  {
    name: "exponential backoff grows with the attempt number",
    errorClass: "transient",
    classFailures: 3,
    attempt: 3,
    retry: { maxAttempts: 5, backoff: exponential({ baseMs: 100, maxMs: 10_000 }) },
    expect: { action: "retry", delayMs: 400 },
  },
  {
    name: "backoffByClass picks the class's own strategy",
    errorClass: "rate_limit",
    classFailures: 1,
    attempt: 1,
    retry: { ...retry100, backoffByClass: { rate_limit: constant(750) } },
    expect: { action: "retry", delayMs: 750 },
  },
  {
    name: "full jitter draws from the injected random (0.5 of 200)",
    errorClass: "transient",
    classFailures: 2,
    attempt: 2,
    retry: { maxAttempts: 5, backoff: fullJitter({ baseMs: 100, maxMs: 10_000 }) },
    expect: { action: "retry", delayMs: 100 },
  },
  // Step 6: the deadline.
  {
    name: "a delay that reaches the deadline ends the call now",
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    deadlineLeftMs: 100,
    retry: retry100,
    expect: { action: "deadline", delayMs: 100 },
  },
  {
    name: "a delay that ends just before the deadline is taken",
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    deadlineLeftMs: 101,
    retry: retry100,
    expect: { action: "retry", delayMs: 100 },
  },
  {
    name: "a Retry-After past the deadline ends the call now",
    errorClass: "rate_limit",
    classFailures: 1,
    attempt: 1,
    retryAfterMs: 30_000,
    deadlineLeftMs: 2_000,
    retry: retry100,
    expect: { action: "deadline", delayMs: 30_000 },
  },
  {
    name: "give-up reasons come before the deadline check",
    errorClass: "transient",
    classFailures: 5,
    attempt: 5,
    deadlineLeftMs: 0,
    retry: retry100,
    expect: { action: "give_up", reason: "max_attempts" },
  },
  {
    name: "with the deadline already passed, even a zero delay ends the call",
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    deadlineLeftMs: 0,
    retry: { maxAttempts: 5, backoff: constant(0) },
    expect: { action: "deadline", delayMs: 0 },
  },
];

function input(row: Row): DecideInput {
  return {
    errorClass: row.errorClass,
    classFailures: row.classFailures,
    attempt: row.attempt,
    maxAttempts: row.maxAttempts ?? resolveRetryOptions(row.retry).maxAttempts,
    failure: row.failure ??
      (row.retryAfterMs === undefined
        ? new Error("failed")
        : Object.assign(new Error("failed"), { retryAfterMs: row.retryAfterMs })),
    deadline: row.deadlineLeftMs ?? Infinity,
    prevDelayMs: row.prevDelayMs,
    now: 0,
    random: () => 0.5,
    label: 'policy "table"',
  };
}

Deno.test(`decide() table: ${rows.length} rows of failure and counters -> decision`, () => {
  assert.ok(rows.length >= 20);
  for (const row of rows) {
    assert.deepEqual(decide(input(row), resolveRetryOptions(row.retry)), row.expect, row.name);
  }
});

Deno.test("decide() passes the strategy the attempt, previous delay, class, random and time", () => {
  const seen: unknown[] = [];
  const retry = resolveRetryOptions({
    backoff: (ctx) => (seen.push({ ...ctx, random: ctx.random() }), 7),
  });
  const decision = decide({
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    maxAttempts: 3,
    failure: new Error("failed"),
    deadline: Infinity,
    prevDelayMs: 42,
    now: 1_000,
    random: () => 0.25,
    label: 'policy "p"',
  }, retry);
  assert.deepEqual(decision, { action: "retry", delayMs: 7 });
  assert.deepEqual(seen, [{
    attempt: 1,
    prevDelayMs: 42,
    errorClass: "transient",
    random: 0.25,
    now: 1_000,
  }]);
});

Deno.test("decide() rejects a strategy's bad delay with a RangeError naming the policy", () => {
  for (const bad of [-1, NaN, "100" as unknown as number, undefined as unknown as number]) {
    const retry = resolveRetryOptions({ backoff: () => bad });
    assert.throws(
      () =>
        decide({
          errorClass: "transient",
          classFailures: 1,
          attempt: 1,
          maxAttempts: 3,
          failure: new Error("failed"),
          deadline: Infinity,
          prevDelayMs: undefined,
          now: 0,
          random: () => 0,
          label: 'policy "p"',
        }, retry),
      {
        name: "RangeError",
        message: `policy "p" backoff result must be a finite number >= 0: received ${
          typeof bad === "string" ? JSON.stringify(bad) : bad
        }`,
      },
    );
  }
});

Deno.test("decide() reads a failure's Retry-After only when the call is to be retried", () => {
  let reads = 0;
  const failure = {
    get retryAfterMs(): number {
      reads++;
      throw new Error("a getter that must not run on a give-up");
    },
  };
  const base = {
    classFailures: 1,
    prevDelayMs: undefined,
    deadline: Infinity,
    now: 0,
    random: () => 0,
    label: 'policy "p"',
    failure,
  };
  const retry = resolveRetryOptions({ backoff: constant(5) });
  assert.deepEqual(
    decide({ ...base, errorClass: "permanent", attempt: 1, maxAttempts: 3 }, retry),
    { action: "permanent" },
  );
  assert.deepEqual(
    decide({ ...base, errorClass: "transient", attempt: 3, maxAttempts: 3 }, retry),
    { action: "give_up", reason: "max_attempts" },
  );
  assert.equal(reads, 0);
});

Deno.test("decide() compares now + delay with the deadline, as the next attempt's gate does", () => {
  // 0.2 + 15.9 === 16.1 exactly, while 16.1 - 0.2 is 15.900000000000002.
  const retry = resolveRetryOptions({ backoff: constant(15.9) });
  const decision = decide({
    errorClass: "transient",
    classFailures: 1,
    attempt: 1,
    maxAttempts: 3,
    failure: new Error("failed"),
    deadline: 16.1,
    prevDelayMs: undefined,
    now: 0.2,
    random: () => 0,
    label: 'policy "p"',
  }, retry);
  assert.deepEqual(decision, { action: "deadline", delayMs: 15.9 });
});

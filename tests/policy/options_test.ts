import assert from "node:assert/strict";
import { policy, type PolicyOptions } from "../../src/policy/policy.ts";

const cases: Array<[string, unknown, string, string]> = [
  // [what, options, error name, exact message]
  [
    "deadlineMs zero",
    { deadlineMs: 0 },
    "RangeError",
    "deadlineMs must be a number > 0: received 0",
  ],
  [
    "deadlineMs NaN",
    { deadlineMs: NaN },
    "RangeError",
    "deadlineMs must be a number > 0: received NaN",
  ],
  [
    "deadlineMs string",
    { deadlineMs: "1s" },
    "TypeError",
    'deadlineMs must be a number > 0: received "1s"',
  ],
  [
    "attemptTimeoutMs negative",
    { attemptTimeoutMs: -5 },
    "RangeError",
    "attemptTimeoutMs must be a number > 0: received -5",
  ],
  [
    "maxAttempts zero",
    { retry: { maxAttempts: 0 } },
    "RangeError",
    "retry.maxAttempts must be an integer >= 1: received 0",
  ],
  [
    "maxAttempts fraction",
    { retry: { maxAttempts: 2.5 } },
    "RangeError",
    "retry.maxAttempts must be an integer >= 1: received 2.5",
  ],
  [
    "maxUnknownAttempts zero",
    { retry: { maxUnknownAttempts: 0 } },
    "RangeError",
    "retry.maxUnknownAttempts must be an integer >= 1: received 0",
  ],
  [
    "budget negative",
    { retry: { budgets: { transient: -1 } } },
    "RangeError",
    "retry.budgets.transient must be an integer >= 0: received -1",
  ],
  [
    "budget for an unknown class",
    { retry: { budgets: { network: 2 } } },
    "TypeError",
    'retry.budgets.network must be one of the error classes (transient, flaky, rate_limit, concurrency, server_error, permanent, unknown): received "network"',
  ],
  [
    "budgets not an object",
    { retry: { budgets: 3 } },
    "TypeError",
    "retry.budgets must be an object: received 3",
  ],
  [
    "backoff not a function",
    { retry: { backoff: 100 } },
    "TypeError",
    "retry.backoff must be a function: received 100",
  ],
  [
    "backoffByClass entry not a function",
    { retry: { backoffByClass: { rate_limit: "slow" } } },
    "TypeError",
    'retry.backoffByClass.rate_limit must be a function: received "slow"',
  ],
  [
    "honorRetryAfter not boolean",
    { retry: { honorRetryAfter: "yes" } },
    "TypeError",
    'retry.honorRetryAfter must be a boolean: received "yes"',
  ],
  [
    "retry typo",
    { retry: { maxAttemps: 3 } },
    "TypeError",
    "retry.maxAttemps is not a known option (expected one of: maxAttempts, maxUnknownAttempts, budgets, backoff, backoffByClass, honorRetryAfter, maxRetryAfterMs, retryBudget)",
  ],
  ["retry not an object", { retry: 3 }, "TypeError", "retry must be an object: received 3"],
  [
    "classify",
    { classify: "default" },
    "TypeError",
    'classify must be a function: received "default"',
  ],
  ["onEvent", { onEvent: {} }, "TypeError", "onEvent must be a function: received {}"],
  ["random", { random: 4 }, "TypeError", "random must be a function: received 4"],
  [
    "clock",
    { clock: { now: 1 } },
    "TypeError",
    'clock must be a Clock (now, sleep, setTimer, clearTimer): received {"now":1}',
  ],
  [
    "telemetry spans",
    { telemetry: { spans: "some" } },
    "TypeError",
    'telemetry.spans must be "full", "failures" or "off": received "some"',
  ],
  [
    "telemetry type",
    { telemetry: "on" },
    "TypeError",
    'telemetry must be an object: received "on"',
  ],
  [
    "top-level typo",
    { deadline: 100 },
    "TypeError",
    "deadline is not a known option (expected one of: deadlineMs, attemptTimeoutMs, retry, circuit, failureBudget, bulkhead, rateLimit, hedge, classify, onEvent, telemetry, clock, random, fleet)",
  ],
];

for (const [what, options, name, message] of cases) {
  Deno.test(`policy rejects bad option: ${what}`, () => {
    assert.throws(() => policy("p", options as PolicyOptions), { name, message });
  });
}

Deno.test("policy rejects a bad name and bad options object", () => {
  assert.throws(() => policy("", {}), {
    name: "TypeError",
    message: 'name must be a non-empty string: received ""',
  });
  assert.throws(() => policy(42 as unknown as string), {
    name: "TypeError",
    message: "name must be a non-empty string: received 42",
  });
  assert.throws(() => policy("p", null as unknown as PolicyOptions), {
    name: "TypeError",
    message: "options must be an object: received null",
  });
});

Deno.test("execute rejects a bad fn, signal or deadline", async () => {
  const p = policy("p", { telemetry: false });
  await assert.rejects(p.execute(42 as never), {
    name: "TypeError",
    message: "fn must be a function: received 42",
  });
  await assert.rejects(p.execute(() => 1, { signal: "x" as never }), {
    name: "TypeError",
    message: 'signal must be an AbortSignal: received "x"',
  });
  await assert.rejects(p.execute(() => 1, { deadline: NaN }), {
    name: "TypeError",
    message: "deadline must be a number (clock milliseconds): received NaN",
  });
});

Deno.test("a backoff that returns a bad delay fails the call with a clear error", async () => {
  const p = policy("p", { retry: { maxAttempts: 2, backoff: () => -1 } });
  await assert.rejects(p.execute(() => Promise.reject(new Error("x"))), {
    name: "RangeError",
    message: 'policy "p" backoff result must be a finite number >= 0: received -1',
  });
});

Deno.test("valid options are accepted, telemetry: false included", () => {
  const p = policy("ok", {
    deadlineMs: 2_000,
    attemptTimeoutMs: 500,
    telemetry: false,
    retry: {
      maxAttempts: 5,
      maxUnknownAttempts: 2,
      budgets: { transient: 4, flaky: 1, permanent: 0 },
    },
  });
  assert.equal(p.name, "ok");
});

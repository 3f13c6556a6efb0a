import assert from "node:assert/strict";
import { nameOption } from "../../src/core/validate.ts";
import { policy } from "../../src/policy/policy.ts";
import { retry } from "../../src/retry/retry.ts";
import { createClient } from "../../src/http/client.ts";
import { CircuitBreaker } from "../../src/circuit/circuit_breaker.ts";
import { Bulkhead } from "../../src/bulkhead/bulkhead.ts";
import { FailureBudget } from "../../src/budget/failure_budget.ts";
import { RetryBudget } from "../../src/budget/retry_budget.ts";
import { faultInjection } from "../../src/fault/fault_injection.ts";
import { networkConditioner } from "../../src/fault/network_conditioner.ts";
import { withWatchdog } from "../../src/supervise/watchdog.ts";
import { loose, throwsExactly } from "../_helpers.ts";

Deno.test("nameOption() returns the name, or the fallback when it is undefined", () => {
  assert.equal(nameOption("name", "db", "fallback"), "db");
  assert.equal(nameOption("name", " db ", "fallback"), " db ", "kept as given, not trimmed");
  assert.equal(nameOption("name", undefined, "fallback"), "fallback");
  throwsExactly(
    () => nameOption("name", undefined),
    TypeError,
    "name must be a non-empty string: received undefined",
  );
  throwsExactly(
    () => nameOption("retry.name", "", "fallback"),
    TypeError,
    'retry.name must be a non-empty string: received ""',
  );
  throwsExactly(
    () => nameOption("name", null, "fallback"),
    TypeError,
    "name must be a non-empty string: received null",
  );
});

Deno.test("every part that takes a name rejects an empty, blank or non-string name alike", () => {
  const builders: Array<[string, (name: unknown) => unknown]> = [
    ["policy()", (name) => policy(loose(name), { telemetry: false })],
    ["retry()", (name) => retry(() => 1, { name: loose(name) })],
    ["createClient()", (name) => createClient({ name: loose(name) })],
    [
      "CircuitBreaker",
      (name) => new CircuitBreaker({ name: loose(name), kind: "consecutive", threshold: 1 }),
    ],
    ["Bulkhead", (name) => new Bulkhead({ name: loose(name), maxConcurrent: 1 })],
    [
      "FailureBudget",
      (name) =>
        new FailureBudget({ name: loose(name), threshold: 0.5, windowMs: 1, minSamples: 1 }),
    ],
    ["RetryBudget", (name) => new RetryBudget({ name: loose(name), ratio: 0.1 })],
    ["faultInjection()", (name) => faultInjection(() => 1, { name: loose(name) })],
    ["networkConditioner()", (name) => networkConditioner({ name: loose(name) })],
    ["withWatchdog()", (name) => withWatchdog(() => 1, { name: loose(name), timeoutMs: 1 })],
  ];
  const bad: Array<[unknown, string]> = [
    ["", '""'],
    [" ", '" "'],
    ["\t\n ", '"\\t\\n "'],
    [5, "5"],
    [null, "null"],
  ];
  for (const [label, build] of builders) {
    for (const [name, shown] of bad) {
      try {
        // A null option is rejected by the one null rule; policy()'s name is positional.
        const message = name === null && label !== "policy()"
          ? "name must be left out for its default, not null: received null"
          : `name must be a non-empty string: received ${shown}`;
        throwsExactly(() => build(name), TypeError, message);
      } catch (error) {
        throw new Error(`${label} with name ${shown}: ${(error as Error).message}`);
      }
    }
  }
});

Deno.test("null is never a default: every options object rejects a null option, naming it", async () => {
  const NULL = "must be left out for its default, not null: received null";
  const cases: Array<[string, () => unknown]> = [
    ["retry.maxAttempts", () => policy("p", { retry: { maxAttempts: loose(null) } })],
    ["telemetry", () => policy("p", { telemetry: loose(null) })],
    ["deadlineMs", () => policy("p", { deadlineMs: loose(null) })],
    ["maxQueue", () => new Bulkhead({ maxConcurrent: 1, maxQueue: loose(null) })],
    [
      "windowMs",
      () => new FailureBudget({ threshold: 0.5, windowMs: loose(null), minSamples: 1 }),
    ],
    ["windowMs", () => new RetryBudget({ ratio: 0.1, windowMs: loose(null) })],
    ["policy", () => createClient({ policy: loose(null) })],
    ["maxAttempts", () => retry(() => 1, { maxAttempts: loose(null) })],
    ["timeoutMs", () => withWatchdog(() => 1, { timeoutMs: loose(null) })],
    [
      "halfOpenMaxCalls",
      () =>
        new CircuitBreaker({ kind: "consecutive", threshold: 1, halfOpenMaxCalls: loose(null) }),
    ],
  ];
  for (const [option, build] of cases) {
    throwsExactly(build, TypeError, `${option} ${NULL}`);
  }
  await assert.rejects(
    policy("p", { telemetry: false }).execute(() => 1, { maxAttempts: loose(null) }),
    {
      name: "TypeError",
      message: `maxAttempts ${NULL}`,
    },
  );
});

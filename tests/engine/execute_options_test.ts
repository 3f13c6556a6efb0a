// execute(fn, options): options are checked once, before any attempt runs,
// like every other options object (unknown keys and bad values are errors
// naming the option), and `{}` behaves exactly as no options.
import assert from "node:assert/strict";
import { policy } from "../../src/policy/policy.ts";
import { retry } from "../../src/retry/retry.ts";
import type { ExecuteOptions } from "../../src/engine/options.ts";

const EXPECTED = "expected one of: signal, deadline, maxAttempts, discard, fallback, coalesceKey";

Deno.test("execute() rejects an unknown option key, naming it, without calling fn", async () => {
  const p = policy("p", { telemetry: false });
  let calls = 0;
  const fn = () => ++calls;
  for (const key of ["timeout", "timeoutMs", "deadlineMs", "retry", "signals"]) {
    await assert.rejects(p.execute(fn, { [key]: 100 } as ExecuteOptions), {
      name: "TypeError",
      message: `${key} is not a known option (${EXPECTED})`,
    });
  }
  assert.equal(calls, 0);
});

Deno.test("execute() rejects bad option values, naming the option, without calling fn", async () => {
  const p = policy("p", { telemetry: false });
  let calls = 0;
  const fn = () => ++calls;
  const cases: [unknown, string, string][] = [
    [null, "TypeError", "options must be an object: received null"],
    [[], "TypeError", "options must be an object: received an array"],
    [{ signal: {} }, "TypeError", "signal must be an AbortSignal: received {}"],
    [
      { deadline: "soon" },
      "TypeError",
      'deadline must be a number (clock milliseconds): received "soon"',
    ],
    [{ maxAttempts: 0 }, "RangeError", "maxAttempts must be an integer >= 1: received 0"],
    [{ maxAttempts: 1.5 }, "RangeError", "maxAttempts must be an integer >= 1: received 1.5"],
    [{ discard: "no" }, "TypeError", 'discard must be a function: received "no"'],
  ];
  for (const [options, name, message] of cases) {
    await assert.rejects(p.execute(fn, options as ExecuteOptions), { name, message });
  }
  assert.equal(calls, 0, "a rejected call never runs its operation");
});

Deno.test("execute() returns a rejected promise for bad options, never a synchronous throw", () => {
  const p = policy("p", { telemetry: false });
  let promise: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    promise = p.execute(() => 1, { timeout: 1 } as ExecuteOptions);
  });
  return assert.rejects(promise!, TypeError);
});

Deno.test("execute(fn, {}) and execute(fn) give the same result, attempts and events", async () => {
  const events: string[][] = [[], []];
  const results: unknown[] = [];
  for (const [i, options] of [undefined, {}].entries()) {
    let calls = 0;
    const p = policy("same", {
      telemetry: false,
      retry: { backoff: () => 0 },
      onEvent: (e) => events[i].push(`${e.type}:${"attempt" in e ? e.attempt : ""}`),
    });
    results.push(
      await p.execute(() => (++calls < 3 ? Promise.reject(new Error("flaky")) : calls), options),
    );
  }
  assert.deepEqual(results, [3, 3]);
  assert.deepEqual(events[0], ["retry:1", "retry:2", "success:3"]);
  assert.deepEqual(events[1], events[0]);
});

Deno.test("retry() checks its signal like execute()", async () => {
  await assert.rejects(retry(() => 1, { signal: "x" as unknown as AbortSignal }), {
    name: "TypeError",
    message: 'signal must be an AbortSignal: received "x"',
  });
});

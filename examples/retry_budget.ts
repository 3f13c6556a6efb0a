/**
 * A retry budget shared by two policies in front of one struggling
 * dependency: once retries exceed 20% of requests (plus a small floor), the
 * budget says no and calls fail fast instead of multiplying the load.
 *
 * Run: deno run examples/retry_budget.ts
 */
import { constant, policy, RetryBudget, RetryExhaustedError, TransientError } from "../mod.ts";
import { VirtualClock } from "../testing.ts";

const clock = new VirtualClock();
const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000, clock });
const options = {
  clock,
  telemetry: false as const,
  retry: { maxAttempts: 5, backoff: constant(0), retryBudget: budget },
};
const checkout = policy("checkout", options);
const search = policy("search", options);

let attempts = 0;
let refused = 0;
const down = () => {
  attempts++;
  return Promise.reject(new TransientError("dependency overloaded"));
};
for (let i = 0; i < 100; i++) {
  try {
    await (i % 2 === 0 ? checkout : search).execute(down);
  } catch (error) {
    if (error instanceof RetryExhaustedError && error.reason === "retry_budget") refused++;
  }
}
const { requests, retries } = budget.stats();
console.log(`100 failing calls made ${attempts} attempts (without the budget: 500)`);
console.log(
  `budget window: ${requests} requests, ${retries} retries; ${refused} calls refused a retry`,
);

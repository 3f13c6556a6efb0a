/**
 * Hot-path cost of a successful call, as a ratio to a bare `await fn()`.
 * Peers (cockatiel, opossum, p-retry) join this group with the performance
 * work; run with `deno task bench`.
 */
import { constant, policy } from "../mod.ts";

const fn = () => Promise.resolve(42);

const retryOnly = policy("retry-only", {
  telemetry: false,
  retry: { maxAttempts: 3, backoff: constant(10) },
});

const withDeadline = policy("deadline", {
  telemetry: false,
  deadlineMs: 2_000,
  attemptTimeoutMs: 500,
  retry: { maxAttempts: 3, backoff: constant(10) },
});

Deno.bench({ name: "bare await fn()", group: "hot path", baseline: true }, async () => {
  await fn();
});

Deno.bench({ name: "bulwark retry-only policy", group: "hot path" }, async () => {
  await retryOnly.execute(fn);
});

Deno.bench({ name: "bulwark deadline + attempt timeout", group: "hot path" }, async () => {
  await withDeadline.execute(fn);
});

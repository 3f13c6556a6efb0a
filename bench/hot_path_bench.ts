/**
 * Hot path: the cost of one successful call, as a ratio to a bare
 * `await fn()`, for Bulwark and its peers (cockatiel, opossum, p-retry —
 * pinned dev imports used only here). Run with `deno task bench`; see
 * docs/performance.md for the targets (`deno task bench:report`).
 *
 * @module
 */
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ConstantBackoff,
  handleAll,
  retry as cockatielRetry,
  timeout,
  TimeoutStrategy,
  wrap,
} from "cockatiel";
import Opossum from "opossum";
import pRetry from "p-retry";
import { policy } from "../mod.ts";
import { fn, FULL, RETRY_ONLY } from "./_shared.ts";

const group = "hot path";

const retryOnly = policy("retry-only", { ...RETRY_ONLY, telemetry: false });
const full = policy("full", { ...FULL, telemetry: false });
// The default: telemetry on through the global OpenTelemetry API, with no
// SDK registered in this process.
const fullDefault = policy("full-default", FULL);

// cockatiel counts retries, not attempts: 2 retries = 3 attempts.
const cRetry = cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(10) });
const cWrapped = wrap(
  cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(10) }),
  circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) }),
  timeout(500, TimeoutStrategy.Cooperative),
);
// opossum: a breaker with a 500 ms timeout per call (its default is 10 s;
// either way it arms a runtime timer per call).
const opossum = new Opossum(fn, { timeout: 500, resetTimeout: 30_000 });
const pRetryOptions = { retries: 2, minTimeout: 10 };

Deno.bench({ name: "bare await fn()", group, baseline: true }, async () => {
  await fn();
});

Deno.bench({ name: "bulwark retry-only policy", group }, async () => {
  await retryOnly.execute(fn);
});

Deno.bench({ name: "bulwark full policy", group }, async () => {
  await full.execute(fn);
});

Deno.bench({ name: "bulwark full policy (default telemetry, no SDK)", group }, async () => {
  await fullDefault.execute(fn);
});

Deno.bench({ name: "cockatiel retry", group }, async () => {
  await cRetry.execute(fn);
});

Deno.bench({ name: "cockatiel wrap(retry, circuitBreaker, timeout)", group }, async () => {
  await cWrapped.execute(fn);
});

Deno.bench({ name: "opossum fire", group }, async () => {
  await opossum.fire();
});

Deno.bench({ name: "p-retry", group }, async () => {
  await pRetry(fn, pRetryOptions);
});

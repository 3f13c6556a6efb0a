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
import { fn, FULL, RETRY_ONLY, warmUp } from "./_shared.ts";

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

const bodies: [name: string, body: () => Promise<void>][] = [
  ["bare await fn()", async () => {
    await fn();
  }],
  ["bulwark retry-only policy", async () => {
    await retryOnly.execute(fn);
  }],
  ["bulwark full policy", async () => {
    await full.execute(fn);
  }],
  ["bulwark full policy (default telemetry, no SDK)", async () => {
    await fullDefault.execute(fn);
  }],
  ["cockatiel retry", async () => {
    await cRetry.execute(fn);
  }],
  ["cockatiel wrap(retry, circuitBreaker, timeout)", async () => {
    await cWrapped.execute(fn);
  }],
  ["opossum fire", async () => {
    await opossum.fire();
  }],
  ["p-retry", async () => {
    await pRetry(fn, pRetryOptions);
  }],
];
await warmUp(bodies.map(([, body]) => body), 2_000);
for (const [name, body] of bodies) {
  Deno.bench({ name, group, baseline: name === "bare await fn()" }, body);
}

/**
 * Failure path: an operation that fails once (a transient error) and then
 * succeeds, retried with zero delay on a `VirtualClock` (so no real timer is
 * involved in Bulwark's retry). The baseline is the same two awaits in a
 * hand-written try/catch loop. The error object is created once: building an
 * `Error` (its stack trace) would otherwise dominate every bench.
 *
 * @module
 */
import { ConstantBackoff, handleAll, retry as cockatielRetry } from "cockatiel";
import pRetry from "p-retry";
import { constant, policy, TransientError } from "../mod.ts";
import { VirtualClock } from "../testing.ts";
import { FULL, warmUp } from "./_shared.ts";

const group = "failure path";

const blip = new TransientError("blip");
/**
 * An operation that rejects on every odd call and resolves on every even
 * one: each `execute` fails once, then succeeds. One per bench, so no bench
 * can shift another's parity.
 */
function flaky(): () => Promise<number> {
  let calls = 0;
  return () => (++calls & 1) === 1 ? Promise.reject(blip) : Promise.resolve(42);
}
const bareOp = flaky();
const retryOnlyOp = flaky();
const fullOp = flaky();
const cockatielOp = flaky();
const pRetryOp = flaky();

const clock = new VirtualClock();
const retryOnly = policy("retry-only", {
  telemetry: false,
  clock,
  retry: { maxAttempts: 3, backoff: constant(0) },
});
const full = policy("full", {
  ...FULL,
  telemetry: false,
  clock,
  retry: { maxAttempts: 3, backoff: constant(0) },
});
// Peers have no injectable clock; with a zero delay cockatiel still waits on
// a setTimeout(0), p-retry skips the wait.
const cRetry = cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) });
const pRetryOptions = { retries: 2, minTimeout: 0 };

// (Peers first: cockatiel's first timer is a first call of milliseconds.)
await warmUp([
  () => cRetry.execute(cockatielOp),
  () => pRetry(pRetryOp, pRetryOptions),
  () => retryOnly.execute(retryOnlyOp),
  () => full.execute(fullOp),
]);

Deno.bench({ name: "bare try/catch retry loop", group, baseline: true }, async () => {
  for (;;) {
    try {
      await bareOp();
      return;
    } catch {
      // try again
    }
  }
});

Deno.bench({ name: "bulwark retry-only policy", group }, async () => {
  await retryOnly.execute(retryOnlyOp);
});

Deno.bench({ name: "bulwark full policy", group }, async () => {
  await full.execute(fullOp);
});

Deno.bench({ name: "cockatiel retry (ConstantBackoff(0))", group }, async () => {
  await cRetry.execute(cockatielOp);
});

Deno.bench({ name: "p-retry (minTimeout 0)", group }, async () => {
  await pRetry(pRetryOp, pRetryOptions);
});

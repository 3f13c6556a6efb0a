/**
 * Circuit breaker bookkeeping on a successful call: Bulwark's
 * `allowCall()` + `recordSuccess()` around `await fn()`, against the
 * closest equivalents of the peers, which only wrap a whole call: cockatiel's
 * `circuitBreaker(...).execute(fn)` and opossum's `fire()` with its
 * per-call timeout off (so neither arms a timer). Bulwark's `execute(fn)`
 * is listed too, and the synchronous bookkeeping alone (no call at all).
 *
 * @module
 */
import { circuitBreaker, ConsecutiveBreaker, handleAll, SamplingBreaker } from "cockatiel";
import Opossum from "opossum";
import { CircuitBreaker } from "../mod.ts";
import { fn } from "./_shared.ts";

const group = "breaker";

const consecutive = new CircuitBreaker({
  name: "consecutive",
  kind: "consecutive",
  threshold: 5,
  breakMs: 30_000,
});
const windowed = new CircuitBreaker({
  name: "time",
  kind: "time",
  windowMs: 10_000,
  buckets: 10,
  threshold: 0.5,
  minThroughput: 20,
});
const forExecute = new CircuitBreaker({
  name: "execute",
  kind: "consecutive",
  threshold: 5,
  breakMs: 30_000,
});
const syncOnly = new CircuitBreaker({
  name: "sync",
  kind: "consecutive",
  threshold: 5,
  breakMs: 30_000,
});
const cConsecutive = circuitBreaker(handleAll, {
  halfOpenAfter: 30_000,
  breaker: new ConsecutiveBreaker(5),
});
const cSampling = circuitBreaker(handleAll, {
  halfOpenAfter: 30_000,
  breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 }),
});
// opossum's breaker is always a rolling window (10 buckets over 10 s here);
// `timeout: false` leaves out the per-call timer it arms by default.
const opossum = new Opossum(fn, {
  timeout: false,
  resetTimeout: 30_000,
  errorThresholdPercentage: 50,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10,
});

Deno.bench({ name: "bare await fn()", group, baseline: true }, async () => {
  await fn();
});

Deno.bench(
  { name: "bulwark allowCall + await fn() + recordSuccess (consecutive)", group },
  async () => {
    if (consecutive.allowCall()) {
      await fn();
      consecutive.recordSuccess();
    }
  },
);

Deno.bench(
  { name: "bulwark allowCall + await fn() + recordSuccess (time window)", group },
  async () => {
    if (windowed.allowCall()) {
      await fn();
      windowed.recordSuccess();
    }
  },
);

Deno.bench({ name: "bulwark breaker.execute(fn) (consecutive)", group }, async () => {
  await forExecute.execute(fn);
});

Deno.bench({ name: "bulwark allowCall + recordSuccess only (sync, no call)", group }, () => {
  if (syncOnly.allowCall()) syncOnly.recordSuccess();
});

Deno.bench({ name: "cockatiel circuitBreaker execute (ConsecutiveBreaker)", group }, async () => {
  await cConsecutive.execute(fn);
});

Deno.bench({ name: "cockatiel circuitBreaker execute (SamplingBreaker)", group }, async () => {
  await cSampling.execute(fn);
});

Deno.bench({ name: "opossum fire (timeout off)", group }, async () => {
  await opossum.fire();
});

/**
 * Per-call cost with 10,000 live policies called round-robin, against one
 * policy called through the same indexing code (an array of length 1), so
 * the only difference is how many policies' state the calls touch.
 *
 * @module
 */
import { policy } from "../mod.ts";
import { fn, FULL, RETRY_ONLY } from "./_shared.ts";

const group = "live policies";
const MANY = 10_000;

const oneFull = [policy("full-0", { ...FULL, telemetry: false })];
const manyFull = Array.from(
  { length: MANY },
  (_, i) => policy(`full-${i}`, { ...FULL, telemetry: false }),
);
const oneRetry = [policy("retry-0", { ...RETRY_ONLY, telemetry: false })];
const manyRetry = Array.from(
  { length: MANY },
  (_, i) => policy(`retry-${i}`, { ...RETRY_ONLY, telemetry: false }),
);
let a = 0, b = 0, c = 0, d = 0;

Deno.bench({ name: "bare await fn()", group, baseline: true }, async () => {
  await fn();
});

Deno.bench({ name: "bulwark full policy, 1 policy", group }, async () => {
  const p = oneFull[a];
  a = a + 1 === oneFull.length ? 0 : a + 1;
  await p.execute(fn);
});

Deno.bench({ name: "bulwark full policy, 10,000 policies round-robin", group }, async () => {
  const p = manyFull[b];
  b = b + 1 === manyFull.length ? 0 : b + 1;
  await p.execute(fn);
});

Deno.bench({ name: "bulwark retry-only policy, 1 policy", group }, async () => {
  const p = oneRetry[c];
  c = c + 1 === oneRetry.length ? 0 : c + 1;
  await p.execute(fn);
});

Deno.bench({ name: "bulwark retry-only policy, 10,000 policies round-robin", group }, async () => {
  const p = manyRetry[d];
  d = d + 1 === manyRetry.length ? 0 : d + 1;
  await p.execute(fn);
});

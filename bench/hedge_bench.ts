/**
 * What hedging (and the other §6 parts) add to a call that succeeds at
 * once: the full policy with `hedge` against the same policy without it
 * (the group's baseline). A call that ends before the hedge delay arms no
 * timer beyond the deadline's wheel entry, which the hedge delay takes
 * over (issue 15, must show 6: within 1.1x).
 *
 * @module
 */
import { policy, RateLimiter } from "../mod.ts";
import { fn, FULL } from "./_shared.ts";

const group = "hedge";

const full = policy("full", { ...FULL, telemetry: false });
const fixed = policy("hedge-fixed", { ...FULL, telemetry: false, hedge: { delayMs: 50 } });
const observed = policy("hedge-p95", {
  ...FULL,
  telemetry: false,
  hedge: { delayMs: "p95", minDelayMs: 50 },
});
const limited = policy("rate-limited", {
  ...FULL,
  telemetry: false,
  rateLimit: new RateLimiter({ ratePerSecond: 1e9, burst: 1_000_000 }),
});
const fallback = { fallback: () => 0 };

Deno.bench({ name: "bulwark full policy", group, baseline: true }, async () => {
  await full.execute(fn);
});

Deno.bench({ name: "bulwark full policy + hedge (fixed delay)", group }, async () => {
  await fixed.execute(fn);
});

Deno.bench({ name: "bulwark full policy + hedge (p95 delay)", group }, async () => {
  await observed.execute(fn);
});

Deno.bench({ name: "bulwark full policy + rateLimit (tokens to spare)", group }, async () => {
  await limited.execute(fn);
});

Deno.bench({ name: "bulwark full policy + fallback (general path)", group }, async () => {
  await full.execute(fn, fallback);
});

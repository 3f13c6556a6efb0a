// Must show 5 of issue 15: hedging at p95 against a 98 % 10 ms / 2 % 500 ms
// dependency cuts the 99th percentile at least 5x for at most 10 % more
// attempts (virtual time, seeded: the figures are exact).
import assert from "node:assert/strict";
import { tailExperiment } from "../../examples/hedging.ts";

Deno.test("the tail: a hedge at p95 cuts p99 from 500 ms to 20.2 ms for 2.1 % more attempts", async () => {
  const plain = await tailExperiment(undefined);
  const hedged = await tailExperiment({ delayMs: "p95" });
  assert.deepEqual(
    { attempts: plain.attempts, p50: plain.p50, p99: plain.p99, p999: plain.p999 },
    { attempts: 10_000, p50: 10, p99: 500, p999: 500 },
  );
  assert.equal(hedged.p50, 10);
  // A slow first attempt is hedged after p95 (10 ms, the upper end of its
  // histogram bucket: at most 2 % more), and the hedge takes 10 ms.
  assert.ok(hedged.p99 >= 20 && hedged.p99 <= 20.2, `${hedged.p99}`);
  assert.equal(hedged.attempts, 10_212);
  assert.ok(plain.p99 / hedged.p99 >= 5, "p99 cut at least 5x");
  assert.ok(hedged.attempts <= 1.1 * plain.attempts, "at most 10 % more attempts");
});

// The null rule meets saved data: snapshots keep their null fields; options follow the rule.
import assert from "node:assert/strict";
import { CircuitBreaker } from "../../src/circuit/circuit_breaker.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";

// bae5d1b: readSnapshot still maps `detector: null` to "no detector"
// (`saved.detector === null ? undefined : saved.detector`), but knownKeys()
// now rejects it first: a saved snapshot with a null detector (before
// bae5d1b accepted) is now a TypeError, and that mapping is dead code.
Deno.test("a breaker snapshot with detector: null restores (its detector starts empty)", () => {
  const clock = new VirtualClock(1_000);
  const b = new CircuitBreaker({
    kind: "consecutive",
    threshold: 2,
    breakMs: 100,
    clock,
    initialState: {
      state: "closed",
      openedAt: null,
      breakMs: null,
      opens: 0,
      detector: null,
    } as never,
  });
  assert.equal(b.state, "closed");
});

// Control: a JSON round trip of a closed breaker (openedAt/breakMs null,
// time detector head null) restores.
Deno.test("a JSON round trip of a fresh time breaker restores (null fields of a snapshot are data)", () => {
  const clock = new VirtualClock(1_000);
  const opts = {
    kind: "time" as const,
    windowMs: 1_000,
    buckets: 10,
    threshold: 0.5,
    minThroughput: 2,
    breakMs: 100,
    clock,
  };
  const a = new CircuitBreaker(opts);
  const saved = JSON.parse(JSON.stringify(a.toJSON()));
  const b = new CircuitBreaker({ ...opts, initialState: saved });
  assert.equal(b.state, "closed");
});

// 6dd38db/bae5d1b: the documented null rule ("<option> must be left out for
// its default, not null") - retry.retryBudget is destructured out before
// the retry options' knownKeys() runs, so its null gets another message.
import { Policy } from "../../src/policy/policy.ts";
Deno.test("retry.retryBudget: null follows the one null rule message", () => {
  assert.throws(() => new Policy("p", { retry: { retryBudget: null as never } }), {
    name: "TypeError",
    message: "retry.retryBudget must be left out for its default, not null: received null",
  });
});

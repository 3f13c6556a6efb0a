import assert from "node:assert/strict";
import { runExample } from "../_examples.ts";

Deno.test("examples/retry_demo.ts (deno task demo) exits 0 and shows every scripted failure", async () => {
  const { code, stdout, stderr } = await runExample("examples/retry_demo.ts", [
    "--allow-net=127.0.0.1",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /retry after attempt 1: transient \(HTTP 503\)/);
  assert.match(stdout, /retry after attempt 1: rate_limit \(HTTP 429\), waiting 1000 ms/);
  assert.match(stdout, /attempt 1 timed out after 400 ms/);
  assert.match(stdout, /attempt 1 failed permanently: not retried/);
  assert.match(stdout, /gave up \(class_budget\) after 2 attempts/);
  assert.match(stdout, /=> deadline exceeded after \d+ attempts/);
  assert.match(stdout, /done in \d+\.\d+s/);
  assert.equal(stderr, "");
});

Deno.test("examples/fault_injection.ts exits 0 and reports its injected faults", async () => {
  const { code, stdout, stderr } = await runExample("examples/fault_injection.ts", [
    "--allow-net=127.0.0.1",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /order \d ok/);
  assert.match(stdout, /network faults injected:/);
});

Deno.test("examples/supervisor.ts exits 0 and cleans up its children", async () => {
  const { code, stdout, stderr } = await runExample("examples/supervisor.ts", ["--allow-run"]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /watchdog: job stuck while waiting for the lock/);
  assert.match(stdout, /killOrphans signalled 3 processes \(the direct one too\)/);
});

Deno.test("examples for the bulkhead, failure budget and circuit breaker exit 0", async () => {
  for (
    const path of [
      "examples/bulkhead.ts",
      "examples/failure_budget.ts",
      "examples/circuit_breaker.ts",
    ]
  ) {
    const { code, stdout, stderr } = await runExample(path, []);
    assert.equal(code, 0, `${path}: ${stderr}`);
    assert.notEqual(stdout.trim(), "", path);
    assert.equal(stderr, "", path);
  }
});

Deno.test("examples/policy_json.ts and examples/retry_budget.ts exit 0 with their figures", async () => {
  const json = await runExample("examples/policy_json.ts", []);
  assert.equal(json.code, 0, json.stderr);
  assert.match(json.stdout, /declared policy: 42 in stock after 3 attempts/);
  assert.match(json.stdout, /invalid declaration of policy "broken" \(4 problems\)/);
  assert.match(json.stdout, /retry\.backoff\.baseMs must be a number >= 0: received -1/);
  const budget = await runExample("examples/retry_budget.ts", []);
  assert.equal(budget.code, 0, budget.stderr);
  // 100 first attempts + 20% of them + the floor (1/s over the 10 s window).
  assert.match(budget.stdout, /100 failing calls made 130 attempts \(without the budget: 500\)/);
});

Deno.test("examples/rate_limit.ts prints the burst, the refill, the refusals and the shared limiter exactly", async () => {
  const { code, stdout, stderr } = await runExample("examples/rate_limit.ts", []);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  // virtual time: the same lines on every machine
  assert.deepEqual(stdout.trimEnd().split("\n"), [
    "7 calls at once; ratePerSecond 10, burst 3, maxWaitMs 250",
    "   0 ms  #1 starts",
    "   0 ms  #2 starts",
    "   0 ms  #3 starts",
    "   0 ms  event: rate_limited, retry after 300 ms",
    "   0 ms  event: rate_limited, retry after 300 ms",
    "   0 ms  #1 done: quote 1",
    "   0 ms  #2 done: quote 2",
    "   0 ms  #3 done: quote 3",
    '   0 ms  #6 refused: rate limiter "partner" has no token within maxWaitMs 250 (next in 300 ms); retryAfterMs 300',
    '   0 ms  #7 refused: rate limiter "partner" has no token within maxWaitMs 250 (next in 300 ms); retryAfterMs 300',
    " 100 ms  #4 starts",
    " 100 ms  #4 done: quote 4",
    " 200 ms  #5 starts",
    " 200 ms  #5 done: quote 5",
    "",
    "the bucket is full again; 4 calls, and the 4th caller leaves while it waits",
    "1000 ms  #8 starts",
    "1000 ms  #9 starts",
    "1000 ms  #10 starts",
    "1000 ms  #8 done: quote 8",
    "1000 ms  #9 done: quote 9",
    "1000 ms  #10 done: quote 10",
    "1050 ms  #11 left while waiting: the user navigated away",
    "1050 ms  next token in 50 ms (#11 gave its token back)",
    "",
    "6 calls at once with a fallback: the refused one gets the cached quote",
    "2050 ms  event: rate_limited, retry after 300 ms",
    "2050 ms  #12: quote 12",
    "2050 ms  #13: quote 13",
    "2050 ms  #14: quote 14",
    "2050 ms  #17: cached quote (rate_limited)",
    "2150 ms  #15: quote 15",
    "2250 ms  #16: quote 16",
    "",
    "two policies share one limiter (2 a second, burst 2)",
    "3050 ms  order sent",
    "3050 ms  refund sent",
    '3050 ms  refund refused for policy "refunds": retry after 500 ms',
  ]);
});

Deno.test("examples/fallback_coalesce.ts prints each fallback and each coalesced call exactly", async () => {
  const { code, stdout, stderr } = await runExample("examples/fallback_coalesce.ts", []);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.deepEqual(stdout.trimEnd().split("\n"), [
    "fallback: the price service is down",
    "  2 ms  sku-1: rejected, no fallback: the client went away",
    " 37 ms  sku-1: gave up (max_attempts_exceeded, 3 attempts, RetryExhaustedError)",
    " 37 ms  sku-1: 9.99 (from the cache)",
    "102 ms  sku-1: gave up (circuit_open, 0 attempts, CircuitOpenError)",
    "102 ms  sku-1: 9.99 (from the cache)",
    "102 ms  attempts made: 4",
    "",
    "coalescing: identical profile requests share one load",
    "102 ms  event: coalesced user:42, 2 callers",
    "102 ms  event: coalesced user:42, 3 callers",
    "102 ms  load 42 starts (for header)",
    "122 ms  sidebar left: sidebar closed",
    "152 ms  header got user 42",
    "152 ms  feed got user 42",
    "152 ms  loads: 1",
    "152 ms  event: coalesced user:7, 2 callers",
    "152 ms  load 7 starts (for tab 1)",
    "162 ms  load 7 aborted",
    "162 ms  tab 1 left: tab 1 closed",
    "162 ms  tab 2 left: tab 2 closed",
    "162 ms  loads: 2",
  ]);
});

Deno.test("examples/hedging.ts prints the tail experiment's table", async () => {
  const { code, stdout, stderr } = await runExample("examples/hedging.ts", [], ["--calls", "2000"]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.match(stdout, /^2000 calls, 98 % at 10 ms and 2 % at 500 ms \(seed 42\)$/m);
  assert.match(stdout, /^no hedge +10\.0 ms +10\.0 ms +500\.0 ms +500\.0 ms +2000$/m);
  assert.match(stdout, /^hedge p95 +10\.0 ms +10\.0 ms +20\.\d ms +\d+\.\d ms +20\d\d$/m);
  assert.match(stdout, /^p99 cut \d+\.\dx for \d\.\d % more attempts$/m);
});

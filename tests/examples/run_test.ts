import assert from "node:assert/strict";

/** Runs an example in a child Deno and returns its exit code and output. */
async function runExample(path: string, permissions: string[], args: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, path, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await child.output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

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

Deno.test("deno task demo and demo --json: exit 0; the JSON reports every phase with the listed fields", async () => {
  const permissions = ["--allow-net=127.0.0.1", "--allow-env"];
  const [plain, { code, stdout, stderr }] = await Promise.all([
    runExample("examples/demo.ts", permissions),
    runExample("examples/demo.ts", permissions, ["--json"]),
  ]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^phase\s+success\s+attempts\/req\s+p50 ms\s+p95 ms\s+p99 ms/m);
  assert.match(plain.stdout, /circuit transitions:\n\s+\d+ ms\s+\[\w+\]\s+closed -> open/);
  assert.match(plain.stdout, /traces: start Jaeger/);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout);
  assert.equal(summary.totalRequests, 2_000);
  assert.deepEqual(summary.phases.map((p: { phase: string }) => p.phase), [
    "healthy",
    "degraded",
    "outage",
    "recovery",
  ]);
  for (const p of summary.phases) {
    for (const key of ["successRate", "attemptsPerRequest", "retriesByClass", "latencyMs"]) {
      assert.ok(key in p, `${p.phase}.${key}`);
    }
    for (const q of ["p50", "p95", "p99"]) assert.equal(typeof p.latencyMs[q], "number");
  }
  const [healthy, degraded, outage, recovery] = summary.phases;
  assert.equal(healthy.successRate, 1);
  assert.ok(degraded.retriesByClass.transient > 0, "503s in the degraded phase were retried");
  assert.equal(outage.successRate, 0);
  assert.ok(recovery.successRate > 0.5, `recovery success ${recovery.successRate}`);
  const transitions = summary.circuitTransitions.map((t: { from: string; to: string }) =>
    `${t.from}->${t.to}`
  );
  assert.equal(transitions[0], "closed->open");
  assert.equal(transitions.at(-1), "half_open->closed");
  assert.ok(
    summary.failureBudget.some((b: { event: string }) => b.event === "failure_budget_breach"),
  );
  assert.ok(summary.elapsedMs < 20_000, `${summary.elapsedMs} ms`);
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

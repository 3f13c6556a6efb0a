import assert from "node:assert/strict";

/** Runs an example in a child Deno and returns its exit code and output. */
async function runExample(path: string, permissions: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, path],
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

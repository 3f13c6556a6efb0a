// Nothing Bulwark keeps holds a Node process open: a program that used a
// policy with a long deadline (and timeouts, retries, a breaker, a budget, a
// bulkhead), the HTTP client, a watchdog and a supervisor exits on its own
// as soon as its work is done, long before any of those limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** Runs `source` as an ES module in a new `node` (resolving from node_tests/); exit and time. */
function runNode(source, killAfterMs) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", source],
      {
        cwd: HERE,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    const killer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(killer);
      resolve({
        code,
        signal,
        stdout,
        stderr,
        ms: performance.now() - started,
      });
    });
  });
}

test("a process that used a policy with a 60 s deadline exits on its own", async () => {
  const script = `
    import { constant, policy, TransientError } from "@bulwark/bulwark";
    const api = policy("exit-check", {
      telemetry: false,
      deadlineMs: 60_000,
      attemptTimeoutMs: 30_000,
      retry: { maxAttempts: 3, backoff: constant(5) },
      circuit: { kind: "consecutive", threshold: 5, breakMs: 60_000 },
      failureBudget: { threshold: 0.5, windowMs: 60_000, minSamples: 10 },
      bulkhead: { maxConcurrent: 4, maxQueue: 4, queueTimeoutMs: 60_000 },
    });
    let attempts = 0;
    const value = await api.execute(({ attempt }) => {
      attempts++;
      if (attempt === 1) throw new TransientError("once");
      return "done";
    });
    // An attempt timeout that fires: the timer wheel runs, then stops.
    const fast = policy("exit-timeout", {
      telemetry: false, attemptTimeoutMs: 20, deadlineMs: 60_000, retry: { maxAttempts: 1 },
    });
    const timedOut = await fast.execute(({ signal }) => new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason)))).catch((e) => e.cause?.name);
    console.log(value, attempts, timedOut);
  `;
  const { code, signal, stdout, stderr, ms } = await runNode(script, 20_000);
  assert.equal(stderr, "");
  assert.deepEqual([code, signal], [0, null]);
  assert.equal(stdout, "done 2 AttemptTimeoutError\n");
  assert.ok(ms < 5_000, `exited after ${Math.round(ms)} ms`);
});

test("a process that used the HTTP client, a watchdog and a supervisor exits on its own", async () => {
  const script = `
    import { createServer } from "node:http";
    import { createClient, ProcessSupervisor, withWatchdog } from "@bulwark/bulwark";
    const server = createServer((req, res) => res.end("pong"));
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = createClient({
      baseUrl: "http://127.0.0.1:" + server.address().port,
      timeoutMs: 30_000,
      policy: { telemetry: false, deadlineMs: 60_000 },
    });
    const body = await (await client.fetch("/ping")).text();
    client.close();
    server.close();
    server.closeAllConnections();
    const watched = await withWatchdog(async () => "watched", { timeoutMs: 60_000 });
    const supervisor = new ProcessSupervisor({ killGraceMs: 60_000 });
    const child = supervisor.spawn(process.execPath, ["-e", "0"]);
    const status = await child.status;
    await supervisor.close();
    console.log(body, watched, status.code);
  `;
  const { code, signal, stdout, stderr, ms } = await runNode(script, 20_000);
  assert.equal(stderr, "");
  assert.deepEqual([code, signal], [0, null]);
  assert.equal(stdout, "pong watched 0\n");
  assert.ok(ms < 5_000, `exited after ${Math.round(ms)} ms`);
});

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** Runs examples/demo.ts as `deno task demo` does, in a child Deno. */
async function demo(args: string[] = []) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env=OTEL_DENO", "examples/demo.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

interface Summary {
  seed: number;
  totalRequests: number;
  phases: Array<{
    phase: string;
    requests: number;
    outcomes: Record<string, number>;
    attempts: number;
    retries: number;
    timeouts: number;
    retryDecisionsByClass: Record<string, number>;
  }>;
  totals: Record<string, number>;
  circuitTransitions: Array<{ from: string; to: string }>;
  failureBudget: Array<{ event: string }>;
  client: {
    requestsSent: number;
    responsesReceived: number;
    timeouts: number;
    retries: number;
    failures: number;
    rejected: number;
  };
}

Deno.test("demo: the same seed prints the same figures on every run; another seed other figures", async () => {
  const [a, b, c, d] = await Promise.all([
    demo(),
    demo(["--seed", "7"]),
    demo(["--seed=8"]),
    demo(["--seed", "8"]),
  ]);
  for (const run of [a, b, c, d]) {
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
  }
  assert.match(a.stdout, /^seed 7; 2000 requests in 4 phases/);
  assert.equal(a.stdout, b.stdout, "the default seed is 7");
  assert.equal(c.stdout, d.stdout);
  assert.match(c.stdout, /^seed 8;/);
  assert.notEqual(a.stdout.replace("seed 7", ""), c.stdout.replace("seed 8", ""));
});

Deno.test("demo --json: each count means what its label says and the totals are the sums of the table", async () => {
  const run = await demo(["--json"]);
  assert.equal(run.code, 0, run.stderr);
  const s: Summary = JSON.parse(run.stdout);
  assert.equal(s.seed, 7);
  assert.deepEqual(s.phases.map((p) => p.phase), ["healthy", "degraded", "outage", "recovery"]);
  const sum = (f: (p: Summary["phases"][number]) => number) =>
    s.phases.reduce((n, p) => n + f(p), 0);
  const decided = (p: Summary["phases"][number]) =>
    Object.values(p.retryDecisionsByClass).reduce((a, b) => a + b, 0);
  // Every call ends one way: the outcomes of a phase add up to its requests.
  for (const p of s.phases) {
    const o = p.outcomes;
    assert.equal(
      o.succeeded + o.failedResponse + o.deadlineExceeded + o.refusedWithoutRequest +
        o.retryRefused + o.otherErrors,
      p.requests,
      p.phase,
    );
    // A retry the policy decided on was either sent or refused by the open circuit.
    assert.equal(decided(p), p.retries + o.retryRefused, p.phase);
  }
  // The total row is the sum of the phase rows.
  assert.deepEqual(s.totals, {
    requests: sum((p) => p.requests),
    succeeded: sum((p) => p.outcomes.succeeded),
    failedResponse: sum((p) => p.outcomes.failedResponse),
    deadlineExceeded: sum((p) => p.outcomes.deadlineExceeded),
    refusedWithoutRequest: sum((p) => p.outcomes.refusedWithoutRequest),
    retryRefused: sum((p) => p.outcomes.retryRefused),
    otherErrors: sum((p) => p.outcomes.otherErrors),
    attempts: sum((p) => p.attempts),
    retries: sum((p) => p.retries),
    timeouts: sum((p) => p.timeouts),
    retryDecisions: sum(decided),
  });
  // The client's own counters agree with the table.
  const t = s.totals;
  assert.equal(t.requests, 2_000);
  assert.deepEqual(s.client, {
    requestsSent: t.attempts,
    responsesReceived: t.attempts - t.timeouts,
    timeouts: t.timeouts,
    retries: t.retries,
    failures: t.requests - t.succeeded,
    rejected: t.refusedWithoutRequest,
  });
  // The scenario's shape (seed 7): the policy's attempt timeouts are counted, the outage opens
  // the circuit, calls cut after a request are not counted as refused without one.
  const [healthy, degraded, outage, recovery] = s.phases;
  assert.equal(healthy.outcomes.succeeded, 500);
  assert.ok(degraded.timeouts > 0, "the 2% of hanging requests were cut by the attempt timeout");
  assert.ok(degraded.retryDecisionsByClass.transient > 0);
  assert.equal(outage.outcomes.succeeded, 0);
  assert.ok(outage.outcomes.retryRefused > 0 && outage.outcomes.refusedWithoutRequest > 0);
  assert.ok(recovery.outcomes.succeeded > 400);
  const transitions = s.circuitTransitions.map((x) => `${x.from}->${x.to}`);
  assert.equal(transitions[0], "closed->open");
  assert.equal(transitions.at(-1), "half_open->closed");
  assert.deepEqual(s.failureBudget.map((b) => b.event), [
    "failure_budget_breach",
    "failure_budget_recovered",
  ]);
});

Deno.test("demo: a bad --seed or an unknown argument exits 2 with the reason", async () => {
  for (
    const [args, message] of [
      [["--seed", "x"], "--seed must be an integer >= 0: received x"],
      [["--seed"], "--seed must be an integer >= 0: received undefined"],
      [["--seed=-1"], "--seed must be an integer >= 0: received -1"],
      [["--verbose"], "unknown argument --verbose (usage: [--seed N] [--json])"],
    ] as const
  ) {
    const run = await demo([...args]);
    assert.equal(run.code, 2, args.join(" "));
    assert.equal(run.stdout, "");
    assert.equal(run.stderr.trim(), message);
  }
});

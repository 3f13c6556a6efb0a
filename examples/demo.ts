/**
 * `deno task demo`: ~2,000 requests through the resilient client against a
 * local upstream that goes through four scripted phases — healthy, degraded
 * (30% 503 with Retry-After and extra latency), a full outage, recovery —
 * with retries, a circuit breaker, a failure budget and a deadline. Prints a
 * progress bar (plain lines when not on a terminal), then a summary per
 * phase; `--json` prints the summary as JSON instead.
 *
 * Run: deno run --allow-net=127.0.0.1 --allow-env examples/demo.ts [--json]
 */
import {
  CircuitOpenError,
  createClient,
  DeadlineExceededError,
  decorrelatedJitter,
  LatencyHistogram,
  policy,
  type ResilienceEvent,
  seededRandom,
} from "../mod.ts";

type PhaseName = "healthy" | "degraded" | "outage" | "recovery";
/** Each phase sends `requests` requests, one every `everyMs` (they overlap freely). */
const PHASES: Array<{ name: PhaseName; requests: number; everyMs: number; about: string }> = [
  { name: "healthy", requests: 500, everyMs: 2, about: "every request succeeds in ~2 ms" },
  { name: "degraded", requests: 600, everyMs: 4, about: "30% 503 + Retry-After: 1, +20 ms" },
  { name: "outage", requests: 400, everyMs: 4, about: "every request fails with 503" },
  { name: "recovery", requests: 500, everyMs: 4, about: "healthy again" },
];
const json = Deno.args.includes("--json");

// ---------------------------------------------------------------- upstream
let phase: PhaseName = "healthy";
const random = seededRandom(7);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
  switch (phase) {
    case "healthy":
    case "recovery":
      await sleep(2);
      return Response.json({ ok: true });
    case "degraded":
      await sleep(20);
      return random() < 0.3
        ? new Response("overloaded", { status: 503, headers: { "retry-after": "1" } })
        : Response.json({ ok: true });
    case "outage":
      return new Response("down", { status: 503 });
  }
});

// ------------------------------------------------------------------ policy
const started = performance.now();
const at = () => Math.round(performance.now() - started);
interface PhaseStats {
  name: PhaseName;
  about: string;
  requests: number;
  succeeded: number;
  failedResponses: number;
  deadlineExceeded: number;
  circuitRejected: number;
  otherErrors: number;
  attempts: number;
  retriesByClass: Record<string, number>;
  latency: InstanceType<typeof LatencyHistogram>;
}
const stats = new Map<PhaseName, PhaseStats>();
const transitions: Array<
  { atMs: number; phase: PhaseName; from: string; to: string; reason: string }
> = [];
const breaches: Array<{ atMs: number; phase: PhaseName; event: string; rate: number }> = [];
function current(): PhaseStats {
  return stats.get(phase)!;
}
function onEvent(event: ResilienceEvent): void {
  switch (event.type) {
    case "retry":
      current().retriesByClass[event.errorClass] =
        (current().retriesByClass[event.errorClass] ?? 0) + 1;
      break;
    case "circuit_transition":
      transitions.push({ atMs: at(), phase, from: event.from, to: event.to, reason: event.reason });
      break;
    case "failure_budget_breach":
    case "failure_budget_recovered":
      breaches.push({
        atMs: at(),
        phase,
        event: event.type,
        rate: Math.round(event.rate * 1000) / 1000,
      });
      break;
  }
}

const upstreamPolicy = policy("upstream", {
  deadlineMs: 2_500,
  attemptTimeoutMs: 1_000,
  random: seededRandom(2026),
  retry: {
    maxAttempts: 4,
    budgets: { transient: 3, server_error: 1 },
    backoff: decorrelatedJitter({ baseMs: 20, maxMs: 400 }),
  },
  circuit: {
    kind: "count",
    size: 50,
    threshold: 0.5,
    minCalls: 20,
    breakMs: 300,
    halfOpenMaxCalls: 2,
  },
  failureBudget: { threshold: 0.1, windowMs: 5_000, minSamples: 50 },
  onEvent,
});
const client = createClient({
  name: "demo",
  baseUrl: `http://127.0.0.1:${upstream.addr.port}`,
  policy: upstreamPolicy,
  pool: { maxConnections: 32, connectionTimeoutMs: 2_000 },
});

// ---------------------------------------------------------------- progress
const total = PHASES.reduce((n, p) => n + p.requests, 0);
let done = 0;
const tty = !json && Deno.stdout.isTerminal();
const encoder = new TextEncoder();
function progress(final = false): void {
  if (!tty) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  const bar = "#".repeat(filled) + ".".repeat(width - filled);
  Deno.stdout.writeSync(
    encoder.encode(
      `\r[${bar}] ${String(done).padStart(4)}/${total}  ${phase.padEnd(9)}${final ? "\n" : ""}`,
    ),
  );
}

// ------------------------------------------------------------------ driver
async function one(s: PhaseStats): Promise<void> {
  const t0 = performance.now();
  try {
    const res = await client.fetch("/inventory");
    await res.body?.cancel();
    if (res.ok) s.succeeded++;
    else s.failedResponses++;
  } catch (error) {
    if (error instanceof DeadlineExceededError) s.deadlineExceeded++;
    else if (error instanceof CircuitOpenError) s.circuitRejected++;
    else s.otherErrors++;
  }
  s.latency.record(performance.now() - t0);
  done++;
}

try {
  if (!json) {
    console.log(
      `upstream on 127.0.0.1:${upstream.addr.port}; ${total} requests in 4 phases`,
    );
  }
  for (const p of PHASES) {
    phase = p.name;
    const s: PhaseStats = {
      name: p.name,
      about: p.about,
      requests: p.requests,
      succeeded: 0,
      failedResponses: 0,
      deadlineExceeded: 0,
      circuitRejected: 0,
      otherErrors: 0,
      attempts: 0,
      retriesByClass: {},
      latency: new LatencyHistogram(),
    };
    stats.set(p.name, s);
    const tick = tty ? setInterval(() => progress(), 100) : undefined;
    const sentBefore = client.stats().requestsSent;
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < p.requests; i++) {
      inFlight.push(one(s));
      await sleep(p.everyMs);
    }
    await Promise.all(inFlight);
    s.attempts = client.stats().requestsSent - sentBefore;
    if (tick !== undefined) clearInterval(tick);
    progress(p.name === "recovery");
    if (!json && !tty) console.log(`phase ${p.name} done (${done}/${total})`);
  }
} finally {
  client.close();
  await upstream.shutdown();
}

// ----------------------------------------------------------------- summary
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const summary = {
  totalRequests: total,
  elapsedMs: at(),
  phases: [...stats.values()].map((s) => ({
    phase: s.name,
    scenario: s.about,
    requests: s.requests,
    successRate: round(s.succeeded / s.requests, 3),
    attemptsPerRequest: round(s.attempts / s.requests, 2),
    retriesByClass: s.retriesByClass,
    outcomes: {
      succeeded: s.succeeded,
      failedResponses: s.failedResponses,
      deadlineExceeded: s.deadlineExceeded,
      circuitRejected: s.circuitRejected,
      otherErrors: s.otherErrors,
    },
    latencyMs: {
      p50: round(s.latency.percentile(50)),
      p95: round(s.latency.percentile(95)),
      p99: round(s.latency.percentile(99)),
    },
  })),
  circuitTransitions: transitions,
  failureBudget: breaches,
  client: client.stats(),
  attemptLatencyMs: {
    p50: round(client.percentile(50)),
    p95: round(client.percentile(95)),
    p99: round(client.percentile(99)),
  },
};

if (json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log("");
  console.log("phase      success  attempts/req  p50 ms  p95 ms  p99 ms  retries by class");
  for (const p of summary.phases) {
    const retries = Object.entries(p.retriesByClass).map(([k, v]) => `${k} ${v}`).join(", ") || "-";
    console.log(
      `${p.phase.padEnd(9)}  ${(p.successRate * 100).toFixed(1).padStart(6)}%  ${
        p.attemptsPerRequest.toFixed(2).padStart(12)
      }  ${String(p.latencyMs.p50).padStart(6)}  ${String(p.latencyMs.p95).padStart(6)}  ${
        String(p.latencyMs.p99).padStart(6)
      }  ${retries}`,
    );
  }
  console.log("\ncircuit transitions:");
  for (const t of transitions) {
    console.log(
      `  ${String(t.atMs).padStart(6)} ms  [${t.phase}]  ${t.from} -> ${t.to}  (${t.reason})`,
    );
  }
  console.log("\nfailure budget:");
  for (const b of breaches) {
    console.log(`  ${String(b.atMs).padStart(6)} ms  [${b.phase}]  ${b.event} at rate ${b.rate}`);
  }
  if (breaches.length === 0) console.log("  no breach");
  const c = summary.client;
  console.log(
    `\nclient: ${c.requestsSent} requests sent, ${c.retries} retries, ${c.timeouts} timeouts, ` +
      `${c.rejected} rejected without a request; done in ${
        (summary.elapsedMs / 1000).toFixed(1)
      } s`,
  );
  if (Deno.env.get("OTEL_DENO") !== "true") {
    console.log(
      "traces: start Jaeger (docs/telemetry.md), then OTEL_DENO=true OTEL_SERVICE_NAME=bulwark-demo deno task demo",
    );
  }
}

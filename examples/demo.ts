/**
 * `deno task demo`: 2,000 requests through the resilient client against an
 * upstream that goes through four scripted phases — healthy, degraded (30%
 * 503 with Retry-After, extra latency, 2% of requests hanging past the
 * attempt timeout), a full outage, recovery — with
 * retries, a circuit breaker, a failure budget and a deadline. Prints a
 * summary per phase; `--json` prints it as JSON instead.
 *
 * It runs in virtual time (`VirtualClock`): the client, its pool and policy
 * are the real ones, the upstream answers in-process (the client's `fetch`
 * option) after virtual delays, and the upstream's 503s and the backoff
 * jitter come from generators seeded by `--seed N` (default 7). The same seed
 * prints the same figures on every run and every machine, in well under a
 * second.
 *
 * Run: deno run --allow-env=OTEL_DENO examples/demo.ts [--seed N] [--json]
 */
import {
  CircuitOpenError,
  createClient,
  DeadlineExceededError,
  decorrelatedJitter,
  FailureBudgetExceededError,
  LatencyHistogram,
  policy,
  type ResilienceEvent,
  seededRandom,
  systemClock,
} from "../mod.ts";
import { VirtualClock } from "../testing.ts";

type PhaseName = "healthy" | "degraded" | "outage" | "recovery";
/** Each phase sends `requests` requests, one every `everyMs` (they overlap freely). */
const PHASES: Array<{ name: PhaseName; requests: number; everyMs: number; about: string }> = [
  { name: "healthy", requests: 500, everyMs: 2, about: "every request succeeds in 2 ms" },
  {
    name: "degraded",
    requests: 600,
    everyMs: 4,
    about: "30% 503 + Retry-After: 1, 20 ms; 2% hang 1.5 s",
  },
  { name: "outage", requests: 400, everyMs: 4, about: "every request fails with 503" },
  { name: "recovery", requests: 500, everyMs: 4, about: "healthy again" },
];
const DEFAULT_SEED = 7;

/** `--seed N` (or `--seed=N`) and `--json`; anything else is a usage error. */
function parseArgs(args: string[]): { seed: number; json: boolean } {
  let seed = DEFAULT_SEED;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    if (flag === "--json" && inline === undefined) json = true;
    else if (flag === "--seed") {
      const value = inline ?? args[++i];
      seed = Number(value);
      if (value === undefined || value.trim() === "" || !Number.isSafeInteger(seed) || seed < 0) {
        throw new RangeError(`--seed must be an integer >= 0: received ${value}`);
      }
    } else throw new RangeError(`unknown argument ${args[i]} (usage: [--seed N] [--json])`);
  }
  return { seed, json };
}

let options: { seed: number; json: boolean };
try {
  options = parseArgs(Deno.args);
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(2);
}
const { seed, json } = options;

// ---------------------------------------------------------------- upstream
// Virtual time starts at the top of the current hour: spans exported with
// OTEL_DENO=true carry plausible timestamps, and the failure budget's time
// buckets line up with the start the same way on every run. Every figure
// printed is relative to the start.
const HOUR_MS = 3_600_000;
const clock = new VirtualClock(Math.floor(systemClock.now() / HOUR_MS) * HOUR_MS);
const started = clock.now();
const at = () => Math.round(clock.now() - started);
let phase: PhaseName = "healthy";
const upstreamRandom = seededRandom(seed);
/** Requests each call sent to the upstream, by call id (the `x-demo-call` header). */
const sentByCall = new Map<string, number>();

/** The upstream, in-process: answers like `fetch` would, after a virtual delay. */
async function upstream(_input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const call = new Headers(init?.headers).get("x-demo-call")!;
  sentByCall.set(call, (sentByCall.get(call) ?? 0) + 1);
  const signal = init?.signal ?? undefined;
  switch (phase) {
    case "healthy":
    case "recovery":
      await clock.sleep(2, signal);
      return Response.json({ ok: true });
    case "degraded": {
      const draw = upstreamRandom();
      // 2% hang past the policy's 1 s attempt timeout, which cuts them.
      await clock.sleep(draw < 0.02 ? 1_500 : 20, signal);
      return draw < 0.32
        ? new Response("overloaded", { status: 503, headers: { "retry-after": "1" } })
        : Response.json({ ok: true });
    }
    case "outage":
      return new Response("down", { status: 503 });
  }
}

// ------------------------------------------------------------------ policy
interface PhaseStats {
  name: PhaseName;
  about: string;
  requests: number;
  /** How each call ended; these add up to `requests`. */
  outcomes: {
    succeeded: number;
    failedResponse: number;
    deadlineExceeded: number;
    /** Refused (open circuit or breached failure budget) before sending any request. */
    refusedWithoutRequest: number;
    /** Sent requests, then the open circuit refused its retry. */
    retryRefused: number;
    otherErrors: number;
  };
  /** Requests sent (first attempts and retries). */
  attempts: number;
  /** Requests sent after the first of their call. */
  retries: number;
  /** Attempts cut by the policy's attempt timeout. */
  timeouts: number;
  /** Retries the policy decided on, by error class (sent, or refused by the open circuit). */
  retryDecisionsByClass: Record<string, number>;
  latency: InstanceType<typeof LatencyHistogram>;
}
const stats: PhaseStats[] = [];
const transitions: Array<
  { atMs: number; phase: PhaseName; from: string; to: string; reason: string }
> = [];
const breaches: Array<{ atMs: number; phase: PhaseName; event: string; rate: number }> = [];
function onEvent(event: ResilienceEvent): void {
  switch (event.type) {
    case "retry": {
      // Phases run one after another, so a retry belongs to the current one.
      const s = stats.at(-1)!;
      s.retryDecisionsByClass[event.errorClass] = (s.retryDecisionsByClass[event.errorClass] ??
        0) + 1;
      break;
    }
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
  clock,
  deadlineMs: 2_500,
  attemptTimeoutMs: 1_000,
  random: seededRandom(seed + 1),
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
  baseUrl: "http://upstream.demo",
  clock,
  policy: upstreamPolicy,
  pool: { maxConnections: 32, connectionTimeoutMs: 2_000 },
  fetch: upstream,
});

// ------------------------------------------------------------------ driver
let nextCall = 0;
async function one(s: PhaseStats): Promise<void> {
  const call = String(nextCall++);
  const t0 = clock.now();
  const o = s.outcomes;
  try {
    const res = await client.fetch("/inventory", { headers: { "x-demo-call": call } });
    await res.body?.cancel();
    if (res.ok) o.succeeded++;
    else o.failedResponse++;
  } catch (error) {
    if (error instanceof DeadlineExceededError) o.deadlineExceeded++;
    else if (error instanceof CircuitOpenError || error instanceof FailureBudgetExceededError) {
      if (sentByCall.has(call)) o.retryRefused++;
      else o.refusedWithoutRequest++;
    } else o.otherErrors++;
  }
  const sent = sentByCall.get(call) ?? 0;
  s.attempts += sent;
  s.retries += Math.max(0, sent - 1);
  sentByCall.delete(call);
  s.latency.record(clock.now() - t0);
}

try {
  for (const p of PHASES) {
    phase = p.name;
    const s: PhaseStats = {
      name: p.name,
      about: p.about,
      requests: p.requests,
      outcomes: {
        succeeded: 0,
        failedResponse: 0,
        deadlineExceeded: 0,
        refusedWithoutRequest: 0,
        retryRefused: 0,
        otherErrors: 0,
      },
      attempts: 0,
      retries: 0,
      timeouts: 0,
      retryDecisionsByClass: {},
      latency: new LatencyHistogram(),
    };
    stats.push(s);
    const timeoutsBefore = client.stats().timeouts;
    let settled = false;
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < p.requests; i++) {
      inFlight.push(one(s));
      await clock.advance(p.everyMs);
    }
    Promise.all(inFlight).then(() => settled = true);
    while (!settled) await clock.advance(5);
    s.timeouts = client.stats().timeouts - timeoutsBefore;
  }
} finally {
  client.close();
}

// ----------------------------------------------------------------- summary
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sum = (f: (s: PhaseStats) => number) => stats.reduce((n, s) => n + f(s), 0);
const totals = {
  requests: sum((s) => s.requests),
  succeeded: sum((s) => s.outcomes.succeeded),
  failedResponse: sum((s) => s.outcomes.failedResponse),
  deadlineExceeded: sum((s) => s.outcomes.deadlineExceeded),
  refusedWithoutRequest: sum((s) => s.outcomes.refusedWithoutRequest),
  retryRefused: sum((s) => s.outcomes.retryRefused),
  otherErrors: sum((s) => s.outcomes.otherErrors),
  attempts: sum((s) => s.attempts),
  retries: sum((s) => s.retries),
  timeouts: sum((s) => s.timeouts),
  retryDecisions: sum((s) => Object.values(s.retryDecisionsByClass).reduce((a, b) => a + b, 0)),
};
const summary = {
  seed,
  totalRequests: totals.requests,
  elapsedMs: at(),
  phases: stats.map((s) => ({
    phase: s.name,
    scenario: s.about,
    requests: s.requests,
    successRate: round(s.outcomes.succeeded / s.requests, 3),
    outcomes: s.outcomes,
    attempts: s.attempts,
    retries: s.retries,
    timeouts: s.timeouts,
    attemptsPerRequest: round(s.attempts / s.requests, 2),
    retryDecisionsByClass: s.retryDecisionsByClass,
    latencyMs: {
      p50: round(s.latency.percentile(50)),
      p95: round(s.latency.percentile(95)),
      p99: round(s.latency.percentile(99)),
    },
  })),
  totals,
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
  const row = (cells: Array<string | number>) =>
    cells.map((c, i) => i === 0 ? String(c).padEnd(9) : String(c).padStart(i === 1 ? 8 : 7))
      .join(" ");
  console.log(
    `seed ${seed}; ${totals.requests} requests in 4 phases against an in-process upstream, ` +
      "in virtual time",
  );
  console.log("\nhow the calls ended (ok + failed + deadline + refused + cut + other = requests):");
  console.log(row(["phase", "requests", "ok", "failed", "deadline", "refused", "cut", "other"]));
  for (const s of stats) {
    const o = s.outcomes;
    console.log(row([
      s.name,
      s.requests,
      o.succeeded,
      o.failedResponse,
      o.deadlineExceeded,
      o.refusedWithoutRequest,
      o.retryRefused,
      o.otherErrors,
    ]));
  }
  console.log(row([
    "total",
    totals.requests,
    totals.succeeded,
    totals.failedResponse,
    totals.deadlineExceeded,
    totals.refusedWithoutRequest,
    totals.retryRefused,
    totals.otherErrors,
  ]));
  console.log(
    "  failed: a failing response after the retries ran out; refused: the open circuit or the\n" +
      "  breached failure budget refused it before it sent a request; cut: it sent requests, then\n" +
      "  the open circuit refused its retry; other: any other error",
  );
  console.log("\nrequests sent and latency (latency of the whole call, retries included):");
  console.log(
    row(["phase", "attempts", "retries", "timeouts", "p50 ms", "p95 ms", "p99 ms"]) +
      "  retries decided, by class",
  );
  for (const p of summary.phases) {
    const decided = Object.entries(p.retryDecisionsByClass).map(([k, v]) => `${k} ${v}`)
      .join(", ") || "-";
    console.log(
      row([
        p.phase,
        p.attempts,
        p.retries,
        p.timeouts,
        p.latencyMs.p50,
        p.latencyMs.p95,
        p.latencyMs.p99,
      ]) + `  ${decided}`,
    );
  }
  console.log(
    row(["total", totals.attempts, totals.retries, totals.timeouts, "", "", ""]) +
      `  ${totals.retryDecisions}`,
  );
  console.log(
    `  retries decided ${totals.retryDecisions} = retries sent ${totals.retries}` +
      ` + retries the open circuit refused ${totals.retryRefused}`,
  );
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
    `\nclient.stats(): ${c.requestsSent} requests sent, ${c.retries} retries, ${c.timeouts} ` +
      `timeouts, ${c.rejected} calls rejected without a request, ${c.failures} failed calls; ` +
      `${(summary.elapsedMs / 1000).toFixed(1)} s of virtual time`,
  );
  if (Deno.env.get("OTEL_DENO") !== "true") {
    console.log(
      "traces: start Jaeger (docs/telemetry.md), then OTEL_DENO=true OTEL_SERVICE_NAME=bulwark-demo deno task demo",
    );
  }
}

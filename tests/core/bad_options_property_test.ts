/**
 * Hardening: every public constructor / factory taking options rejects a bad
 * value of ONE option (generated from a seed) with a TypeError / RangeError
 * (a PolicyDeclarationError with the issue's path for `policyFromJSON`)
 * whose message names the option, within 1 s (a bound against hangs, not a
 * speed claim). Prototype-named keys are rejected as unknown options.
 *
 * `null` has a rule of its own (never "the default": a TypeError naming the
 * option), checked for every option by the last test.
 */
import assert from "node:assert/strict";
import { seededRandom } from "../../src/core/random.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { policy } from "../../src/policy/policy.ts";
import { retry } from "../../src/retry/retry.ts";
import { CircuitBreaker } from "../../src/circuit/circuit_breaker.ts";
import { FailureBudget } from "../../src/budget/failure_budget.ts";
import { RetryBudget } from "../../src/budget/retry_budget.ts";
import { Bulkhead } from "../../src/bulkhead/bulkhead.ts";
import { createClient } from "../../src/http/client.ts";
import { faultInjection } from "../../src/fault/fault_injection.ts";
import { networkConditioner } from "../../src/fault/network_conditioner.ts";
import { withWatchdog } from "../../src/supervise/watchdog.ts";
import { ProcessSupervisor } from "../../src/supervise/process_supervisor.ts";
import { exponential } from "../../src/backoff/exponential.ts";
import { fullJitter } from "../../src/backoff/full_jitter.ts";
import { equalJitter } from "../../src/backoff/equal_jitter.ts";
import { decorrelatedJitter } from "../../src/backoff/decorrelated_jitter.ts";
import { constant } from "../../src/backoff/constant.ts";
import { tokenBackoff } from "../../src/backoff/token_backoff.ts";
import { LatencyHistogram } from "../../src/core/latency_histogram.ts";
import { PolicyDeclarationError, policyFromJSON } from "../../src/policy/policy_declaration.ts";

const SEED = 0x5eed_b0;
const ROUNDS = 3;
const HANG_BOUND_MS = 1_000;

/** The kinds of bad value. */
type Kind =
  | "string"
  | "boolean"
  | "number"
  | "object"
  | "array"
  | "function"
  | "NaN"
  | "Infinity"
  | "-Infinity"
  | "negative"
  | "huge";

/** What an option is; selects the kinds that are wrong for it. */
type OptionType = "number" | "integer" | "boolean" | "function" | "string" | "object";

const WRONG: Record<OptionType, readonly Kind[]> = {
  number: [
    "string",
    "boolean",
    "object",
    "array",
    "function",
    "NaN",
    "Infinity",
    "-Infinity",
    "negative",
    "huge",
  ],
  integer: [
    "string",
    "boolean",
    "object",
    "array",
    "function",
    "NaN",
    "Infinity",
    "-Infinity",
    "negative",
    "huge",
  ],
  boolean: ["string", "number", "object", "array", "function"],
  function: ["string", "number", "boolean", "object", "array"],
  string: ["number", "boolean", "object", "array", "function"],
  object: ["string", "number", "boolean", "array", "function"],
};

/** Draws a concrete value of a kind. */
function draw(kind: Kind, rnd: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  switch (kind) {
    case "string":
      return pick(["1", "", "abc", "100ms", "Infinity"]);
    case "boolean":
      return pick([true, false]);
    case "number":
      return pick([0, 1, 42]);
    case "object":
      return pick<object>([{}, { valueOf: () => 5 }, { x: 1 }]);
    case "array":
      return pick([[], [1], ["a", 2]]);
    case "function":
      return pick([() => 1, function named() {}]);
    case "NaN":
      return NaN;
    case "Infinity":
      return Infinity;
    case "-Infinity":
      return -Infinity;
    case "negative":
      return pick([-1, -0.5, -1e9, -Number.MIN_VALUE]);
    case "huge":
      return pick([1e12, 2 ** 53, 1e300]);
  }
}

interface OptionSpec {
  /** Dotted path inside the options object. */
  path: string;
  type: OptionType;
  /** Kinds that are valid for this option (documented), left out. */
  valid?: readonly Kind[];
  /** The rule has no upper bound (e.g. "a number > 0"), so a huge value is valid. */
  unbounded?: boolean;
}

interface Target {
  name: string;
  /** A fresh valid option set. */
  base: () => Record<string, unknown>;
  /** Builds with the options; may return a promise (awaited, with `cleanup`). */
  build: (options: Record<string, unknown> | string) => unknown;
  options: readonly OptionSpec[];
  /** Object paths ("" = top level) that get prototype-named keys. */
  objects: readonly string[];
  json?: boolean;
  /** Releases whatever an accepted build made. */
  cleanup?: (built: unknown) => void | Promise<void>;
}

const clock = new VirtualClock();
const noop = () => {};

function policyBase(): Record<string, unknown> {
  return {
    telemetry: false,
    deadlineMs: 1_000,
    attemptTimeoutMs: 500,
    retry: {
      maxAttempts: 3,
      maxUnknownAttempts: 2,
      budgets: { transient: 2 },
      maxRetryAfterMs: 1_000,
      honorRetryAfter: true,
    },
    circuit: { kind: "consecutive", threshold: 5, breakMs: 1_000, halfOpenMaxCalls: 1 },
    bulkhead: { maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 100 },
    failureBudget: { threshold: 0.5, windowMs: 1_000, minSamples: 5 },
  };
}

const POLICY_OPTIONS: readonly OptionSpec[] = [
  { path: "deadlineMs", type: "number", unbounded: true },
  { path: "attemptTimeoutMs", type: "number", unbounded: true },
  { path: "retry", type: "object" },
  { path: "retry.maxAttempts", type: "integer", unbounded: true },
  { path: "retry.maxUnknownAttempts", type: "integer", unbounded: true },
  { path: "retry.budgets", type: "object" },
  { path: "retry.budgets.transient", type: "integer", unbounded: true },
  { path: "retry.maxRetryAfterMs", type: "number", unbounded: true },
  { path: "retry.honorRetryAfter", type: "boolean" },
  { path: "circuit", type: "object" },
  { path: "circuit.threshold", type: "integer", unbounded: true },
  { path: "circuit.breakMs", type: "number", unbounded: true, valid: ["function"] },
  { path: "circuit.halfOpenMaxCalls", type: "integer", unbounded: true },
  { path: "bulkhead", type: "object" },
  { path: "bulkhead.maxConcurrent", type: "integer" },
  { path: "bulkhead.maxQueue", type: "integer" },
  { path: "bulkhead.queueTimeoutMs", type: "number", unbounded: true },
  { path: "failureBudget", type: "object" },
  { path: "failureBudget.threshold", type: "number" },
  { path: "failureBudget.windowMs", type: "number", unbounded: true },
  { path: "failureBudget.minSamples", type: "integer", unbounded: true },
];

const TARGETS: readonly Target[] = [
  {
    name: "policy()",
    base: () => ({ ...policyBase(), clock, onEvent: noop }),
    build: (o) => policy("p", o as never),
    options: [
      ...POLICY_OPTIONS,
      { path: "onEvent", type: "function" },
      { path: "clock", type: "object" },
      { path: "telemetry", type: "boolean" },
    ],
    objects: ["", "retry", "retry.budgets", "circuit", "bulkhead", "failureBudget"],
  },
  {
    name: "retry()",
    base: () => ({ maxAttempts: 3, budgets: { transient: 2 }, deadlineMs: 1_000, clock }),
    build: (o) => retry(() => 1, o as never),
    options: [
      { path: "maxAttempts", type: "integer", unbounded: true },
      { path: "maxUnknownAttempts", type: "integer", unbounded: true },
      { path: "budgets", type: "object" },
      { path: "budgets.transient", type: "integer", unbounded: true },
      { path: "maxRetryAfterMs", type: "number", unbounded: true },
      { path: "honorRetryAfter", type: "boolean" },
      { path: "deadlineMs", type: "number", unbounded: true },
      { path: "attemptTimeoutMs", type: "number", unbounded: true },
    ],
    objects: ["", "budgets"],
  },
  ...(["consecutive", "count", "time"] as const).map((kind): Target => {
    const detector: Record<string, Record<string, unknown>> = {
      consecutive: { threshold: 5 },
      count: { size: 10, threshold: 0.5, minCalls: 5 },
      time: { windowMs: 1_000, buckets: 10, threshold: 0.5, minThroughput: 5 },
    };
    const detectorOptions: Record<string, OptionSpec[]> = {
      consecutive: [{ path: "threshold", type: "integer", unbounded: true }],
      count: [
        { path: "size", type: "integer" },
        { path: "threshold", type: "number" },
        { path: "minCalls", type: "integer" },
      ],
      time: [
        { path: "windowMs", type: "number", unbounded: true },
        { path: "buckets", type: "integer" },
        { path: "threshold", type: "number" },
        { path: "minThroughput", type: "integer", unbounded: true },
      ],
    };
    return {
      name: `new CircuitBreaker(${kind})`,
      base: () => ({
        kind,
        name: "cb",
        breakMs: 1_000,
        halfOpenMaxCalls: 1,
        slowCallMs: 100,
        slowCallRatio: 0.5,
        clock,
        ...detector[kind],
      }),
      build: (o) => new CircuitBreaker(o as never),
      options: [
        { path: "name", type: "string" },
        { path: "breakMs", type: "number", unbounded: true, valid: ["function"] },
        { path: "halfOpenMaxCalls", type: "integer", unbounded: true },
        { path: "slowCallMs", type: "number", unbounded: true },
        { path: "slowCallRatio", type: "number" },
        { path: "onEvent", type: "function" },
        { path: "clock", type: "object" },
        { path: "random", type: "function" },
        ...detectorOptions[kind],
      ],
      objects: [""],
    };
  }),
  {
    name: "new FailureBudget",
    base: () => ({
      name: "fb",
      threshold: 0.5,
      windowMs: 1_000,
      minSamples: 5,
      buckets: 10,
      clock,
    }),
    build: (o) => new FailureBudget(o as never),
    options: [
      { path: "name", type: "string" },
      { path: "threshold", type: "number" },
      { path: "windowMs", type: "number", unbounded: true },
      { path: "minSamples", type: "integer", unbounded: true },
      { path: "buckets", type: "integer" },
      { path: "onBreach", type: "function" },
      { path: "action", type: "string" },
      { path: "onEvent", type: "function" },
      { path: "clock", type: "object" },
    ],
    objects: [""],
  },
  {
    name: "new RetryBudget",
    base: () => ({ name: "rb", ratio: 0.2, minPerSecond: 1, windowMs: 1_000, buckets: 10, clock }),
    build: (o) => new RetryBudget(o as never),
    options: [
      { path: "name", type: "string" },
      { path: "ratio", type: "number", unbounded: true },
      { path: "minPerSecond", type: "number", unbounded: true },
      { path: "windowMs", type: "number", unbounded: true },
      { path: "buckets", type: "integer" },
      { path: "onEvent", type: "function" },
      { path: "clock", type: "object" },
    ],
    objects: [""],
  },
  {
    name: "new Bulkhead",
    base: () => ({ name: "bh", maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 100, clock }),
    build: (o) => new Bulkhead(o as never),
    options: [
      { path: "name", type: "string" },
      { path: "maxConcurrent", type: "integer" },
      { path: "maxQueue", type: "integer" },
      { path: "queueTimeoutMs", type: "number", unbounded: true },
      { path: "onEvent", type: "function" },
      { path: "clock", type: "object" },
    ],
    objects: [""],
  },
  {
    name: "createClient",
    base: () => ({
      name: "c",
      baseUrl: "http://127.0.0.1:1",
      timeoutMs: 1_000,
      pool: { maxConnections: 2, connectionTimeoutMs: 100, idleTimeoutMs: 1_000, maxQueue: 2 },
      retryNonIdempotent: false,
      maxBufferedBodyBytes: 1_024,
      fetch: () => Promise.resolve(new Response("x")),
      clock,
    }),
    build: (o) => createClient(o as never),
    options: [
      { path: "name", type: "string" },
      { path: "baseUrl", type: "string" },
      { path: "policy", type: "object" },
      { path: "timeoutMs", type: "number", unbounded: true },
      { path: "pool", type: "object" },
      { path: "pool.maxConnections", type: "integer" },
      { path: "pool.connectionTimeoutMs", type: "number", unbounded: true },
      { path: "pool.idleTimeoutMs", type: "number", unbounded: true },
      { path: "pool.maxQueue", type: "integer" },
      { path: "retryNonIdempotent", type: "boolean" },
      { path: "maxBufferedBodyBytes", type: "integer", unbounded: true },
      { path: "fetch", type: "function" },
      { path: "clock", type: "object" },
    ],
    objects: ["", "pool"],
  },
  {
    name: "faultInjection",
    base: () => ({
      name: "fi",
      latencyMs: 1,
      jitterMs: 1,
      enabled: true,
      injectionRate: 0.5,
      errorRate: 0.5,
      random: seededRandom(1),
      clock,
    }),
    build: (o) => faultInjection(() => 1, o as never),
    options: [
      { path: "name", type: "string" },
      { path: "latencyMs", type: "number", unbounded: true },
      { path: "jitterMs", type: "number", unbounded: true },
      { path: "enabled", type: "boolean", valid: ["function"] },
      { path: "injectionRate", type: "number" },
      { path: "errorRate", type: "number" },
      { path: "error", type: "function" },
      { path: "random", type: "function" },
      { path: "clock", type: "object" },
      { path: "onEvent", type: "function" },
    ],
    objects: [""],
  },
  {
    name: "networkConditioner",
    base: () => ({
      name: "nc",
      latencyMs: 1,
      jitterMs: 1,
      enabled: true,
      lossRate: 0.1,
      errorRate: 0.1,
      errorStatus: 503,
      random: seededRandom(1),
      clock,
      fetch: () => Promise.resolve(new Response("x")),
    }),
    build: (o) => networkConditioner(o as never),
    options: [
      { path: "name", type: "string" },
      { path: "latencyMs", type: "number", unbounded: true },
      { path: "jitterMs", type: "number", unbounded: true },
      { path: "enabled", type: "boolean", valid: ["function"] },
      { path: "lossRate", type: "number" },
      { path: "errorRate", type: "number" },
      { path: "errorStatus", type: "integer" },
      { path: "urlFilter", type: "function", valid: ["string"] },
      { path: "fetch", type: "function" },
      { path: "random", type: "function" },
      { path: "clock", type: "object" },
      { path: "onEvent", type: "function" },
    ],
    objects: [""],
  },
  {
    name: "withWatchdog",
    base: () => ({ name: "wd", timeoutMs: 100, clock }),
    build: (o) => withWatchdog(() => 1, o as never),
    options: [
      { path: "name", type: "string" },
      { path: "timeoutMs", type: "number", unbounded: true },
      { path: "onTimeout", type: "function" },
      { path: "signal", type: "object" },
      { path: "clock", type: "object" },
      { path: "onEvent", type: "function" },
    ],
    objects: [""],
  },
  {
    name: "new ProcessSupervisor",
    base: () => ({ killSignal: "SIGTERM", killGraceMs: 100, clock }),
    build: (o) => new ProcessSupervisor(o as never),
    cleanup: (s) => (s as ProcessSupervisor).close(),
    options: [
      { path: "killSignal", type: "string" },
      { path: "killGraceMs", type: "number", unbounded: true },
      { path: "clock", type: "object" },
    ],
    objects: [""],
  },
  {
    name: "exponential",
    base: () => ({ baseMs: 10, maxMs: 1_000, factor: 2, jitter: 0.1 }),
    build: (o) => exponential(o as never),
    options: [
      { path: "baseMs", type: "number" },
      { path: "maxMs", type: "number", unbounded: true, valid: ["Infinity"] },
      { path: "factor", type: "number", unbounded: true },
      { path: "jitter", type: "number" },
    ],
    objects: [""],
  },
  ...([["fullJitter", fullJitter], ["equalJitter", equalJitter], [
    "decorrelatedJitter",
    decorrelatedJitter,
  ]] as const).map(([name, f]): Target => ({
    name,
    base: () => ({ baseMs: 10, maxMs: 1_000 }),
    build: (o) => f(o as never),
    options: [
      { path: "baseMs", type: "number" },
      { path: "maxMs", type: "number", unbounded: true, valid: ["Infinity"] },
    ],
    objects: [""],
  })),
  {
    name: "constant",
    base: () => ({ ms: 10 }),
    build: (o) => constant((o as { ms: number }).ms),
    options: [{ path: "ms", type: "number", unbounded: true }],
    objects: [],
  },
  {
    name: "tokenBackoff",
    base: () => ({ ratePerSecond: 10, burst: 5 }),
    build: (o) => tokenBackoff(o as never),
    options: [{ path: "ratePerSecond", type: "number", unbounded: true }, {
      path: "burst",
      type: "integer",
      unbounded: true,
    }],
    objects: [""],
  },
  {
    name: "new LatencyHistogram",
    base: () => ({ relativeError: 0.01, minValue: 1, maxValue: 60_000 }),
    build: (o) => new LatencyHistogram(o as never),
    options: [
      { path: "relativeError", type: "number" },
      { path: "minValue", type: "number" },
      { path: "maxValue", type: "number", unbounded: true },
    ],
    objects: [""],
  },
  {
    name: "policyFromJSON",
    json: true,
    base: policyBase,
    build: (o) => policyFromJSON("j", o, { clock }),
    options: POLICY_OPTIONS,
    objects: ["", "retry", "retry.budgets", "circuit", "bulkhead", "failureBudget"],
  },
];

function getParent(root: Record<string, unknown>, path: string): [Record<string, unknown>, string] {
  const parts = path.split(".");
  let node = root;
  for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
  return [node, parts[parts.length - 1]];
}

function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const [parent, key] = getParent(root, path);
  parent[key] = value;
}

function objectAt(root: Record<string, unknown>, path: string): Record<string, unknown> {
  if (path === "") return root;
  const [parent, key] = getParent(root, path);
  if (parent[key] === undefined) parent[key] = {};
  return parent[key] as Record<string, unknown>;
}

interface Case {
  target: Target;
  /** The option path the error must name. */
  path: string;
  label: string;
  options: Record<string, unknown>;
  /** For policyFromJSON: pass the JSON text instead of the object. */
  asText?: string;
}

const PROTO_KEYS = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"];

function jsonable(value: unknown): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value === "function" || value === undefined) return false;
  if (typeof value === "object" && value !== null) {
    return Object.values(value).every(jsonable);
  }
  return true;
}

/** The cases of one target: every (option, wrong kind) ROUNDS times, plus prototype keys. */
function generate(target: Target, rnd: () => number): Case[] {
  const cases: Case[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const spec of target.options) {
      const skip = new Set<Kind>([
        ...(spec.valid ?? []),
        ...(spec.unbounded ? ["huge" as const] : []),
      ]);
      for (const kind of WRONG[spec.type]) {
        if (skip.has(kind)) continue;
        const value = draw(kind, rnd);
        const options = target.base();
        setPath(options, spec.path, value);
        const c: Case = {
          target,
          path: spec.path,
          label: `${spec.path} = ${kind}`,
          options,
        };
        if (target.json && jsonable(options) && rnd() < 0.5) c.asText = JSON.stringify(options);
        cases.push(c);
      }
    }
    for (const at of target.objects) {
      for (const key of PROTO_KEYS) {
        const options = target.base();
        const value = draw(rnd() < 0.5 ? "number" : "object", rnd);
        const path = at === "" ? key : `${at}.${key}`;
        const c: Case = { target, path, label: `${path} (prototype-named key)`, options };
        if (target.json && rnd() < 0.5) {
          // JSON.parse makes `__proto__` an own property.
          const text = JSON.stringify(options);
          const parsed = JSON.parse(text);
          const obj = objectAt(parsed, at);
          Object.defineProperty(obj, key, {
            value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
          c.asText = JSON.stringify(parsed);
          c.options = parsed;
        } else {
          Object.defineProperty(objectAt(options, at), key, {
            value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        cases.push(c);
      }
    }
  }
  return cases;
}

interface Result {
  ok: boolean;
  error?: unknown;
  elapsedMs: number;
}

async function run(c: Case): Promise<Result> {
  const start = performance.now();
  let built: unknown;
  try {
    built = c.target.build(c.asText ?? c.options);
    if (built instanceof Promise) built = await built;
  } catch (error) {
    return { ok: false, error, elapsedMs: performance.now() - start };
  }
  const elapsedMs = performance.now() - start;
  await c.target.cleanup?.(built);
  return { ok: true, elapsedMs };
}

function describe(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "number") return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function check(c: Case, r: Result): string | undefined {
  const where = `${c.target.name} ${c.label}: ${
    describe(getParent(c.options, c.path)[0][getParent(c.options, c.path)[1]])
  }`;
  if (r.elapsedMs > HANG_BOUND_MS) return `${where}: took ${r.elapsedMs} ms`;
  if (r.ok) return `${where}: accepted`;
  const e = r.error;
  if (c.target.json) {
    if (!(e instanceof PolicyDeclarationError)) return `${where}: threw ${String(e)}`;
    // A strategy declaration (circuit.breakMs: {...}) reports its inner path.
    const named = (i: { path: string; message: string }) =>
      (i.path === c.path || i.path.startsWith(`${c.path}.`)) && i.message.includes(c.path);
    if (!e.issues.some(named)) {
      return `${where}: issues ${JSON.stringify(e.issues)}`;
    }
    return undefined;
  }
  if (!(e instanceof TypeError || e instanceof RangeError)) return `${where}: threw ${String(e)}`;
  if (!e.message.includes(c.path)) return `${where}: message ${JSON.stringify(e.message)}`;
  return undefined;
}

for (const target of TARGETS) {
  Deno.test(`bad options: ${target.name} rejects every generated bad value, naming the option`, async () => {
    const cases = generate(target, seededRandom(SEED));
    const problems: string[] = [];
    for (const c of cases) {
      const p = check(c, await run(c));
      if (p !== undefined) problems.push(p);
    }
    if (Deno.env.get("BULWARK_REPORT_CASES")) console.log(`${target.name}: ${cases.length} cases`);
    if (Deno.env.get("BULWARK_PROBE")) { for (const p of problems) console.log("PROBLEM " + p); }
    assert.deepEqual(problems, [], `${problems.length} of ${cases.length} cases`);
  });
}

/** `null` is never "the default": every option rejects it, naming the option, within 1 s. */
Deno.test("bad options: null is rejected naming the option, within 1 s", async () => {
  const accepted: string[] = [];
  const problems: string[] = [];
  for (const target of TARGETS) {
    for (const spec of target.options) {
      const options = target.base();
      setPath(options, spec.path, null);
      const c: Case = { target, path: spec.path, label: `${spec.path} = null`, options };
      const r = await run(c);
      if (r.ok) accepted.push(`${target.name} ${spec.path}`);
      else {
        const p = check(c, r);
        if (p !== undefined) problems.push(p);
      }
    }
  }
  assert.deepEqual(accepted, []);
  assert.deepEqual(problems, []);
});

import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import {
  POLICY_DECLARATION_SCHEMA,
  PolicyDeclarationError,
  policyFromJSON,
  policyJsonSchema,
} from "../../src/policy/policy_declaration.ts";
import type { PolicyOptions, PolicyRetryOptions } from "../../src/policy/policy.ts";
import type { CircuitBreakerOptions } from "../../src/circuit/circuit_breaker.ts";
import type { FailureBudgetOptions } from "../../src/budget/failure_budget.ts";
import type { BulkheadOptions } from "../../src/bulkhead/bulkhead.ts";
import type { RetryBudgetOptions } from "../../src/budget/retry_budget.ts";
import type { RateLimiterOptions } from "../../src/ratelimit/options.ts";
import { RateLimiter } from "../../src/ratelimit/rate_limiter.ts";
import type { HedgeOptions } from "../../src/engine/hedge_delay.ts";
import type { ObjectNode, TaggedNode } from "../../src/policy/schema_node.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { ERROR_CLASSES } from "../../src/core/error_class.ts";
import { TransientError } from "../../src/classify/markers.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";
import { settleLater } from "../_helpers.ts";

/** [declaration, the JSON path reported, the exact message] */
const INVALID: Array<[unknown, string, string]> = [
  [{ deadlineMs: 0 }, "deadlineMs", "deadlineMs must be a number > 0: received 0"],
  [{ deadlineMs: "2s" }, "deadlineMs", 'deadlineMs must be a number > 0: received "2s"'],
  [
    { attemptTimeoutMs: -1 },
    "attemptTimeoutMs",
    "attemptTimeoutMs must be a number > 0: received -1",
  ],
  [
    { deadline: 5 },
    "deadline",
    "deadline is not a known option (expected one of: deadlineMs, attemptTimeoutMs, retry, circuit, failureBudget, bulkhead, rateLimit, hedge, telemetry)",
  ],
  [{ retry: [] }, "retry", "retry must be an object: received an array"],
  [
    { retry: { maxAttempts: 0 } },
    "retry.maxAttempts",
    "retry.maxAttempts must be an integer >= 1: received 0",
  ],
  [
    { retry: { maxAttempts: 2.5 } },
    "retry.maxAttempts",
    "retry.maxAttempts must be an integer >= 1: received 2.5",
  ],
  [
    { retry: { maxUnknownAttempts: null } },
    "retry.maxUnknownAttempts",
    "retry.maxUnknownAttempts must be an integer >= 1: received null",
  ],
  [
    { retry: { budgets: { transient: -1 } } },
    "retry.budgets.transient",
    "retry.budgets.transient must be an integer >= 0: received -1",
  ],
  [
    { retry: { budgets: { network: 1 } } },
    "retry.budgets.network",
    "retry.budgets.network is not a known key (expected one of: transient, flaky, rate_limit, concurrency, server_error, permanent, unknown)",
  ],
  [
    { retry: { backoff: { type: "exponential", baseMs: -1 } } },
    "retry.backoff.baseMs",
    "retry.backoff.baseMs must be a number >= 0: received -1",
  ],
  [
    { retry: { backoff: { type: "fibonacci" } } },
    "retry.backoff.type",
    'retry.backoff.type must be "constant", "exponential", "fullJitter", "equalJitter", "decorrelatedJitter" or "tokenBackoff": received "fibonacci"',
  ],
  [
    { retry: { backoff: { baseMs: 10 } } },
    "retry.backoff.type",
    'retry.backoff.type must be "constant", "exponential", "fullJitter", "equalJitter", "decorrelatedJitter" or "tokenBackoff": received undefined',
  ],
  [
    { retry: { backoff: { type: "constant" } } },
    "retry.backoff.ms",
    "retry.backoff.ms is required",
  ],
  [
    { retry: { backoff: { type: "exponential", baseMs: 10, jitter: 2 } } },
    "retry.backoff.jitter",
    "retry.backoff.jitter must be a number between 0 and 1: received 2",
  ],
  [
    { retry: { backoff: { type: "decorrelatedJitter", baseMs: 100, maxMs: 50 } } },
    "retry.backoff.maxMs",
    "retry.backoff.maxMs must be a number >= baseMs (100): received 50",
  ],
  [
    { retry: { backoff: { type: "exponential", baseMs: 10, cap: 5 } } },
    "retry.backoff.cap",
    "retry.backoff.cap is not a known option (expected one of: type, baseMs, maxMs, factor, jitter)",
  ],
  [
    {
      retry: {
        backoffByClass: { rate_limit: { type: "tokenBackoff", ratePerSecond: 0, burst: 1 } },
      },
    },
    "retry.backoffByClass.rate_limit.ratePerSecond",
    "retry.backoffByClass.rate_limit.ratePerSecond must be a number > 0: received 0",
  ],
  [
    { retry: { honorRetryAfter: "yes" } },
    "retry.honorRetryAfter",
    'retry.honorRetryAfter must be a boolean: received "yes"',
  ],
  [
    { retry: { retryBudget: { ratio: -0.1 } } },
    "retry.retryBudget.ratio",
    "retry.retryBudget.ratio must be a number >= 0: received -0.1",
  ],
  [
    { circuit: { threshold: 5 } },
    "circuit.kind",
    'circuit.kind must be "consecutive", "count" or "time": received undefined',
  ],
  [
    { circuit: { kind: "consecutive", threshold: 0 } },
    "circuit.threshold",
    "circuit.threshold must be an integer between 1 and 100000: received 0",
  ],
  [
    { circuit: { kind: "count", size: 10, threshold: 1.5 } },
    "circuit.threshold",
    "circuit.threshold must be a number > 0 and <= 1: received 1.5",
  ],
  [
    { circuit: { kind: "count", size: 10, threshold: 0.5, minCalls: 11 } },
    "circuit.minCalls",
    "circuit.minCalls must be an integer between 1 and size (10): received 11",
  ],
  [
    { circuit: { kind: "time", threshold: 0.5 } },
    "circuit.windowMs",
    "circuit.windowMs is required",
  ],
  [
    {
      circuit: { kind: "consecutive", threshold: 3, breakMs: { type: "exponential", baseMs: -5 } },
    },
    "circuit.breakMs.baseMs",
    "circuit.breakMs.baseMs must be a number >= 0: received -5",
  ],
  [
    { circuit: { kind: "consecutive", threshold: 3, breakMs: "30s" } },
    "circuit.breakMs",
    'circuit.breakMs must be a number > 0 or an object with "type": received "30s"',
  ],
  [
    { circuit: { kind: "consecutive", threshold: 3, slowCallMs: 100 } },
    "circuit.slowCallRatio",
    "circuit.slowCallRatio must be set together with slowCallMs: received undefined",
  ],
  [
    { failureBudget: { threshold: 0.05, windowMs: 30_000 } },
    "failureBudget.minSamples",
    "failureBudget.minSamples is required",
  ],
  [
    { failureBudget: { threshold: 0.05, windowMs: 30_000, minSamples: 10, action: "panic" } },
    "failureBudget.action",
    'failureBudget.action must be "observe" or "reject": received "panic"',
  ],
  [
    { bulkhead: { maxConcurrent: 0 } },
    "bulkhead.maxConcurrent",
    "bulkhead.maxConcurrent must be an integer between 1 and 1000000: received 0",
  ],
  [
    { bulkhead: { maxConcurrent: 2, maxQueue: -1 } },
    "bulkhead.maxQueue",
    "bulkhead.maxQueue must be an integer between 0 and 1000000: received -1",
  ],
  [{ rateLimit: null }, "rateLimit", "rateLimit must be an object: received null"],
  [{ rateLimit: {} }, "rateLimit.ratePerSecond", "rateLimit.ratePerSecond is required"],
  [
    { rateLimit: { ratePerSecond: -1 } },
    "rateLimit.ratePerSecond",
    "rateLimit.ratePerSecond must be a number > 0: received -1",
  ],
  [
    { rateLimit: { ratePerSecond: "10/s" } },
    "rateLimit.ratePerSecond",
    'rateLimit.ratePerSecond must be a number > 0: received "10/s"',
  ],
  [
    { rateLimit: { ratePerSecond: 10, burst: 0 } },
    "rateLimit.burst",
    "rateLimit.burst must be an integer between 1 and 1000000: received 0",
  ],
  [
    { rateLimit: { ratePerSecond: 10, burst: 1_000_001 } },
    "rateLimit.burst",
    "rateLimit.burst must be an integer between 1 and 1000000: received 1000001",
  ],
  [
    { rateLimit: { ratePerSecond: 10, maxWaitMs: -5 } },
    "rateLimit.maxWaitMs",
    "rateLimit.maxWaitMs must be a number >= 0: received -5",
  ],
  [
    { rateLimit: { ratePerSecond: 10, name: "" } },
    "rateLimit.name",
    'rateLimit.name must be a non-empty string: received ""',
  ],
  [
    { rateLimit: { ratePerSecond: 10, waitMs: 5 } },
    "rateLimit.waitMs",
    "rateLimit.waitMs is not a known option (expected one of: name, ratePerSecond, burst, maxWaitMs)",
  ],
  [{ hedge: 10 }, "hedge", "hedge must be an object: received 10"],
  [{ hedge: {} }, "hedge.delayMs", "hedge.delayMs is required"],
  [
    { hedge: { delayMs: 10, maxHedges: 0 } },
    "hedge.maxHedges",
    "hedge.maxHedges must be an integer >= 1: received 0",
  ],
  [
    { hedge: { delayMs: 10, maxHedges: 1.5 } },
    "hedge.maxHedges",
    "hedge.maxHedges must be an integer >= 1: received 1.5",
  ],
  [
    { hedge: { delayMs: "p75" } },
    "hedge.delayMs",
    'hedge.delayMs must be "p50", "p90", "p95" or "p99": received "p75"',
  ],
  [{ hedge: { delayMs: -1 } }, "hedge.delayMs", "hedge.delayMs must be a number >= 0: received -1"],
  [
    { hedge: { delayMs: true } },
    "hedge.delayMs",
    'hedge.delayMs must be a number >= 0 or "p50", "p90", "p95" or "p99": received true',
  ],
  [
    { hedge: { delayMs: "p95", minDelayMs: -1 } },
    "hedge.minDelayMs",
    "hedge.minDelayMs must be a number >= 0: received -1",
  ],
  [
    { hedge: { delayMs: 10, after: 5 } },
    "hedge.after",
    "hedge.after is not a known option (expected one of: delayMs, maxHedges, minDelayMs)",
  ],
  [{ telemetry: true }, "telemetry", "telemetry must be false or an object: received true"],
  [
    { telemetry: { spans: "some" } },
    "telemetry.spans",
    'telemetry.spans must be "full", "failures" or "off": received "some"',
  ],
  ["[1, 2", "", "declaration is not valid JSON: "],
  [[], "", "declaration must be an object: received an array"],
];

for (const [declaration, path, message] of INVALID) {
  Deno.test(`policyFromJSON rejects ${JSON.stringify(declaration)} at "${path}"`, () => {
    assert.throws(() => policyFromJSON("p", declaration), (e) => {
      assert.ok(e instanceof PolicyDeclarationError);
      assert.equal(e.issues.length, 1, e.message);
      assert.equal(e.issues[0].path, path);
      if (path === "") assert.ok(e.issues[0].message.startsWith(message), e.issues[0].message);
      else assert.equal(e.issues[0].message, message);
      assert.ok(e.message.includes(e.issues[0].message));
      return true;
    });
  });
}

Deno.test("policyFromJSON reports every invalid field at once, in document order", () => {
  try {
    policyFromJSON("api", {
      deadlineMs: -1,
      retry: { maxAttempts: 0, backoff: { type: "exponential", baseMs: -1 } },
      bulkhead: { maxConcurrent: "ten" },
    });
    assert.fail("should throw");
  } catch (error) {
    assert.ok(error instanceof PolicyDeclarationError);
    assert.deepEqual(error.issues.map((i) => i.path), [
      "deadlineMs",
      "retry.maxAttempts",
      "retry.backoff.baseMs",
      "bulkhead.maxConcurrent",
    ]);
    assert.ok(error.message.startsWith('invalid declaration of policy "api" (4 problems):\n'));
  }
});

Deno.test("policyFromJSON rejects NaN and Infinity passed in an object, with their paths", () => {
  assert.throws(
    () =>
      policyFromJSON("p", {
        rateLimit: { ratePerSecond: NaN, maxWaitMs: Infinity },
        hedge: { delayMs: Infinity, minDelayMs: NaN },
      }),
    (e) => {
      assert.ok(e instanceof PolicyDeclarationError);
      assert.deepEqual(e.issues.map((i) => i.message), [
        "rateLimit.ratePerSecond must be a number > 0: received NaN",
        "rateLimit.maxWaitMs must be a number >= 0: received Infinity",
        "hedge.delayMs must be a number >= 0: received Infinity",
        "hedge.minDelayMs must be a number >= 0: received NaN",
      ]);
      return true;
    },
  );
});

Deno.test("a declaration with rateLimit and hedge limits calls and hedges a slow attempt", async () => {
  const clock = new VirtualClock();
  const p = policyFromJSON("hedged", {
    deadlineMs: 1_000,
    rateLimit: { name: "api-limit", ratePerSecond: 5, burst: 2, maxWaitMs: 250 },
    hedge: { delayMs: 10, maxHedges: 1, minDelayMs: 0 },
    telemetry: false,
  }, { clock });
  const limiter = p.rateLimiter;
  assert.ok(limiter instanceof RateLimiter);
  assert.deepEqual(
    [limiter.name, limiter.ratePerSecond, limiter.burst, limiter.maxWaitMs],
    ["api-limit", 5, 2, 250],
  );
  // Every attempt takes 100 ms: the hedge starts beside the first at 10 ms, the first wins.
  const starts: Array<[attempt: number, at: number]> = [];
  const slow = ({ attempt, signal }: { attempt: number; signal: AbortSignal }) => {
    starts.push([attempt, clock.now()]);
    return clock.sleep(100, signal).then(() => attempt);
  };
  const first = settleLater(p.execute(slow));
  await clock.runAll();
  assert.deepEqual(await first, { ok: true, value: 1 });
  assert.deepEqual(starts, [[1, 0], [2, 10]]);
  assert.equal(clock.now(), 100);
  // One token per call, hedges take none: 2 - 1 + 100 ms * 5/s = 1.5 tokens.
  assert.equal(limiter.available, 1);
  // The next call takes a token at once (0.5 left); the one after waits 100 ms for the rest.
  starts.length = 0;
  const calls = [settleLater(p.execute(slow)), settleLater(p.execute(slow))];
  await clock.runAll();
  assert.deepEqual(await Promise.all(calls), [{ ok: true, value: 1 }, { ok: true, value: 1 }]);
  assert.deepEqual(starts, [[1, 100], [2, 110], [1, 200], [2, 210]]);
});

Deno.test("rateLimit.burst accepts the limiter's largest bucket", () => {
  const p = policyFromJSON("p", { rateLimit: { ratePerSecond: 1, burst: 1_000_000 } });
  assert.equal(p.rateLimiter?.burst, 1_000_000);
});

Deno.test("a valid declaration builds a working policy (retries, circuit, deadline)", async () => {
  const clock = new VirtualClock();
  const json = JSON.stringify({
    deadlineMs: 10_000,
    attemptTimeoutMs: 1_000,
    retry: {
      maxAttempts: 3,
      budgets: { transient: 2, permanent: 0 },
      backoff: { type: "constant", ms: 100 },
      backoffByClass: { rate_limit: { type: "tokenBackoff", ratePerSecond: 5, burst: 1 } },
      retryBudget: { ratio: 0.5, minPerSecond: 10 },
    },
    circuit: {
      kind: "consecutive",
      threshold: 3,
      breakMs: { type: "exponential", baseMs: 1_000, maxMs: 60_000 },
    },
    failureBudget: { threshold: 0.5, windowMs: 60_000, minSamples: 10, action: "observe" },
    bulkhead: { maxConcurrent: 4, maxQueue: 10, queueTimeoutMs: 500 },
    telemetry: { spans: "failures" },
  });
  const p = policyFromJSON("declared", json, { clock });
  let n = 0;
  const ok = settleLater(
    p.execute(() => (++n < 3 ? Promise.reject(new TransientError("t")) : "ok")),
  );
  await clock.runAll();
  assert.deepEqual(await ok, { ok: true, value: "ok" });
  assert.equal(clock.now(), 200);
  assert.equal(p.circuit?.state, "closed");
  // Three failed attempts open the breaker; the next call is rejected without running.
  const failing = settleLater(p.execute(() => Promise.reject(new TransientError("t"))));
  await clock.runAll();
  assert.equal((await failing).ok, false);
  assert.equal(p.circuit?.state, "open");
  let called = false;
  await assert.rejects(p.execute(() => (called = true)), CircuitOpenError);
  assert.equal(called, false);
  assert.equal(p.bulkhead?.maxConcurrent, 4);
  assert.equal(p.retryBudget?.ratio, 0.5);
});

Deno.test("the shipped JSON Schema is the generated one", async () => {
  const shipped = JSON.parse(
    await Deno.readTextFile(new URL("../../schema/policy.schema.json", import.meta.url)),
  );
  assert.deepEqual(shipped, policyJsonSchema(), "run `deno task schema` to regenerate it");
});

Deno.test("the JSON Schema agrees with policyFromJSON on every test declaration", () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(policyJsonSchema());
  const valid = [
    {},
    { deadlineMs: 100, retry: { backoff: { type: "fullJitter", baseMs: 1, maxMs: 10 } } },
    { circuit: { kind: "time", windowMs: 1_000, threshold: 0.5, minThroughput: 5 } },
    { telemetry: false },
    {
      rateLimit: { name: "api", ratePerSecond: 0.5, burst: 3, maxWaitMs: 0 },
      hedge: { delayMs: "p95", maxHedges: 2, minDelayMs: 5 },
    },
    { hedge: { delayMs: 0 } },
  ];
  for (const declaration of valid) {
    assert.equal(validate(declaration), true, JSON.stringify(validate.errors));
    assert.ok(policyFromJSON("p", declaration));
  }
  for (const [declaration, path] of INVALID) {
    if (typeof declaration === "string") continue;
    const crossField = ["retry.backoff.maxMs", "circuit.minCalls", "circuit.slowCallRatio"];
    if (crossField.includes(path)) continue; // rules across fields are beyond JSON Schema
    assert.equal(validate(declaration), false, `schema accepted ${JSON.stringify(declaration)}`);
  }
});

Deno.test("the shipped JSON Schema checks rateLimit and hedge with ajv", async () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(
    JSON.parse(
      await Deno.readTextFile(new URL("../../schema/policy.schema.json", import.meta.url)),
    ),
  );
  const good = {
    rateLimit: { name: "api", ratePerSecond: 10, burst: 20, maxWaitMs: 100 },
    hedge: { delayMs: "p99", maxHedges: 2, minDelayMs: 1 },
  };
  assert.equal(validate(good), true, JSON.stringify(validate.errors));
  const bad = {
    rateLimit: { ratePerSecond: 0, burst: 2.5, waitMs: 1 },
    hedge: { delayMs: "p75", maxHedges: 0 },
  };
  assert.equal(validate(bad), false);
  const paths = new Set(
    validate.errors!.map((e) =>
      e.keyword === "additionalProperties"
        ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`
        : e.instancePath
    ),
  );
  assert.deepEqual([...paths].sort(), [
    "/hedge/delayMs",
    "/hedge/maxHedges",
    "/rateLimit/burst",
    "/rateLimit/ratePerSecond",
    "/rateLimit/waitMs",
  ]);
});

// The schema must cover exactly the JSON-expressible options of the TypeScript types.
// Each record below fails to type-check when an option is added to (or removed from)
// the TypeScript options without updating it, and the assertions then demand the schema
// follows.
type Keys<T, Skip extends string> = Exclude<keyof T, Skip> & string;
const POLICY_KEYS: Record<
  Keys<PolicyOptions, "classify" | "onEvent" | "clock" | "random" | "fleet">,
  true
> = {
  deadlineMs: true,
  attemptTimeoutMs: true,
  retry: true,
  circuit: true,
  failureBudget: true,
  bulkhead: true,
  rateLimit: true,
  hedge: true,
  telemetry: true,
};
const RETRY_KEYS: Record<keyof PolicyRetryOptions, true> = {
  maxAttempts: true,
  maxUnknownAttempts: true,
  budgets: true,
  backoff: true,
  backoffByClass: true,
  honorRetryAfter: true,
  maxRetryAfterMs: true,
  retryBudget: true,
};
type CircuitVariant<K> = Extract<CircuitBreakerOptions, { kind: K }>;
type CircuitSkip = "kind" | "onEvent" | "clock" | "random" | "initialState" | "fleet";
const CIRCUIT_KEYS = {
  consecutive: {
    name: true,
    breakMs: true,
    halfOpenMaxCalls: true,
    slowCallMs: true,
    slowCallRatio: true,
    threshold: true,
  } satisfies Record<Keys<CircuitVariant<"consecutive">, CircuitSkip>, true>,
  count: {
    name: true,
    breakMs: true,
    halfOpenMaxCalls: true,
    slowCallMs: true,
    slowCallRatio: true,
    size: true,
    threshold: true,
    minCalls: true,
  } satisfies Record<Keys<CircuitVariant<"count">, CircuitSkip>, true>,
  time: {
    name: true,
    breakMs: true,
    halfOpenMaxCalls: true,
    slowCallMs: true,
    slowCallRatio: true,
    windowMs: true,
    buckets: true,
    threshold: true,
    minThroughput: true,
  } satisfies Record<Keys<CircuitVariant<"time">, CircuitSkip>, true>,
};
const FAILURE_BUDGET_KEYS: Record<
  Keys<FailureBudgetOptions, "onBreach" | "onEvent" | "clock" | "fleet">,
  true
> = { name: true, threshold: true, windowMs: true, minSamples: true, buckets: true, action: true };
const BULKHEAD_KEYS: Record<Keys<BulkheadOptions, "onEvent" | "clock">, true> = {
  name: true,
  maxConcurrent: true,
  maxQueue: true,
  queueTimeoutMs: true,
};
const RETRY_BUDGET_KEYS: Record<Keys<RetryBudgetOptions, "clock" | "onEvent" | "fleet">, true> = {
  name: true,
  ratio: true,
  minPerSecond: true,
  windowMs: true,
  buckets: true,
};

const RATE_LIMIT_KEYS: Record<Keys<RateLimiterOptions, "clock" | "onEvent">, true> = {
  name: true,
  ratePerSecond: true,
  burst: true,
  maxWaitMs: true,
};
const HEDGE_KEYS: Record<keyof HedgeOptions, true> = {
  delayMs: true,
  maxHedges: true,
  minDelayMs: true,
};

const sorted = (o: object) => Object.keys(o).sort();

Deno.test("the declaration schema covers exactly the TypeScript options", () => {
  const root = POLICY_DECLARATION_SCHEMA;
  const prop = (node: ObjectNode, key: string) => node.properties[key] as ObjectNode;
  assert.deepEqual(sorted(root.properties), sorted(POLICY_KEYS));
  const retry = prop(root, "retry");
  assert.deepEqual(sorted(retry.properties), sorted(RETRY_KEYS));
  assert.deepEqual(sorted(prop(retry, "retryBudget").properties), sorted(RETRY_BUDGET_KEYS));
  const circuit = root.properties.circuit as TaggedNode;
  for (const [kind, keys] of Object.entries(CIRCUIT_KEYS)) {
    assert.deepEqual(sorted(circuit.variants[kind].properties), sorted(keys), kind);
  }
  assert.deepEqual(sorted(prop(root, "failureBudget").properties), sorted(FAILURE_BUDGET_KEYS));
  assert.deepEqual(sorted(prop(root, "bulkhead").properties), sorted(BULKHEAD_KEYS));
  assert.deepEqual(sorted(prop(root, "rateLimit").properties), sorted(RATE_LIMIT_KEYS));
  assert.deepEqual(sorted(prop(root, "hedge").properties), sorted(HEDGE_KEYS));
});

/** Names that `{}` inherits from `Object.prototype` (plus `__proto__`). */
const PROTOTYPE_NAMES = ["constructor", "toString", "hasOwnProperty", "valueOf", "__proto__"];

/** Asserts that `policyFromJSON` rejects `json` with one issue at `path`, with exactly `message`. */
function rejectsAt(json: string, path: string, message: string): void {
  assert.throws(() => policyFromJSON("p", json), (e) => {
    assert.ok(e instanceof PolicyDeclarationError, String(e));
    assert.deepEqual(e.issues, [{ path, message }]);
    return true;
  });
}

for (const key of PROTOTYPE_NAMES) {
  Deno.test(`policyFromJSON reports a key named ${key} like any unknown key, with its path`, () => {
    const root = Object.keys(POLICY_DECLARATION_SCHEMA.properties).join(", ");
    rejectsAt(
      `{ "${key}": {} }`,
      key,
      `${key} is not a known option (expected one of: ${root})`,
    );
    const retry = Object.keys(
      (POLICY_DECLARATION_SCHEMA.properties.retry as ObjectNode).properties,
    ).join(", ");
    rejectsAt(
      `{ "retry": { "${key}": {} } }`,
      `retry.${key}`,
      `retry.${key} is not a known option (expected one of: ${retry})`,
    );
    const circuit = POLICY_DECLARATION_SCHEMA.properties.circuit as TaggedNode;
    const count = ["kind", ...Object.keys(circuit.variants.count.properties)].join(", ");
    rejectsAt(
      `{ "circuit": { "kind": "count", "size": 10, "threshold": 0.5, "${key}": {} } }`,
      `circuit.${key}`,
      `circuit.${key} is not a known option (expected one of: ${count})`,
    );
    rejectsAt(
      `{ "retry": { "backoff": { "type": "constant", "ms": 1, "${key}": 2 } } }`,
      `retry.backoff.${key}`,
      `retry.backoff.${key} is not a known option (expected one of: type, ms)`,
    );
    rejectsAt(
      `{ "rateLimit": { "ratePerSecond": 1, "${key}": 2 } }`,
      `rateLimit.${key}`,
      `rateLimit.${key} is not a known option (expected one of: name, ratePerSecond, burst, maxWaitMs)`,
    );
    rejectsAt(
      `{ "hedge": { "delayMs": 1, "${key}": 2 } }`,
      `hedge.${key}`,
      `hedge.${key} is not a known option (expected one of: delayMs, maxHedges, minDelayMs)`,
    );
    const classes = ERROR_CLASSES.join(", ");
    rejectsAt(
      `{ "retry": { "budgets": { "${key}": 2 } } }`,
      `retry.budgets.${key}`,
      `retry.budgets.${key} is not a known key (expected one of: ${classes})`,
    );
    rejectsAt(
      `{ "retry": { "backoffByClass": { "${key}": { "type": "constant", "ms": 1 } } } }`,
      `retry.backoffByClass.${key}`,
      `retry.backoffByClass.${key} is not a known key (expected one of: ${classes})`,
    );
  });

  Deno.test(`policyFromJSON reports a type or kind named ${key} with its path`, () => {
    rejectsAt(
      `{ "circuit": { "kind": "${key}", "threshold": 1 } }`,
      "circuit.kind",
      `circuit.kind must be "consecutive", "count" or "time": received "${key}"`,
    );
    rejectsAt(
      `{ "hedge": { "delayMs": "${key}" } }`,
      "hedge.delayMs",
      `hedge.delayMs must be "p50", "p90", "p95" or "p99": received "${key}"`,
    );
    const types =
      '"constant", "exponential", "fullJitter", "equalJitter", "decorrelatedJitter" or "tokenBackoff"';
    rejectsAt(
      `{ "retry": { "backoff": { "type": "${key}", "ms": 1 } } }`,
      "retry.backoff.type",
      `retry.backoff.type must be ${types}: received "${key}"`,
    );
    rejectsAt(
      `{ "circuit": { "kind": "consecutive", "threshold": 1, "breakMs": { "type": "${key}" } } }`,
      "circuit.breakMs.type",
      `circuit.breakMs.type must be ${types}: received "${key}"`,
    );
  });
}

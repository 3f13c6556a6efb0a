/**
 * `policyFromJSON`: policies declared as JSON (a config file, an env var),
 * validated field by field with every problem reported at its JSON path.
 *
 * @module
 */

import { ERROR_CLASSES, type ErrorClass } from "../core/error_class.ts";
import type { BackoffStrategy } from "../backoff/strategy.ts";
import { constant } from "../backoff/constant.ts";
import { exponential } from "../backoff/exponential.ts";
import { fullJitter } from "../backoff/full_jitter.ts";
import { equalJitter } from "../backoff/equal_jitter.ts";
import { decorrelatedJitter } from "../backoff/decorrelated_jitter.ts";
import { tokenBackoff } from "../backoff/token_backoff.ts";
import { MAX_BUCKETS } from "../core/rolling_window.ts";
import { MAX_COUNT_SIZE } from "../circuit/count_detector.ts";
import { MAX_CONSECUTIVE_THRESHOLD } from "../circuit/consecutive_detector.ts";
import { MAX_BULKHEAD_SIZE } from "../bulkhead/bulkhead.ts";
import { SPAN_MODES } from "../telemetry/telemetry_options.ts";
import { HEDGE_MIN_SAMPLES, HEDGE_PERCENTILES } from "../engine/hedge_delay.ts";
import { Policy, type PolicyOptions } from "./policy.ts";
import {
  type DeclarationIssue,
  int,
  ms,
  msAtLeast0,
  type ObjectNode,
  ratio,
  type SchemaNode,
  type TaggedNode,
  toJsonSchema,
  validateNode,
} from "./schema_node.ts";

const name: SchemaNode = {
  kind: "string",
  description: "Name used in events, errors and telemetry.",
};

/** Backoff declarations, discriminated by `type` (the factory's name). */
const BACKOFF: TaggedNode = {
  kind: "tagged",
  tag: "type",
  description: "A backoff strategy; `type` names the factory, the other fields are its options.",
  variants: {
    constant: {
      kind: "object",
      description: "The same delay every time.",
      properties: { ms: msAtLeast0("The delay") },
      required: ["ms"],
    },
    exponential: {
      kind: "object",
      description: "min(baseMs * factor^(attempt-1), maxMs) plus up to jitter * delay.",
      properties: {
        baseMs: msAtLeast0("First delay"),
        maxMs: msAtLeast0("Cap"),
        factor: { kind: "number", min: 1, description: "Growth per attempt. Default 2." },
        jitter: ratio("Extra random share of the delay, 0..1. Default 0."),
      },
      required: ["baseMs"],
    },
    fullJitter: {
      kind: "object",
      description: "random(0, min(maxMs, baseMs * 2^(attempt-1))).",
      properties: { baseMs: msAtLeast0("Base"), maxMs: msAtLeast0("Cap") },
      required: ["baseMs"],
    },
    equalJitter: {
      kind: "object",
      description: "t/2 + random(0, t/2) with t = min(maxMs, baseMs * 2^(attempt-1)).",
      properties: { baseMs: msAtLeast0("Base"), maxMs: msAtLeast0("Cap") },
      required: ["baseMs"],
    },
    decorrelatedJitter: {
      kind: "object",
      description: "min(maxMs, random(baseMs, previous * 3)).",
      properties: { baseMs: ms("Base, > 0"), maxMs: msAtLeast0("Cap") },
      required: ["baseMs"],
    },
    tokenBackoff: {
      kind: "object",
      description: "A token bucket: 0 while a token is available, else the wait for the next.",
      properties: {
        ratePerSecond: { kind: "number", above: 0, description: "Tokens per second." },
        burst: int(1, "Bucket size."),
      },
      required: ["ratePerSecond", "burst"],
    },
  },
};

const CIRCUIT_COMMON: Record<string, SchemaNode> = {
  name,
  breakMs: {
    kind: "either",
    description:
      "How long the circuit stays open: milliseconds, or a backoff growing with repeated opens.",
    options: [ms("Open duration"), BACKOFF],
  },
  halfOpenMaxCalls: int(1, "Concurrent probes admitted in half_open. Default 1."),
  slowCallMs: msAtLeast0("A success slower than this counts as slow"),
  slowCallRatio: { kind: "number", above: 0, max: 1, description: "Slow share that opens." },
};
const MAX_BURST = 1_000_000; // RateLimiter's largest burst (src/ratelimit/options.ts)
const failureRatio: SchemaNode = {
  kind: "number",
  above: 0,
  max: 1,
  description: "Failure ratio that opens the circuit (>=).",
};

/** The schema of a policy declaration. */
export const POLICY_DECLARATION_SCHEMA: ObjectNode = {
  kind: "object",
  description: "A Bulwark policy declaration (the options of policy(), as JSON).",
  properties: {
    deadlineMs: ms("One deadline across all attempts and sleeps"),
    attemptTimeoutMs: ms("Timeout of each attempt"),
    retry: {
      kind: "object",
      description: "Retry behaviour. Without it a policy makes one attempt.",
      properties: {
        maxAttempts: int(1, "Attempts in all, including the first. Default 3."),
        maxUnknownAttempts: int(1, "Most attempts that may end in an unknown error."),
        budgets: {
          kind: "map",
          keys: ERROR_CLASSES,
          value: int(0, "Retries allowed after failures of this class."),
          description: "Retries per error class; permanent defaults to 0.",
        },
        backoff: BACKOFF,
        backoffByClass: {
          kind: "map",
          keys: ERROR_CLASSES,
          value: BACKOFF,
          description: "A different backoff for some classes.",
        },
        honorRetryAfter: {
          kind: "boolean",
          description: "Wait what Retry-After asks. Default true.",
        },
        maxRetryAfterMs: msAtLeast0("Longest wait a Retry-After may impose"),
        retryBudget: {
          kind: "object",
          description: "A cap on retries relative to requests.",
          properties: {
            name,
            ratio: { kind: "number", min: 0, description: "Retries allowed per request." },
            minPerSecond: { kind: "number", min: 0, description: "Floor of retries per second." },
            windowMs: ms("Rolling window"),
            buckets: int(1, "Buckets in the window. Default 10.", MAX_BUCKETS),
          },
          required: ["ratio"],
        },
      },
    },
    circuit: {
      kind: "tagged",
      tag: "kind",
      description: "A circuit breaker; `kind` picks the failure detector.",
      variants: {
        consecutive: {
          kind: "object",
          description: "Opens after `threshold` failures in a row.",
          properties: {
            ...CIRCUIT_COMMON,
            threshold: int(1, "Failures in a row.", MAX_CONSECUTIVE_THRESHOLD),
          },
          required: ["threshold"],
        },
        count: {
          kind: "object",
          description:
            "Opens when the failure ratio over the last `size` calls reaches `threshold`.",
          properties: {
            ...CIRCUIT_COMMON,
            size: int(1, "Calls in the window.", MAX_COUNT_SIZE),
            threshold: failureRatio,
            minCalls: int(1, "Calls needed before the ratio counts. Default size."),
          },
          required: ["size", "threshold"],
        },
        time: {
          kind: "object",
          description: "Opens when the failure ratio over `windowMs` reaches `threshold`.",
          properties: {
            ...CIRCUIT_COMMON,
            windowMs: ms("Rolling window"),
            buckets: int(1, "Buckets in the window. Default 10.", MAX_BUCKETS),
            threshold: failureRatio,
            minThroughput: int(1, "Calls needed in the window. Default 100."),
          },
          required: ["windowMs", "threshold"],
        },
      },
    },
    failureBudget: {
      kind: "object",
      description: "A rolling failure-rate budget.",
      properties: {
        name,
        threshold: ratio("Breached when the failure rate is above this."),
        windowMs: ms("Rolling window"),
        minSamples: int(1, "Samples needed before a breach."),
        buckets: int(1, "Buckets in the window. Default 10.", MAX_BUCKETS),
        action: {
          kind: "enum",
          values: ["observe", "reject"],
          description: "observe (default) only reports; reject fails calls fast while breached.",
        },
      },
      required: ["threshold", "windowMs", "minSamples"],
    },
    bulkhead: {
      kind: "object",
      description: "A concurrency limit with a FIFO queue.",
      properties: {
        name,
        maxConcurrent: int(1, "Calls running at once.", MAX_BULKHEAD_SIZE),
        maxQueue: int(0, "Calls waiting. Default 0.", MAX_BULKHEAD_SIZE),
        queueTimeoutMs: ms("Longest wait in the queue"),
      },
      required: ["maxConcurrent"],
    },
    rateLimit: {
      kind: "object",
      description: "A token bucket taken once per call, before the bulkhead.",
      properties: {
        name,
        ratePerSecond: { kind: "number", above: 0, description: "Tokens added per second." },
        burst: int(1, "Bucket size (it starts full). Default floor(ratePerSecond).", MAX_BURST),
        maxWaitMs: msAtLeast0("Longest wait for a token"),
      },
      required: ["ratePerSecond"],
    },
    hedge: {
      kind: "object",
      description: "Hedging: when an attempt runs longer than delayMs, another starts beside it.",
      properties: {
        delayMs: {
          kind: "either",
          description:
            `Fixed, or a percentile of recent successes (none before ${HEDGE_MIN_SAMPLES}).`,
          options: [
            msAtLeast0("Fixed delay"),
            { kind: "enum", values: Object.keys(HEDGE_PERCENTILES), description: "A percentile." },
          ],
        },
        maxHedges: int(1, "Most extra attempts in flight beside the first. Default 1."),
        minDelayMs: msAtLeast0("Floor of a percentile delay"),
      },
      required: ["delayMs"],
    },
    telemetry: {
      kind: "either",
      description: "OpenTelemetry settings, or false to turn telemetry off.",
      options: [
        { kind: "false", description: "Telemetry off." },
        {
          kind: "object",
          description: "Telemetry settings.",
          properties: {
            spans: { kind: "enum", values: SPAN_MODES, description: "Which calls get spans." },
          },
        },
      ],
    },
  },
};

/**
 * The JSON Schema (draft 2020-12) of a policy declaration, as shipped in
 * `schema/policy.schema.json`, for editors and for validating config files.
 *
 * @example
 * ```ts
 * import { policyJsonSchema } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const schema = policyJsonSchema();
 * assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
 * assert.ok("retry" in (schema.properties as Record<string, unknown>));
 * ```
 */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://jsr.io/@bulwark/bulwark/schema/policy.schema.json",
    title: "Bulwark policy declaration",
    ...toJsonSchema(POLICY_DECLARATION_SCHEMA),
  };
}

/**
 * A policy declaration was invalid. `issues` lists every problem, each with
 * its JSON path; `message` lists them all, one per line.
 *
 * @example
 * ```ts
 * import { PolicyDeclarationError, policyFromJSON } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => policyFromJSON("api", { retry: { maxAttempts: 0, backoff: { type: "exponential", baseMs: -1 } } }),
 *   (e) =>
 *     e instanceof PolicyDeclarationError &&
 *     e.issues.map((i) => i.path).join() === "retry.maxAttempts,retry.backoff.baseMs",
 * );
 * ```
 */
export class PolicyDeclarationError extends TypeError {
  /** Every problem found, in document order. */
  readonly issues: readonly DeclarationIssue[];

  /** Creates the error from its issues. */
  constructor(policy: string, issues: readonly DeclarationIssue[]) {
    super(
      `invalid declaration of policy "${policy}" (${issues.length} problem${
        issues.length === 1 ? "" : "s"
      }):\n${issues.map((i) => `  - ${i.message}`).join("\n")}`,
    );
    this.name = "PolicyDeclarationError";
    this.issues = issues;
  }
}

export type { DeclarationIssue };

/** The factories by `type`; a Map, so that no `type` finds an inherited property. */
const FACTORIES: ReadonlyMap<string, (options: never) => BackoffStrategy> = new Map<
  string,
  (options: never) => BackoffStrategy
>([
  ["constant", (o: { ms: number }) => constant(o.ms)],
  ["exponential", exponential],
  ["fullJitter", fullJitter],
  ["equalJitter", equalJitter],
  ["decorrelatedJitter", decorrelatedJitter],
  ["tokenBackoff", tokenBackoff],
]);

/** Builds a backoff from its declaration, reporting a rejected option at `path`. */
function backoffFrom(
  decl: Record<string, unknown>,
  path: string,
  issues: DeclarationIssue[],
): BackoffStrategy | undefined {
  const { type, ...options } = decl;
  const factory = FACTORIES.get(type as string);
  if (factory === undefined) {
    // Unreachable after validateNode (the schema lists the same types).
    issues.push({ path: `${path}.type`, message: `${path}.type is not a known backoff type` });
    return undefined;
  }
  try {
    return factory(options as never);
  } catch (error) {
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    const message = `${path}.${error.message}`;
    issues.push({ path: `${path}.${error.message.split(" ")[0]}`, message });
    return undefined;
  }
}

/**
 * Builds a {@link Policy} from a JSON declaration: the same option names as
 * `policy()`, with backoffs written as `{ "type": "exponential", "baseMs":
 * 200, ... }` (the factory's name and its options), `circuit.breakMs` as a
 * number or a backoff, `hedge.delayMs` as a number or `"p50"`, `"p90"`,
 * `"p95"` or `"p99"`, and `telemetry` as `false` or `{ "spans": ... }`.
 * Functions (`classify`, `onEvent`, `clock`, `random`, `onBreach`) cannot be
 * written in JSON: pass them in `extra`.
 *
 * Every invalid field is reported at once in a {@link PolicyDeclarationError}
 * whose messages start with the field's JSON path
 * (`retry.backoff.baseMs must be a number >= 0: received -1`). A string is
 * parsed as JSON first.
 *
 * @example
 * ```ts
 * import { policyFromJSON } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const payments = policyFromJSON("payments", {
 *   deadlineMs: 2000,
 *   retry: { maxAttempts: 3, backoff: { type: "constant", ms: 0 } },
 *   circuit: { kind: "consecutive", threshold: 5, breakMs: 30000 },
 *   telemetry: false,
 * });
 * assert.equal(await payments.execute(() => "paid"), "paid");
 * ```
 */
export function policyFromJSON(
  policyName: string,
  json: unknown,
  extra: Pick<PolicyOptions, "classify" | "onEvent" | "clock" | "random"> = {},
): Policy {
  let declaration = json;
  if (typeof json === "string") {
    try {
      declaration = JSON.parse(json);
    } catch (error) {
      throw new PolicyDeclarationError(policyName, [{
        path: "",
        message: `declaration is not valid JSON: ${(error as Error).message}`,
      }]);
    }
  }
  const issues: DeclarationIssue[] = [];
  validateNode(POLICY_DECLARATION_SCHEMA, declaration, "", issues);
  if (issues.length > 0) throw new PolicyDeclarationError(policyName, issues);

  const decl = structuredClone(declaration) as Record<string, Record<string, unknown>>;
  const retry = decl.retry;
  if (retry?.backoff !== undefined) {
    retry.backoff = backoffFrom(retry.backoff as Record<string, unknown>, "retry.backoff", issues);
  }
  if (retry?.backoffByClass !== undefined) {
    const byClass = retry.backoffByClass as Record<ErrorClass, Record<string, unknown>>;
    for (const [cls, value] of Object.entries(byClass)) {
      (byClass as Record<string, unknown>)[cls] = backoffFrom(
        value,
        `retry.backoffByClass.${cls}`,
        issues,
      );
    }
  }
  const circuit = decl.circuit;
  if (typeof circuit?.breakMs === "object") {
    circuit.breakMs = backoffFrom(
      circuit.breakMs as Record<string, unknown>,
      "circuit.breakMs",
      issues,
    );
  }
  if (issues.length > 0) throw new PolicyDeclarationError(policyName, issues);
  try {
    return new Policy(policyName, { ...(decl as PolicyOptions), ...extra });
  } catch (error) {
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    // A rule that spans fields (minCalls <= size, maxMs >= baseMs, ...):
    // the constructors name the field with its full path.
    const message = error.message;
    throw new PolicyDeclarationError(policyName, [{ path: message.split(" ")[0], message }]);
  }
}

/**
 * The schema of scenario files: drives both their validation (every
 * problem reported with its JSON path, as `policyFromJSON` does) and the
 * shipped JSON Schema (`schema/scenario.schema.json`). It extends the
 * policy's schema language with arrays, maps of named entries and a
 * recursive latency type; leaves are validated by the policy's own code.
 *
 * @module
 */

import { describeValue, optionPath } from "../core/validate.ts";
import { POLICY_DECLARATION_SCHEMA } from "../policy/policy_declaration.ts";
import { LIMITS } from "./load.ts";
import {
  type DeclarationIssue,
  listChoices,
  objectJsonSchema,
  type SchemaNode,
  toJsonSchema,
  validateNode,
} from "../policy/schema_node.ts";

/** A list of items sharing a schema. */
interface ArrayNode {
  kind: "array";
  items: SimNode;
  description: string;
}

/** Named entries (any non-empty key) sharing a schema. */
interface RecordNode {
  kind: "record";
  value: SimNode;
  description: string;
}

/** An object whose properties may be any {@link SimNode}. */
interface SimObjectNode {
  kind: "object";
  properties: Readonly<Record<string, SimNode>>;
  required?: readonly string[];
  description: string;
}

/** An object discriminated by `tag`. */
interface SimTaggedNode {
  kind: "tagged";
  tag: string;
  variants: Readonly<Record<string, SimObjectNode>>;
  description: string;
}

/** A reference to a named definition (for the recursive latency type). */
interface RefNode {
  kind: "ref";
  name: "latency" | "policy";
}

/** Any node of the scenario schema. */
type SimNode =
  | Exclude<SchemaNode, { kind: "object" } | { kind: "tagged" }>
  | ArrayNode
  | RecordNode
  | SimObjectNode
  | SimTaggedNode
  | RefNode;

const ms = (description: string): SchemaNode => ({
  kind: "number",
  min: 0,
  description: `${description} (milliseconds)`,
});
const positiveMs = (description: string): SchemaNode => ({
  kind: "number",
  above: 0,
  description: `${description} (milliseconds)`,
});
const int = (min: number, description: string, max?: number): SchemaNode => ({
  kind: "number",
  integer: true,
  min,
  ...(max === undefined ? {} : { max }),
  description,
});
const status = (description: string): SchemaNode => int(100, description, 599);
const ratio = (description: string): SchemaNode => ({
  kind: "number",
  min: 0,
  max: 1,
  description,
});
const ref = (description: string): SimNode => ({ kind: "string", description });

const LATENCY: SimTaggedNode = {
  kind: "tagged",
  tag: "kind",
  description: "A latency distribution; `kind` picks it.",
  variants: {
    constant: {
      kind: "object",
      description: "Always `ms`.",
      properties: { ms: ms("The latency") },
      required: ["ms"],
    },
    uniform: {
      kind: "object",
      description: "Uniform on [minMs, maxMs).",
      properties: { minMs: ms("Least"), maxMs: ms("Most, >= minMs") },
      required: ["minMs", "maxMs"],
    },
    exponential: {
      kind: "object",
      description: "Exponential with mean `meanMs`.",
      properties: { meanMs: positiveMs("Mean") },
      required: ["meanMs"],
    },
    lognormal: {
      kind: "object",
      description: "Lognormal with the given median and 99th percentile.",
      properties: {
        medianMs: positiveMs("Median"),
        p99Ms: positiveMs("99th percentile, > medianMs"),
      },
      required: ["medianMs", "p99Ms"],
    },
    mixture: {
      kind: "object",
      description: "A weighted choice among distributions.",
      properties: {
        parts: {
          kind: "array",
          description: "The parts (at least one).",
          items: {
            kind: "object",
            description: "One part.",
            properties: {
              weight: { kind: "number", above: 0, description: "Relative weight (> 0)." },
              dist: { kind: "ref", name: "latency" },
            },
            required: ["weight", "dist"],
          },
        },
      },
      required: ["parts"],
    },
  },
};

const LOAD_COMMON = { client: ref("Name of the client whose calls this load starts.") };
const RATE = {
  ...LOAD_COMMON,
  ratePerSecond: {
    kind: "number",
    above: 0,
    max: LIMITS.ratePerSecond,
    description: `Calls per second (> 0, <= ${LIMITS.ratePerSecond}).`,
  },
  fromMs: ms("First call. Default 0"),
  toMs: ms("No call at or after this. Default: the end of the run"),
} as const;

/** The schema of a scenario file. */
export const SCENARIO_SCHEMA: SimObjectNode = {
  kind: "object",
  description:
    "A Bulwark simulation scenario: servers, pools, clients (with their policies) and loads.",
  properties: {
    $schema: { kind: "string", description: "The JSON Schema of this file (ignored)." },
    description: { kind: "string", description: "What the scenario shows (ignored)." },
    seed: int(0, "Seed of every random draw. Default 1.", 2 ** 32 - 1),
    durationMs: {
      kind: "number",
      above: 0,
      max: LIMITS.durationMs,
      description: "Loads stop starting calls at this time (milliseconds; at most 1 day).",
    },
    drainMs: {
      kind: "number",
      min: 0,
      max: LIMITS.drainMs,
      description:
        "How long calls in flight may take to finish after durationMs (milliseconds; default 600000, at most 1 day).",
    },
    servers: {
      kind: "record",
      description: "Servers by name.",
      value: {
        kind: "object",
        description: "A server.",
        properties: {
          latency: { kind: "ref", name: "latency" },
          concurrency: int(1, "Requests served at once. Default 1."),
          queue: int(0, "Requests waiting (FIFO). Default: unbounded."),
          rejectStatus: status("Status when the queue is full. Default 503."),
          errorRate: ratio("Share of requests answered with errorStatus. Default 0."),
          errorStatus: status("Status of an injected error. Default 503."),
          cancelOnClientTimeout: {
            kind: "boolean",
            description: "Drop requests whose caller gave up. Default false.",
          },
          contention: {
            kind: "enum",
            values: ["none", "occ"],
            description:
              "How requests in service interact: none (default) or occ (each reads a shared record when service starts and writes it when it ends; the write fails with conflictStatus if another succeeded in between).",
          },
          conflictStatus: status("Status of a request that lost a write conflict. Default 409."),
          networkLatency: { kind: "ref", name: "latency" },
        },
        required: ["latency"],
      },
    },
    pools: {
      kind: "record",
      description: "Connection pools by name.",
      value: {
        kind: "object",
        description: "A connection pool in front of a server.",
        properties: {
          target: ref("Name of the server."),
          minConnections: int(0, "Opened before the load and kept. Default 0."),
          maxConnections: int(1, "Most connections. Default 10."),
          connectionTimeoutMs: positiveMs("Longest wait for a connection"),
          idleTimeoutMs: positiveMs("Idle connections above the minimum close after this"),
          connectionLatency: { kind: "ref", name: "latency" },
        },
        required: ["target"],
      },
    },
    clients: {
      kind: "record",
      description: "Clients by name.",
      value: {
        kind: "object",
        description: "A client calling a server or a pool through a policy.",
        properties: {
          target: ref("Name of a server or a pool."),
          timeoutMs: positiveMs("Timeout of each attempt"),
          policy: { kind: "ref", name: "policy" },
        },
        required: ["target"],
      },
    },
    loads: {
      kind: "array",
      description: "When clients start calls.",
      items: {
        kind: "tagged",
        tag: "kind",
        description: "A load; `kind` picks it.",
        variants: {
          constant: {
            kind: "object",
            description: "A call every 1000 / ratePerSecond ms.",
            properties: RATE,
            required: ["client", "ratePerSecond"],
          },
          poisson: {
            kind: "object",
            description: "A Poisson process of ratePerSecond calls per second on average.",
            properties: RATE,
            required: ["client", "ratePerSecond"],
          },
          burst: {
            kind: "object",
            description: "`count` calls at the same instant (a herd).",
            properties: {
              ...LOAD_COMMON,
              count: int(1, "Calls.", LIMITS.burstCount),
              atMs: ms("When. Default 0"),
            },
            required: ["client", "count"],
          },
        },
      },
    },
    changes: {
      kind: "array",
      description: "Changes of servers at points in time.",
      items: {
        kind: "object",
        description: "A change.",
        properties: {
          server: ref("Name of the server."),
          atMs: ms("When"),
          errorRate: ratio("New error rate."),
          latencyFactor: { kind: "number", above: 0, description: "Multiplier of latency (> 0)." },
          concurrency: int(1, "New concurrency."),
        },
        required: ["server", "atMs"],
      },
    },
  },
  required: ["durationMs", "servers", "clients", "loads"],
};

function jsonKind(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}

/**
 * Validates `value` against `node`, appending every problem to `issues`.
 * The policy is checked where the client is built (by `policyFromJSON`).
 */
export function validateSimNode(
  node: SimNode,
  value: unknown,
  path: string,
  issues: DeclarationIssue[],
): void {
  const fail = (rule: string) =>
    issues.push({
      path,
      message: `${path === "" ? "scenario" : path} must be ${rule}: received ${
        describeValue(value)
      }`,
    });
  switch (node.kind) {
    case "ref":
      if (node.name === "latency") return validateSimNode(LATENCY, value, path, issues);
      if (jsonKind(value) !== "object") fail("an object");
      return;
    case "array":
      if (!Array.isArray(value)) return void fail("an array");
      value.forEach((item, i) => validateSimNode(node.items, item, `${path}[${i}]`, issues));
      return;
    case "record":
      if (jsonKind(value) !== "object") return void fail("an object of named entries");
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        if (key.trim() === "") {
          issues.push({ path, message: `${path} has an empty name` });
        } else {
          validateSimNode(node.value, v, optionPath(path, key), issues);
        }
      }
      return;
    case "object":
    case "tagged":
      break;
    default:
      return validateNode(node, value, path, issues);
  }
  if (jsonKind(value) !== "object") return void fail("an object");
  const record = value as Record<string, unknown>;
  let object: SimObjectNode = node as SimObjectNode;
  let tagKey: string | undefined;
  if (node.kind === "tagged") {
    tagKey = node.tag;
    const tag = record[node.tag];
    if (typeof tag !== "string" || !Object.hasOwn(node.variants, tag)) {
      const at = optionPath(path, node.tag);
      issues.push({
        path: at,
        message: `${at} must be ${listChoices(Object.keys(node.variants))}: received ${
          describeValue(tag)
        }`,
      });
      return;
    }
    object = node.variants[tag];
  }
  const known = Object.keys(object.properties);
  for (const [key, v] of Object.entries(record)) {
    if (key === tagKey) continue;
    const child = Object.hasOwn(object.properties, key) ? object.properties[key] : undefined;
    if (child === undefined) {
      const at = optionPath(path, key);
      issues.push({
        path: at,
        message: `${at} is not a known option (expected one of: ${
          (tagKey === undefined ? known : [tagKey, ...known]).join(", ")
        })`,
      });
    } else {
      validateSimNode(child, v, optionPath(path, key), issues);
    }
  }
  for (const key of object.required ?? []) {
    if (!Object.hasOwn(record, key) || record[key] === undefined) {
      const at = optionPath(path, key);
      issues.push({ path: at, message: `${at} is required` });
    }
  }
}

function toSchema(node: SimNode): Record<string, unknown> {
  switch (node.kind) {
    case "ref":
      return { $ref: `#/$defs/${node.name}` };
    case "array":
      return { type: "array", description: node.description, items: toSchema(node.items) };
    case "record":
      return {
        type: "object",
        description: node.description,
        additionalProperties: toSchema(node.value),
      };
    case "object":
      return objectSchema(node);
    case "tagged":
      return {
        description: node.description,
        oneOf: Object.entries(node.variants).map(([tag, variant]) => {
          const schema = objectSchema(variant);
          (schema.properties as Record<string, unknown>)[node.tag] = { const: tag };
          schema.required = [node.tag, ...((schema.required as string[] | undefined) ?? [])];
          return schema;
        }),
      };
    default:
      return toJsonSchema(node);
  }
}

function objectSchema(node: SimObjectNode): Record<string, unknown> {
  return objectJsonSchema(node, toSchema);
}

/**
 * The JSON Schema (draft 2020-12) of a scenario file, as shipped in
 * `schema/scenario.schema.json`; the policy's schema is embedded under
 * `$defs.policy`, so the file stands alone.
 *
 * @example
 * ```ts
 * import { scenarioJsonSchema } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const schema = scenarioJsonSchema();
 * assert.deepEqual(schema.required, ["durationMs", "servers", "clients", "loads"]);
 * ```
 */
export function scenarioJsonSchema(): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://jsr.io/@bulwark/bulwark/schema/scenario.schema.json",
    title: "Bulwark simulation scenario",
    ...objectSchema(SCENARIO_SCHEMA),
    $defs: {
      latency: toSchema(LATENCY),
      policy: toJsonSchema(POLICY_DECLARATION_SCHEMA),
    },
  };
}

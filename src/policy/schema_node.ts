/**
 * A tiny schema language for policy declarations: one description drives
 * the validation of JSON declarations (every problem reported with its JSON
 * path) and the generation of the shipped JSON Schema, so the two cannot
 * drift apart.
 *
 * @module
 */

import { describeValue, optionPath } from "../core/validate.ts";

/** A number, optionally an integer, with bounds. */
export interface NumberNode {
  kind: "number";
  integer?: boolean;
  /** Inclusive lower bound. */
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** Inclusive upper bound. */
  max?: number;
  description: string;
}

/** A string, optionally non-empty. */
export interface StringNode {
  kind: "string";
  description: string;
}

/** A boolean. */
export interface BooleanNode {
  kind: "boolean";
  description: string;
}

/** The literal `false`. */
export interface FalseNode {
  kind: "false";
  description: string;
}

/** One of a few strings. */
export interface EnumNode {
  kind: "enum";
  values: readonly string[];
  description: string;
}

/** An object with known properties; unknown keys are errors. */
export interface ObjectNode {
  kind: "object";
  properties: Readonly<Record<string, SchemaNode>>;
  required?: readonly string[];
  description: string;
}

/** An object whose keys come from a fixed list and whose values share a schema. */
export interface MapNode {
  kind: "map";
  keys: readonly string[];
  value: SchemaNode;
  description: string;
}

/** An object discriminated by the string property `tag`. */
export interface TaggedNode {
  kind: "tagged";
  tag: string;
  variants: Readonly<Record<string, ObjectNode>>;
  description: string;
}

/** One of several nodes, chosen by the value's JSON type. */
export interface EitherNode {
  kind: "either";
  options: readonly SchemaNode[];
  description: string;
}

/** Any node of the schema language. */
export type SchemaNode =
  | NumberNode
  | StringNode
  | BooleanNode
  | FalseNode
  | EnumNode
  | ObjectNode
  | MapNode
  | TaggedNode
  | EitherNode;

/** A number of milliseconds > `above` (default 0). */
export const ms = (description: string, above = 0): NumberNode => ({
  kind: "number",
  above,
  description: `${description} (milliseconds)`,
});

/** A number of milliseconds >= 0. */
export const msAtLeast0 = (description: string): NumberNode => ({
  kind: "number",
  min: 0,
  description: `${description} (milliseconds)`,
});

/** An integer >= `min`, and <= `max` when given. */
export const int = (min: number, description: string, max?: number): NumberNode => ({
  kind: "number",
  integer: true,
  min,
  ...(max === undefined ? {} : { max }),
  description,
});

/** A number between 0 and 1. */
export const ratio = (description: string): NumberNode => ({
  kind: "number",
  min: 0,
  max: 1,
  description,
});

/** One problem found in a declaration. */
export interface DeclarationIssue {
  /** JSON path of the field, e.g. `retry.backoff.baseMs` (empty for the root). */
  path: string;
  /** The full message, starting with the path. */
  message: string;
}

/** `"a", "b" or "c"` */
export function listChoices(values: readonly string[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length === 1
    ? quoted[0]
    : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

function numberRule(node: NumberNode): string {
  const what = node.integer ? "an integer" : "a number";
  if (node.min !== undefined && node.max !== undefined) {
    return `${what} between ${node.min} and ${node.max}`;
  }
  if (node.above !== undefined && node.max !== undefined) {
    return `${what} > ${node.above} and <= ${node.max}`;
  }
  if (node.above !== undefined) return `${what} > ${node.above}`;
  if (node.min !== undefined) return `${what} >= ${node.min}`;
  return what;
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function nodeJsonType(node: SchemaNode): string {
  switch (node.kind) {
    case "number":
      return "number";
    case "string":
    case "enum":
      return "string";
    case "boolean":
    case "false":
      return "boolean";
    default:
      return "object";
  }
}

function describeNode(node: SchemaNode): string {
  switch (node.kind) {
    case "number":
      return numberRule(node);
    case "string":
      return "a non-empty string";
    case "boolean":
      return "a boolean";
    case "false":
      return "false";
    case "enum":
      return listChoices(node.values);
    case "either":
      return node.options.map(describeNode).join(" or ");
    case "tagged":
      return `an object with "${node.tag}"`;
    default:
      return "an object";
  }
}

/** Validates `value` against `node`, appending every problem to `issues`. */
export function validateNode(
  node: SchemaNode,
  value: unknown,
  path: string,
  issues: DeclarationIssue[],
): void {
  const fail = (rule: string) =>
    issues.push({
      path,
      message: `${path === "" ? "declaration" : path} must be ${rule}: received ${
        describeValue(value)
      }`,
    });
  switch (node.kind) {
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) return void fail(numberRule(node));
      if (node.integer && !Number.isInteger(value)) return void fail(numberRule(node));
      if (node.min !== undefined && value < node.min) return void fail(numberRule(node));
      if (node.above !== undefined && value <= node.above) return void fail(numberRule(node));
      if (node.max !== undefined && value > node.max) return void fail(numberRule(node));
      return;
    }
    case "string":
      if (typeof value !== "string" || value.trim() === "") fail("a non-empty string");
      return;
    case "boolean":
      if (typeof value !== "boolean") fail("a boolean");
      return;
    case "false":
      if (value !== false) fail("false");
      return;
    case "enum":
      if (typeof value !== "string" || !node.values.includes(value)) fail(listChoices(node.values));
      return;
    case "either": {
      const option = node.options.find((o) =>
        o.kind === "false" ? value === false : nodeJsonType(o) === jsonType(value)
      );
      if (option === undefined) return void fail(describeNode(node));
      return validateNode(option, value, path, issues);
    }
    case "object":
    case "map":
    case "tagged":
      break;
  }
  if (jsonType(value) !== "object") return void fail(describeNode(node));
  const record = value as Record<string, unknown>;
  if (node.kind === "map") {
    for (const [key, v] of Object.entries(record)) {
      if (!node.keys.includes(key)) {
        issues.push({
          path: optionPath(path, key),
          message: `${optionPath(path, key)} is not a known key (expected one of: ${
            node.keys.join(", ")
          })`,
        });
      } else {
        validateNode(node.value, v, optionPath(path, key), issues);
      }
    }
    return;
  }
  let object: ObjectNode;
  let tagKey: string | undefined;
  if (node.kind === "tagged") {
    tagKey = node.tag;
    const tag = record[node.tag];
    const variants = Object.keys(node.variants);
    // Own keys only: a tag named "constructor" or "__proto__" is not a variant.
    if (typeof tag !== "string" || !Object.hasOwn(node.variants, tag)) {
      issues.push({
        path: optionPath(path, node.tag),
        message: `${optionPath(path, node.tag)} must be ${listChoices(variants)}: received ${
          describeValue(tag)
        }`,
      });
      return;
    }
    object = node.variants[tag];
  } else {
    object = node;
  }
  const known = Object.keys(object.properties);
  for (const [key, v] of Object.entries(record)) {
    if (key === tagKey) continue;
    // Own keys only: a key named "constructor" or "toString" is unknown, not
    // a property inherited from Object.prototype.
    const child = Object.hasOwn(object.properties, key) ? object.properties[key] : undefined;
    if (child === undefined) {
      issues.push({
        path: optionPath(path, key),
        message: `${optionPath(path, key)} is not a known option (expected one of: ${
          (tagKey === undefined ? known : [tagKey, ...known]).join(", ")
        })`,
      });
    } else {
      validateNode(child, v, optionPath(path, key), issues);
    }
  }
  for (const key of object.required ?? []) {
    if (!Object.hasOwn(record, key) || record[key] === undefined) {
      issues.push({ path: optionPath(path, key), message: `${optionPath(path, key)} is required` });
    }
  }
}

/** Renders `node` as a JSON Schema (draft 2020-12) fragment. */
export function toJsonSchema(node: SchemaNode): Record<string, unknown> {
  switch (node.kind) {
    case "number": {
      const out: Record<string, unknown> = {
        type: node.integer ? "integer" : "number",
        description: node.description,
      };
      if (node.min !== undefined) out.minimum = node.min;
      if (node.above !== undefined) out.exclusiveMinimum = node.above;
      if (node.max !== undefined) out.maximum = node.max;
      return out;
    }
    case "string":
      return { type: "string", minLength: 1, description: node.description };
    case "boolean":
      return { type: "boolean", description: node.description };
    case "false":
      return { const: false, description: node.description };
    case "enum":
      return { enum: [...node.values], description: node.description };
    case "either":
      return { description: node.description, anyOf: node.options.map(toJsonSchema) };
    case "map":
      return {
        type: "object",
        description: node.description,
        properties: Object.fromEntries(node.keys.map((k) => [k, toJsonSchema(node.value)])),
        additionalProperties: false,
      };
    case "object":
      return objectSchema(node);
    case "tagged":
      return {
        description: node.description,
        oneOf: Object.entries(node.variants).map(([tag, variant]) => {
          const schema = objectSchema(variant);
          const properties = schema.properties as Record<string, unknown>;
          properties[node.tag] = { const: tag };
          schema.required = [node.tag, ...((schema.required as string[] | undefined) ?? [])];
          return schema;
        }),
      };
  }
}

function objectSchema(node: ObjectNode): Record<string, unknown> {
  return objectJsonSchema(node, toJsonSchema);
}

/**
 * The JSON Schema of an object node (closed: no other keys), each property's
 * schema made by `child`: shared with the scenario schema, whose nodes are
 * its own.
 */
export function objectJsonSchema<N>(
  node: {
    readonly description: string;
    readonly properties: Readonly<Record<string, N>>;
    readonly required?: readonly string[];
  },
  child: (node: N) => unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: "object",
    description: node.description,
    properties: Object.fromEntries(
      Object.entries(node.properties).map(([k, v]) => [k, child(v)]),
    ),
    additionalProperties: false,
  };
  if (node.required !== undefined && node.required.length > 0) out.required = [...node.required];
  return out;
}

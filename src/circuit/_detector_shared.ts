/**
 * Helpers shared by the detectors (not exported from `mod.ts`).
 *
 * @module
 */

import { rangeError, typeError } from "../core/validate.ts";
import type { DetectorKind, OutcomeCode } from "./failure_detector.ts";

/** Outcome code of a success. */
export const SUCCESS = 0;
/** Outcome code of a failure. */
export const FAILURE = 1;
/** Outcome code of a slow success. */
export const SLOW = 2;

/** Validates a ratio in (0, 1]. */
export function ratioOption(name: string, value: unknown): number {
  const rule = "a number > 0 and <= 1";
  if (typeof value !== "number") typeError(name, rule, value);
  if (!(value > 0 && value <= 1)) rangeError(name, rule, value);
  return value;
}

/** Validates an optional `slowCallRatio` passed to a detector. */
export function optionalSlowCallRatio(value: unknown): number | undefined {
  return value === undefined ? undefined : ratioOption("slowCallRatio", value);
}

/** Validates an array of outcome codes in a snapshot. */
export function outcomeCodes(path: string, value: unknown): OutcomeCode[] {
  if (!Array.isArray(value) || !value.every((v) => v === 0 || v === 1 || v === 2)) {
    typeError(path, "an array of outcome codes (0, 1 or 2)", value);
  }
  return value as OutcomeCode[];
}

/** Validates that a snapshot is an object and returns whether its `kind` matches. */
export function snapshotMatches(path: string, snapshot: unknown, kind: DetectorKind): boolean {
  if (typeof snapshot !== "object" || snapshot === null || Array.isArray(snapshot)) {
    typeError(path, "a detector snapshot object", snapshot);
  }
  return (snapshot as { kind?: unknown }).kind === kind;
}

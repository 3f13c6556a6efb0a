/**
 * Picks a {@link FailureDetector} from circuit breaker options by `kind`.
 * `DetectorOptions` is public; `createDetector` and `detectorKeys` are
 * internal (used by the circuit breaker, not exported from `mod.ts`).
 *
 * @module
 */

import { typeError } from "../core/validate.ts";
import type { DetectorKind, FailureDetector } from "./failure_detector.ts";
import {
  CONSECUTIVE_KEYS,
  ConsecutiveDetector,
  type ConsecutiveDetectorOptions,
} from "./consecutive_detector.ts";
import { COUNT_KEYS, CountDetector, type CountDetectorOptions } from "./count_detector.ts";
import { TIME_KEYS, TimeDetector, type TimeDetectorOptions } from "./time_detector.ts";

/** The detector part of circuit breaker options: one of three, selected by `kind`. */
export type DetectorOptions =
  | ConsecutiveDetectorOptions
  | CountDetectorOptions
  | TimeDetectorOptions;

const KEYS: Readonly<Record<DetectorKind, readonly string[]>> = {
  consecutive: CONSECUTIVE_KEYS,
  count: COUNT_KEYS,
  time: TIME_KEYS,
};

/**
 * Validates `kind` and returns the option keys of that detector (without
 * `kind`). Throws `TypeError: kind must be "consecutive", "count" or "time":
 * received ...` otherwise.
 */
export function detectorKeys(kind: unknown): readonly string[] {
  if (kind !== "consecutive" && kind !== "count" && kind !== "time") {
    typeError("kind", '"consecutive", "count" or "time"', kind);
  }
  return KEYS[kind];
}

/**
 * Builds the detector selected by `options.kind`, validating its fields.
 * Other keys of `options` are ignored (the circuit breaker checks for
 * unknown keys itself).
 */
export function createDetector(
  options: DetectorOptions,
  slowCallRatio?: number,
): FailureDetector {
  detectorKeys(options.kind);
  switch (options.kind) {
    case "consecutive":
      return new ConsecutiveDetector({ threshold: options.threshold, slowCallRatio });
    case "count":
      return new CountDetector({
        size: options.size,
        threshold: options.threshold,
        minCalls: options.minCalls,
        slowCallRatio,
      });
    case "time":
      return new TimeDetector({
        windowMs: options.windowMs,
        buckets: options.buckets,
        threshold: options.threshold,
        minThroughput: options.minThroughput,
        slowCallRatio,
      });
  }
}

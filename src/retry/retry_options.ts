/**
 * The `retry` block of a policy: limits, per-class budgets and backoff.
 *
 * @module
 */

import { ERROR_CLASSES, type ErrorClass } from "../core/error_class.ts";
import type { BackoffStrategy } from "../backoff/strategy.ts";
import { decorrelatedJitter } from "../backoff/decorrelated_jitter.ts";
import { strategyOption } from "../backoff/_options.ts";
import {
  integerAtLeast,
  knownKeys,
  numberAtLeast,
  objectValue,
  optionPath,
  typeError,
} from "../core/validate.ts";

/** Options of the retry loop (the `retry` block of `policy()`). */
export interface RetryOptions {
  /** Most attempts in all, including the first. Default 3. */
  maxAttempts?: number;
  /**
   * Most attempts that may end in an `unknown` error before the loop gives up
   * with reason `max_unknown_attempts`. Default: no cap beyond `maxAttempts`.
   */
  maxUnknownAttempts?: number;
  /**
   * Retries allowed after failures of each class. A class not listed is
   * limited only by `maxAttempts`; `permanent` defaults to 0 (a permanent
   * failure is returned to the caller at once).
   */
  budgets?: Partial<Record<ErrorClass, number>>;
  /**
   * Delay before each retry. Default `decorrelatedJitter({ baseMs: 100,
   * maxMs: 5_000 })`.
   */
  backoff?: BackoffStrategy;
  /** A different strategy for some classes, e.g. `{ rate_limit: tokenBackoff(...) }`. */
  backoffByClass?: Partial<Record<ErrorClass, BackoffStrategy>>;
  /**
   * Wait what a `Retry-After` header (or an error's `retryAfterMs`) asks for
   * instead of the backoff. Default true.
   */
  honorRetryAfter?: boolean;
  /**
   * Longest wait a `Retry-After` may impose on one retry; a longer request
   * is cut to this. Default: no cap (a deadline, if any, still applies: a
   * wait that would end past it stops the call).
   */
  maxRetryAfterMs?: number;
}

/** The keys of {@link RetryOptions}. */
export const RETRY_OPTION_KEYS: readonly string[] = [
  "maxAttempts",
  "maxUnknownAttempts",
  "budgets",
  "backoff",
  "backoffByClass",
  "honorRetryAfter",
  "maxRetryAfterMs",
  "retryBudget",
];

/** Retry options after validation and defaults. */
export interface ResolvedRetryOptions {
  readonly maxAttempts: number;
  readonly maxUnknownAttempts: number;
  /** Budget per class, indexed like {@link ERROR_CLASSES}; Infinity = unlimited. */
  readonly budgets: readonly number[];
  /** Strategy per class, indexed like {@link ERROR_CLASSES}. */
  readonly backoffs: readonly BackoffStrategy[];
  readonly honorRetryAfter: boolean;
  readonly maxRetryAfterMs: number;
}

/** Index of each class in {@link ERROR_CLASSES}, for array-based counters. */
export const CLASS_INDEX: Readonly<Record<ErrorClass, number>> = Object.freeze(
  Object.fromEntries(ERROR_CLASSES.map((c, i) => [c, i])) as Record<ErrorClass, number>,
);

function checkClassKeys(name: string, record: object): void {
  for (const key of Object.keys(record)) {
    // Own keys only: "constructor", "toString" or "__proto__" are not classes.
    if (!Object.hasOwn(CLASS_INDEX, key)) {
      typeError(`${name}.${key}`, `one of the error classes (${ERROR_CLASSES.join(", ")})`, key);
    }
  }
}

/** Validates retry options and fills in defaults; `path` prefixes option names in errors. */
export function resolveRetryOptions(
  options: RetryOptions | undefined,
  path = "retry",
): ResolvedRetryOptions {
  // One rule everywhere (policy, client, retry(), JSON): a call makes up to
  // 3 attempts unless `maxAttempts` says otherwise, retry block or not.
  if (options === undefined) return resolveRetryOptions({}, path);
  objectValue(path === "" ? "options" : path, options);
  knownKeys(path, options, RETRY_OPTION_KEYS);
  const maxAttempts = integerAtLeast(optionPath(path, "maxAttempts"), options.maxAttempts ?? 3, 1);
  const maxUnknownAttempts = options.maxUnknownAttempts === undefined
    ? Infinity
    : integerAtLeast(optionPath(path, "maxUnknownAttempts"), options.maxUnknownAttempts, 1);
  const budgets = ERROR_CLASSES.map((c) => (c === "permanent" ? 0 : Infinity));
  if (options.budgets !== undefined) {
    objectValue(optionPath(path, "budgets"), options.budgets);
    checkClassKeys(optionPath(path, "budgets"), options.budgets);
    for (const [key, value] of Object.entries(options.budgets)) {
      if (value === undefined) continue;
      budgets[CLASS_INDEX[key as ErrorClass]] = integerAtLeast(
        optionPath(path, `budgets.${key}`),
        value,
        0,
      );
    }
  }
  const backoff = options.backoff === undefined
    ? decorrelatedJitter({ baseMs: 100, maxMs: 5_000 })
    : strategyOption(optionPath(path, "backoff"), options.backoff);
  const backoffs = ERROR_CLASSES.map(() => backoff);
  if (options.backoffByClass !== undefined) {
    objectValue(optionPath(path, "backoffByClass"), options.backoffByClass);
    checkClassKeys(optionPath(path, "backoffByClass"), options.backoffByClass);
    for (const [key, value] of Object.entries(options.backoffByClass)) {
      if (value === undefined) continue;
      backoffs[CLASS_INDEX[key as ErrorClass]] = strategyOption(
        optionPath(path, `backoffByClass.${key}`),
        value,
      );
    }
  }
  const honorRetryAfter = options.honorRetryAfter ?? true;
  if (typeof honorRetryAfter !== "boolean") {
    typeError(optionPath(path, "honorRetryAfter"), "a boolean", honorRetryAfter);
  }
  const maxRetryAfterMs = options.maxRetryAfterMs === undefined
    ? Infinity
    : numberAtLeast(optionPath(path, "maxRetryAfterMs"), options.maxRetryAfterMs, 0);
  return { maxAttempts, maxUnknownAttempts, budgets, backoffs, honorRetryAfter, maxRetryAfterMs };
}

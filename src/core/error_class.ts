/**
 * The failure classes the retry engine budgets separately.
 *
 * @module
 */

/**
 * What kind of failure an attempt ended in.
 * - `transient`: timeouts, dropped connections, 408/502/503/504; retry.
 * - `flaky`: known-intermittent failures; retry a little.
 * - `rate_limit`: 429; retry after the server's `Retry-After` or a token wait.
 * - `concurrency`: 409/423, a conflict that may clear; retry.
 * - `server_error`: other 5xx.
 * - `permanent`: other 4xx and explicit `PermanentError`s; never retried by default.
 * - `unknown`: anything else; capped by `maxUnknownAttempts`.
 */
export type ErrorClass =
  | "transient"
  | "flaky"
  | "rate_limit"
  | "concurrency"
  | "server_error"
  | "permanent"
  | "unknown";

/**
 * Every {@link ErrorClass}, in a fixed order.
 *
 * @example
 * ```ts
 * import { ERROR_CLASSES } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(ERROR_CLASSES.includes("rate_limit"));
 * assert.equal(ERROR_CLASSES.length, 7);
 * ```
 */
export const ERROR_CLASSES: readonly ErrorClass[] = Object.freeze([
  "transient",
  "flaky",
  "rate_limit",
  "concurrency",
  "server_error",
  "permanent",
  "unknown",
]);

/**
 * A classifier maps a thrown error, or a value an attempt returned, to its
 * class, or to `"success"` for a value that is a success.
 */
export type Classifier = (errorOrResult: unknown) => ErrorClass | "success";

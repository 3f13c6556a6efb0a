/**
 * Marker errors: throw one of these to tell the default classifier exactly
 * which class a failure belongs to, whatever its message or cause.
 *
 * @module
 */

/**
 * A failure expected to clear on its own (a dropped connection, a timeout).
 * {@link defaultClassifier} classifies it, and every subclass, as
 * `"transient"`.
 *
 * @example Marking a failure as worth retrying
 * ```ts
 * import { defaultClassifier, TransientError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new TransientError("replica lagging", { cause: new Error("lag 3s") });
 * assert.equal(err.name, "TransientError");
 * assert.equal(defaultClassifier(err), "transient");
 * ```
 */
export class TransientError extends Error {
  /** Creates the error; `options.cause` becomes the standard `cause`. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A failure known to be intermittent, worth a retry or two but not many.
 * {@link defaultClassifier} classifies it, and every subclass, as `"flaky"`.
 *
 * @example Marking a known-intermittent failure
 * ```ts
 * import { defaultClassifier, FlakyError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new FlakyError("sandbox API hiccup");
 * assert.equal(err.name, "FlakyError");
 * assert.equal(defaultClassifier(err), "flaky");
 * ```
 */
export class FlakyError extends Error {
  /** Creates the error; `options.cause` becomes the standard `cause`. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A failure that will not change on a retry (bad input, missing permission).
 * {@link defaultClassifier} classifies it, and every subclass, as
 * `"permanent"`, so a policy rethrows it at once by default.
 *
 * @example Stopping retries for a failure that cannot succeed
 * ```ts
 * import { defaultClassifier, PermanentError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new PermanentError("card declined");
 * assert.equal(err.name, "PermanentError");
 * assert.equal(defaultClassifier(err), "permanent");
 * ```
 */
export class PermanentError extends Error {
  /** Creates the error; `options.cause` becomes the standard `cause`. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

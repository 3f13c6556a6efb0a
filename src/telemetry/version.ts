/**
 * The package version reported as the instrumentation scope's version.
 * A test keeps it equal to `deno.json`'s `version`.
 *
 * @module
 */

/**
 * The version of `@bulwark/bulwark`, reported as the instrumentation scope
 * version of its tracer and meter.
 *
 * @example
 * ```ts
 * import { VERSION } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION = "0.1.0";

/** The instrumentation scope name of every tracer and meter Bulwark creates. */
export const SCOPE_NAME = "@bulwark/bulwark";

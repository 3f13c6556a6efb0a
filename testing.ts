/**
 * Test helpers: a virtual clock so retries, backoff and deadlines run
 * instantly and deterministically, and the seeded random source.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock(1_000);
 * await clock.advance(500);
 * assert.equal(clock.now(), 1_500);
 * ```
 *
 * @module
 */

export { type RunAllOptions, VirtualClock } from "./src/core/virtual_clock.ts";
export { seededRandom } from "./src/core/random.ts";

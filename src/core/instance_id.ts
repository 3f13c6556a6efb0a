/**
 * A random identity for one process or isolate (the fleet's `instanceId`
 * default). Randomness is only touched in `src/core/`.
 *
 * @module
 */

/**
 * A random UUID (`crypto.randomUUID()`).
 *
 * @example
 * ```ts
 * import { randomInstanceId } from "./instance_id.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(randomInstanceId(), /^[0-9a-f-]{36}$/);
 * assert.notEqual(randomInstanceId(), randomInstanceId());
 * ```
 */
export function randomInstanceId(): string {
  return crypto.randomUUID();
}

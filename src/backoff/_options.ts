/**
 * Option rules shared by the backoff factories. Internal: not exported from
 * `mod.ts`.
 *
 * @module
 */

import { rangeError, typeError } from "../core/validate.ts";

/**
 * Validates the `maxMs` cap of a factory: a number >= `baseMs` (`Infinity`
 * allowed), `Infinity` when absent. Throws `TypeError` / `RangeError`
 * `maxMs must be a number >= baseMs (<baseMs>): received <value>`.
 */
export function capOption(options: { maxMs?: number }, baseMs: number): number {
  const maxMs = options.maxMs;
  if (maxMs === undefined) return Infinity;
  const rule = `a number >= baseMs (${baseMs})`;
  if (typeof maxMs !== "number") typeError("maxMs", rule, maxMs);
  if (!(maxMs >= baseMs)) rangeError("maxMs", rule, maxMs);
  return maxMs;
}

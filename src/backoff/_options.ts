/**
 * Option rules shared by the backoff factories and by the options that take
 * a strategy (`retry.backoff`, `retry.backoffByClass.<class>`, a breaker's
 * `breakMs`). Internal: not exported from `mod.ts`.
 *
 * @module
 */

import type { BackoffStrategy } from "./strategy.ts";
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

/** The built-in factories, each with how a call to it is written (for the error message). */
// deno-lint-ignore ban-types
const FACTORIES = new WeakMap<Function, string>();

/**
 * Marks `factory` as a backoff factory (a function that returns a strategy),
 * so that {@link strategyOption} can tell it apart from a strategy when it
 * is passed uncalled. `args` is how its arguments are written in the hint,
 * e.g. `"{ ... }"` or `"ms"`.
 */
// deno-lint-ignore ban-types
export function markFactory(factory: Function, args: string): void {
  FACTORIES.set(factory, args);
}

/**
 * Validates an option that takes a backoff strategy: a function
 * (`TypeError: <option> must be a function: received <value>`), and not
 * one of the built-in factories passed uncalled (`TypeError: <option> must
 * be a backoff strategy, not the factory exponential: call exponential({
 * ... }) first`). Returns the strategy.
 */
export function strategyOption(option: string, value: unknown): BackoffStrategy {
  if (typeof value !== "function") typeError(option, "a function", value);
  const args = FACTORIES.get(value);
  if (args !== undefined) {
    throw new TypeError(
      `${option} must be a backoff strategy, not the factory ${value.name}: ` +
        `call ${value.name}(${args}) first`,
    );
  }
  return value as BackoffStrategy;
}

/**
 * The shape of a backoff strategy.
 *
 * @module
 */

import type { ErrorClass } from "../core/error_class.ts";

/** What a backoff strategy knows when it picks the next delay. */
export interface BackoffContext {
  /** The attempt that just failed (1-based). */
  attempt: number;
  /** The delay before the attempt that just failed, if there was one. */
  prevDelayMs?: number;
  /** The class of the failure. */
  errorClass: ErrorClass;
  /** Random numbers in [0, 1). */
  random: () => number;
  /**
   * The clock's current time. The policy always passes it; stateful
   * strategies such as `tokenBackoff` require it.
   */
  now?: number;
}

/** Returns the delay in milliseconds before the next attempt. */
export type BackoffStrategy = (ctx: BackoffContext) => number;

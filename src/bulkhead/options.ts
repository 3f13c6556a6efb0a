/**
 * The bulkhead's options, its call context and its permit, and the bound on
 * its sizes.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { EventListener } from "../core/events.ts";

/** Options of {@link Bulkhead}. */
export interface BulkheadOptions {
  /** Name used in events and errors. Default `"bulkhead"`. */
  name?: string;
  /** Most calls running at once. An integer >= 1. */
  maxConcurrent: number;
  /** Most calls waiting for a permit. An integer >= 0. Default 0 (no queue). */
  maxQueue?: number;
  /**
   * Longest a queued call waits for a permit, in milliseconds. A finite
   * number > 0. Default: no limit (it waits until a permit frees or its
   * signal aborts).
   */
  queueTimeoutMs?: number;
  /** Receives `bulkhead_rejected` events. */
  onEvent?: EventListener;
  /** Where the time and timers come from. Default {@link systemClock}. */
  clock?: Clock;
}

/** Options of {@link Bulkhead.acquire}. */
export interface BulkheadAcquireOptions {
  /** Aborting it while queued leaves the queue at once and rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Longest this call waits in the queue, in milliseconds: a number >= 0
   * (`Infinity` for no limit). The wait ends at the smaller of this and
   * `queueTimeoutMs`. `0` means "only if a permit is free now".
   */
  timeoutMs?: number;
}

/**
 * What {@link Bulkhead.execute} passes to the function it runs. It has the
 * `signal` of the context a policy passes to its operation, so one function
 * can run under either.
 *
 * @example Passing the caller's signal on
 * ```ts
 * import { Bulkhead } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const bulkhead = new Bulkhead({ maxConcurrent: 2 });
 * const controller = new AbortController();
 * const seen = await bulkhead.execute(({ signal }) => signal, { signal: controller.signal });
 * assert.equal(seen, controller.signal);
 * // without options.signal, a signal that never aborts
 * assert.equal(await bulkhead.execute(({ signal }) => signal.aborted), false);
 * ```
 */
export interface BulkheadCallContext {
  /**
   * The caller's `options.signal`; without one, a signal that never aborts
   * (made on first read). Pass it to `fetch` and friends.
   */
  readonly signal: AbortSignal;
}

/** Options of {@link Bulkhead.execute}: the same as {@link BulkheadAcquireOptions}. */
export type BulkheadExecuteOptions = BulkheadAcquireOptions;

/**
 * The right to run one call. Release it exactly once when the call ends;
 * further releases do nothing. Works with `using`.
 */
export interface BulkheadPermit extends Disposable {
  /** Gives the permit back (to the first queued caller, if any). Idempotent. */
  release(): void;
}

/**
 * Most permits, and most queued calls, a bulkhead may have. Nothing is
 * allocated up front, but a larger limit is no limit (and a typo such as
 * `1e9` should not pass for one).
 */
export const MAX_BULKHEAD_SIZE = 1_000_000;

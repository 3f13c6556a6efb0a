/**
 * The data types of an `EdgeBuffer`: what `peek`, `stats` and `flush`
 * return and what `flush` takes.
 *
 * @module
 */

import type { Policy } from "../policy/policy.ts";

/** One buffered event, as `peek` returns it. */
export interface BufferEntry<T> {
  /** The record's id: commit-ordered, never reused in this KV namespace. */
  id: string;
  /** The event. */
  event: T;
  /** Clock time of the enqueue (ms). */
  enqueuedAt: number;
  /** Stored bytes (after the codec and encryption). */
  sizeBytes: number;
}

/** Counters of a buffer; see `EdgeBuffer.stats`. */
export interface BufferStats {
  /** Events stored (all writers). */
  count: number;
  /** Bytes stored (all writers); what `maxSizeBytes` limits. */
  sizeBytes: number;
  /** When the oldest stored event was enqueued; absent when empty. */
  oldestEnqueuedAt?: number;
  /** Events this instance committed since `open`. */
  enqueued: number;
  /** Events this instance refused while full or evicted, since `open`. */
  dropped: number;
  /** Events this instance removed for age, since `open`. */
  expired: number;
  /** Events this instance sent and removed, since `open`. */
  flushed: number;
}

/** Sends one batch; resolving means the receiver has it. */
export type BufferSend<T> = (
  events: T[],
  context: { ids: string[]; signal: AbortSignal },
) => Promise<unknown>;

/** Options of `EdgeBuffer.flush`. */
export interface FlushOptions {
  /** Events per `send`. @default {100} */
  batchSize?: number;
  /** Runs each `send` (retries, breaker, deadline per batch). Default: one plain call. */
  policy?: Policy;
  /** Stops the flush between batches and aborts the running `send`. */
  signal?: AbortSignal;
}

/** What a flush did. */
export interface FlushResult {
  /** Events sent and removed. */
  sent: number;
  /** Batches sent. */
  batches: number;
  /** Events left in the buffer (all writers). */
  remaining: number;
  /** Why the flush stopped early: the failed batch's error (it stays, with all after it). */
  error?: unknown;
}

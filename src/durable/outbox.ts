/**
 * `createOutbox`: publish events durably, deliver them in batches through
 * a policy in the background, and keep what could not be delivered for
 * the next start.
 *
 * @module
 */

import { type Clock, clockOption, type TimerId } from "../core/clock.ts";
import {
  functionValue,
  integerAtLeast,
  knownKeys,
  numberAbove,
  objectValue,
  optionalSignal,
  typeError,
  under,
} from "../core/validate.ts";
import { Policy } from "../policy/policy.ts";
import { type Batch, type BatchEncoding, encodeBatch, resolveEncoding } from "./batch.ts";
import type { EdgeBufferOptions } from "./buffer_options.ts";
import type { BufferStats, FlushResult } from "./buffer_types.ts";
import { EdgeBuffer } from "./edge_buffer.ts";

/** Batch options of an outbox: size and encoding (a batch is drained, not aged). */
export interface OutboxBatchOptions extends BatchEncoding {
  /** Events per batch (and per `send`). @default {100} */
  maxBatchSize?: number;
}

/** Options of {@link createOutbox}. */
export interface OutboxOptions<T> {
  /** The buffer, or options to open one (the outbox then closes it on `close()`). */
  buffer: EdgeBuffer<T> | EdgeBufferOptions<T>;
  /** Delivers one batch; resolving means the receiver has it. */
  send: (batch: Batch<T>, context: { signal: AbortSignal }) => Promise<unknown>;
  /** Runs each `send` (retries, breaker, deadline per batch); while its circuit is open the outbox waits. */
  policy?: Policy;
  /** Batch size and encoding. */
  batch?: OutboxBatchOptions;
  /** Time between drains. @default {1_000} */
  flushIntervalMs?: number;
  /** How long `close()` may take for a drain in progress and its last drain; the rest stays buffered. @default {4_000} */
  closeTimeoutMs?: number;
  /** Time source of the drain loop. @default {systemClock} */
  clock?: Clock;
}

/** Counters of an outbox. */
export interface OutboxStats {
  /** The buffer's stats. */
  buffer: BufferStats;
  /**
   * Events delivered (and removed) by this outbox's finished drains: a
   * drain in progress counts when it ends, while the buffer's `count`
   * drops batch by batch.
   */
  sent: number;
  /** Batches delivered by finished drains. */
  batches: number;
  /** Drains that stopped on a batch `send` failed (after the policy gave up). */
  failedSends: number;
}

/** A running outbox; see {@link createOutbox}. */
export interface Outbox<T> extends AsyncDisposable {
  /** Stores `event` durably; resolves `true` once committed (`false`: the buffer is full). */
  publish(event: T): Promise<boolean>;
  /** Delivers what is buffered now (one drain at a time; a concurrent call joins it). */
  drain(options?: { signal?: AbortSignal }): Promise<FlushResult>;
  /** The outbox's and its buffer's counters. */
  stats(): Promise<OutboxStats>;
  /**
   * Stops the loop and makes one last drain, closes an owned buffer. A drain
   * in progress and the last drain together take at most `closeTimeoutMs`
   * (their sends' signal aborts then); what is not delivered stays buffered.
   */
  close(): Promise<void>;
}

const KEYS = ["buffer", "send", "policy", "batch", "flushIntervalMs", "closeTimeoutMs", "clock"];
const BATCH_KEYS = ["maxBatchSize", "compression", "compressionLevel"];

class OutboxImpl<T> implements Outbox<T> {
  readonly #buffer: EdgeBuffer<T>;
  readonly #ownsBuffer: boolean;
  readonly #send: OutboxOptions<T>["send"];
  readonly #policy: Policy | undefined;
  readonly #batchSize: number;
  readonly #encoding: Required<BatchEncoding>;
  readonly #intervalMs: number;
  readonly #closeTimeoutMs: number;
  readonly #clock: Clock;
  #timer: TimerId | undefined;
  #draining: Promise<FlushResult> | undefined;
  #closed: Promise<void> | undefined;
  /** Aborted `closeTimeoutMs` after `close()`: bounds the loop's drain in progress and the last one. */
  readonly #stop = new AbortController();
  readonly #totals = { sent: 0, batches: 0, failedSends: 0 };

  constructor(
    buffer: EdgeBuffer<T>,
    ownsBuffer: boolean,
    options: OutboxOptions<T>,
    batchSize: number,
    encoding: Required<BatchEncoding>,
    clock: Clock,
  ) {
    this.#buffer = buffer;
    this.#ownsBuffer = ownsBuffer;
    this.#send = options.send;
    this.#policy = options.policy;
    this.#batchSize = batchSize;
    this.#encoding = encoding;
    this.#intervalMs = options.flushIntervalMs ?? 1_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 4_000;
    this.#clock = clock;
    this.#schedule(this.#intervalMs);
  }

  #schedule(ms: number): void {
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      void this.#tick();
    }, ms);
  }

  async #tick(): Promise<void> {
    // While the circuit is open, wait for it instead of sending.
    const wait = this.#policy?.circuit?.retryAfterMs ?? 0;
    if (wait > 0) {
      this.#schedule(Math.min(wait, 2 ** 31 - 1));
      return;
    }
    await this.drain().catch(() => {});
    if (this.#closed === undefined) this.#schedule(this.#intervalMs);
  }

  publish(event: T): Promise<boolean> {
    return this.#buffer.enqueue(event);
  }

  drain(options: { signal?: AbortSignal } = {}): Promise<FlushResult> {
    objectValue("options", options);
    knownKeys("", options, ["signal"]);
    const signal = optionalSignal("signal", options.signal);
    this.#draining ??= this.#drain(
      signal === undefined ? this.#stop.signal : AbortSignal.any([signal, this.#stop.signal]),
    ).finally(() => (this.#draining = undefined));
    return this.#draining;
  }

  async #drain(signal: AbortSignal): Promise<FlushResult> {
    const result = await this.#buffer.flush(
      (events, { ids, signal }) => {
        const batch: Batch<T> = encodeBatch(
          `${ids[0]}-${ids[ids.length - 1]}`,
          events,
          this.#clock.now(),
          this.#encoding,
        );
        batch.ids = ids;
        return this.#send(batch, { signal });
      },
      { batchSize: this.#batchSize, ...this.#policyOption(), signal },
    );
    this.#totals.sent += result.sent;
    this.#totals.batches += result.batches;
    if ("error" in result) this.#totals.failedSends++;
    return result;
  }

  #policyOption(): { policy?: Policy } {
    return this.#policy === undefined ? {} : { policy: this.#policy };
  }

  async stats(): Promise<OutboxStats> {
    return { buffer: await this.#buffer.stats(), ...this.#totals };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
      this.#timer = undefined;
      // The bound starts now: it covers a drain of the loop in progress and the last drain.
      const timer = this.#clock.setTimer(
        () => this.#stop.abort(new Error("outbox close: closeTimeoutMs elapsed")),
        this.#closeTimeoutMs,
      );
      try {
        await this.#draining?.catch(() => {});
        if (!this.#stop.signal.aborted) await this.drain().catch(() => {});
      } finally {
        this.#clock.clearTimer(timer);
        if (this.#ownsBuffer) await this.#buffer.close();
      }
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates an outbox: `publish` stores events durably (resolving once
 * committed), a loop drains the buffer every `flushIntervalMs` in batches
 * through `policy` (NDJSON, gzip), waiting while the policy's circuit is
 * open, and `close()` makes one last drain bounded by `closeTimeoutMs`,
 * leaving the rest for the next start. Delivery is at least once: a batch
 * is removed only after `send` resolved; `batch.ids` (and `batch.id`) let
 * the receiver drop duplicates.
 *
 * @example
 * ```ts
 * import { createOutbox } from "@bulwark/bulwark/durable";
 * import assert from "node:assert/strict";
 *
 * const received: string[] = [];
 * const outbox = await createOutbox<{ celsius: number }>({
 *   buffer: { path: ":memory:", telemetry: false },
 *   send: async (batch) => void received.push(batch.id),
 *   batch: { maxBatchSize: 2 },
 * });
 * await outbox.publish({ celsius: 21.5 });
 * await outbox.publish({ celsius: 21.7 });
 * await outbox.publish({ celsius: 21.6 });
 * await outbox.close(); // the last drain delivers all three
 * assert.deepEqual(received, ["0.0-1.0", "2.0-2.0"]);
 * ```
 */
export async function createOutbox<T>(options: OutboxOptions<T>): Promise<Outbox<T>> {
  objectValue("options", options);
  knownKeys("", options, KEYS);
  functionValue("send", options.send);
  if (options.policy !== undefined && !(options.policy instanceof Policy)) {
    typeError("policy", "a Policy (from policy())", options.policy);
  }
  const batch = options.batch ?? {};
  objectValue("batch", batch);
  knownKeys("batch", batch, BATCH_KEYS);
  const encoding = under("batch", () => resolveEncoding(batch));
  const batchSize = under(
    "batch",
    () => integerAtLeast("maxBatchSize", batch.maxBatchSize ?? 100, 1),
  );
  numberAbove("flushIntervalMs", options.flushIntervalMs ?? 1_000, 0);
  numberAbove("closeTimeoutMs", options.closeTimeoutMs ?? 4_000, 0);
  const clock = clockOption(options.clock, ["now", "setTimer", "clearTimer"]);
  const owns = !(options.buffer instanceof EdgeBuffer);
  let buffer: EdgeBuffer<T>;
  if (options.buffer instanceof EdgeBuffer) buffer = options.buffer;
  else {
    objectValue("buffer", options.buffer);
    // open() checks its options before it opens anything: name them as buffer.<option>.
    buffer = await EdgeBuffer.open<T>(options.buffer).catch((error) => {
      if (error instanceof RangeError) throw new RangeError(`buffer.${error.message}`);
      if (error instanceof TypeError) throw new TypeError(`buffer.${error.message}`);
      throw error;
    });
  }
  return new OutboxImpl(buffer, owns, options, batchSize, encoding, clock);
}

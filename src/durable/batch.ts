/**
 * `BatchProcessor`: groups events into batches by size and age and encodes
 * each batch once as NDJSON, gzipped at a chosen level.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { type Clock, clockOption, type TimerId } from "../core/clock.ts";
import {
  functionValue,
  integerAtLeast,
  integerBetween,
  knownKeys,
  numberAbove,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";

/** How a batch's payload is compressed. */
export type Compression = "gzip" | "none";

/** A completed batch. */
export interface Batch<T> {
  /** The batch's id: `"<first>-<last>"` buffer ids when read from a buffer, else a counter. */
  id: string;
  /** The events, in order. */
  events: T[];
  /** Clock time the batch was started (ms). */
  createdAt: number;
  /** NDJSON of the events (one JSON text and `\n` per event), gzipped when compressed. */
  payload: Uint8Array;
  /** How `payload` is compressed. */
  compression: Compression;
  /** Bytes of the NDJSON. */
  uncompressedBytes: number;
  /** Bytes of `payload`. */
  compressedBytes: number;
  /** The buffer ids of the events, when the batch was read from an `EdgeBuffer` (the outbox). */
  ids?: string[];
}

/** How batches are encoded. */
export interface BatchEncoding {
  /** `"gzip"` (default) or `"none"`. @default {"gzip"} */
  compression?: Compression;
  /** gzip level, 1 (fastest) to 9 (smallest). @default {6} */
  compressionLevel?: number;
}

/** Options of {@link BatchProcessor}. */
export interface BatchProcessorOptions<T> extends BatchEncoding {
  /** Events per batch; the batch completes when it has this many. @default {100} */
  maxBatchSize?: number;
  /** A batch completes this long after its first event. @default {1_000} */
  maxBatchAgeMs?: number;
  /** Receives every completed batch (errors it throws are isolated). */
  onBatch?: (batch: Batch<T>) => void;
  /** Time source for `createdAt` and the age trigger. @default {systemClock} */
  clock?: Clock;
}

const KEYS = [
  "maxBatchSize",
  "maxBatchAgeMs",
  "compression",
  "compressionLevel",
  "onBatch",
  "clock",
];

const encoder = new TextEncoder();

/** Checks the encoding options; returns them with defaults. */
export function resolveEncoding(o: BatchEncoding): Required<BatchEncoding> {
  const compression = o.compression ?? "gzip";
  if (compression !== "gzip" && compression !== "none") {
    if (typeof compression !== "string") typeError("compression", '"gzip" or "none"', compression);
    rangeError("compression", '"gzip" or "none"', compression);
  }
  return {
    compression,
    compressionLevel: integerBetween("compressionLevel", o.compressionLevel ?? 6, 1, 9),
  };
}

/** Encodes `events` as one batch: NDJSON, compressed once. */
export function encodeBatch<T>(
  id: string,
  events: T[],
  createdAt: number,
  encoding: Required<BatchEncoding>,
): Batch<T> {
  let text = "";
  for (const event of events) text += JSON.stringify(event) + "\n";
  const ndjson = encoder.encode(text);
  const payload = encoding.compression === "gzip"
    ? new Uint8Array(gzipSync(ndjson, { level: encoding.compressionLevel }))
    : ndjson;
  return {
    id,
    events,
    createdAt,
    payload,
    compression: encoding.compression,
    uncompressedBytes: ndjson.length,
    compressedBytes: payload.length,
  };
}

/**
 * Groups events into batches: a batch completes when it holds
 * `maxBatchSize` events, `maxBatchAgeMs` after its first event, or on
 * `flush()`. Each completed batch is encoded once (NDJSON, gzip at
 * `compressionLevel`) and handed to `onBatch`.
 *
 * @example
 * ```ts
 * import { BatchProcessor } from "@bulwark/bulwark/durable";
 * import { gunzipSync } from "node:zlib";
 * import assert from "node:assert/strict";
 *
 * const batcher = new BatchProcessor<{ t: number }>({ maxBatchSize: 2, compressionLevel: 9 });
 * assert.equal(batcher.add({ t: 1 }), undefined);
 * const batch = batcher.add({ t: 2 })!;
 * assert.equal(new TextDecoder().decode(gunzipSync(batch.payload)), '{"t":1}\n{"t":2}\n');
 * batcher.stop();
 * ```
 */
export class BatchProcessor<T> {
  readonly #maxBatchSize: number;
  readonly #maxBatchAgeMs: number;
  readonly #encoding: Required<BatchEncoding>;
  readonly #onBatch: ((batch: Batch<T>) => void) | undefined;
  readonly #clock: Clock;
  #events: T[] = [];
  #createdAt = 0;
  #timer: TimerId | undefined;
  #count = 0;
  #stopped = false;

  /** Creates a processor; bad options throw `TypeError`/`RangeError` naming them. */
  constructor(options: BatchProcessorOptions<T> = {}) {
    objectValue("options", options);
    knownKeys("", options, KEYS);
    this.#maxBatchSize = integerAtLeast("maxBatchSize", options.maxBatchSize ?? 100, 1);
    this.#maxBatchAgeMs = numberAbove("maxBatchAgeMs", options.maxBatchAgeMs ?? 1_000, 0);
    this.#encoding = resolveEncoding(options);
    this.#onBatch = options.onBatch === undefined
      ? undefined
      : functionValue("onBatch", options.onBatch);
    this.#clock = clockOption(options.clock, ["now", "setTimer", "clearTimer"]);
  }

  /** Events in the open batch. */
  get pending(): number {
    return this.#events.length;
  }

  /** Adds an event; returns the batch it completed, if it did. Throws after `stop()`. */
  add(event: T): Batch<T> | undefined {
    if (this.#stopped) throw new Error("BatchProcessor is stopped: add() is not allowed");
    if (this.#events.length === 0) {
      this.#createdAt = this.#clock.now();
      this.#timer = this.#clock.setTimer(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#maxBatchAgeMs);
    }
    this.#events.push(event);
    return this.#events.length >= this.#maxBatchSize ? this.flush() : undefined;
  }

  /** Completes the open batch now; returns it (undefined when empty). */
  flush(): Batch<T> | undefined {
    if (this.#events.length === 0) return undefined;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    const events = this.#events;
    this.#events = [];
    const batch = encodeBatch(String(++this.#count), events, this.#createdAt, this.#encoding);
    try {
      this.#onBatch?.(batch);
    } catch {
      // The batch is returned to the caller as well; a throwing onBatch cannot lose it there.
    }
    return batch;
  }

  /** Completes the open batch and stops; later `add()` calls throw. */
  stop(): Batch<T> | undefined {
    const batch = this.flush();
    this.#stopped = true;
    return batch;
  }
}

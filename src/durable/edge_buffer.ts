/**
 * `EdgeBuffer`: a durable FIFO of events on Deno KV, for devices and edge
 * functions that must not lose events while their collector is away.
 *
 * @module
 */

import { EventSink } from "../core/events.ts";
import type { BufferDropReason } from "../core/events.ts";
import { integerAtLeast, knownKeys, objectValue, rangeError, typeError } from "../core/validate.ts";
import type { Policy } from "../policy/policy.ts";
import { type BufferTelemetry, bufferTelemetry } from "../telemetry/otel_buffer.ts";
import {
  type BufferCodec,
  type EdgeBufferOptions,
  resolveBufferOptions,
} from "./buffer_options.ts";
import { commitGroup, type PendingEvent } from "./group_commit.ts";
import { type Epoch, KvRecords, type StoredRecord, type StoredRef, value } from "./kv_records.ts";
import {
  aesGcmSealer,
  BufferDecryptError,
  fromChunks,
  importKey,
  MAX_EVENT_BYTES,
  PLAIN,
  type RecordSealer,
} from "./record.ts";

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

const FLUSH_OPTION_KEYS = ["batchSize", "policy", "signal"];
const OPENING = Symbol("EdgeBuffer.open");
const NEVER = new AbortController().signal;
/** Expired records removed per atomic while reading. */
const EXPIRE_SLICE = 100;

/**
 * A durable FIFO of events on Deno KV (a file, `:memory:`, a given `kv`,
 * or `Deno.openKv()` on Deploy). `enqueue` resolves only once the event is
 * committed; concurrent enqueues share one commit. Events leave only
 * through `flush`/`remove` (after delivery), eviction (`onFull:
 * "drop_oldest"`), expiry (`maxAgeMs`) or `clear`.
 *
 * @example Buffer while offline, flush when back
 * ```ts
 * import { EdgeBuffer } from "@bulwark/bulwark/durable";
 * import assert from "node:assert/strict";
 *
 * await using buffer = await EdgeBuffer.open<{ t: number }>({ path: ":memory:", telemetry: false });
 * await Promise.all([1, 2, 3].map((t) => buffer.enqueue({ t })));
 * const received: number[] = [];
 * const result = await buffer.flush(async (events) => {
 *   received.push(...events.map((e) => e.t));
 * });
 * assert.deepEqual(received, [1, 2, 3]);
 * assert.deepEqual(result, { sent: 3, batches: 1, remaining: 0 });
 * ```
 */
export class EdgeBuffer<T> implements AsyncDisposable {
  /** The buffer's name (its KV namespace). */
  readonly name: string;
  readonly #records: KvRecords;
  readonly #ownsKv: boolean;
  readonly #sealer: RecordSealer;
  readonly #codec: BufferCodec<T>;
  readonly #clock: { now(): number };
  readonly #maxSizeBytes: number;
  readonly #maxAgeMs: number;
  readonly #onFull: "reject" | "drop_oldest";
  readonly #events = new EventSink();
  readonly #telemetry: BufferTelemetry;
  #pending: PendingEvent[] = [];
  #pump: Promise<void> | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #flushing: Promise<FlushResult> | undefined;
  #closed: Promise<void> | undefined;
  readonly #totals = { enqueued: 0, dropped: 0, expired: 0, flushed: 0 };
  #level = { count: 0, bytes: 0 };

  /** Use {@link EdgeBuffer.open}. */
  private constructor(
    token: symbol,
    o: ReturnType<typeof resolveBufferOptions<T>>,
    kv: Deno.Kv,
    ownsKv: boolean,
    sealer: RecordSealer,
  ) {
    if (token !== OPENING) throw new TypeError("use EdgeBuffer.open() to open a buffer");
    this.name = o.name;
    this.#records = new KvRecords(kv, o.name);
    this.#ownsKv = ownsKv;
    this.#sealer = sealer;
    this.#codec = o.codec;
    this.#clock = o.clock;
    this.#maxSizeBytes = o.maxSizeBytes;
    this.#maxAgeMs = o.maxAgeMs;
    this.#onFull = o.onFull;
    if (o.onEvent !== undefined) this.#events.add(o.onEvent);
    this.#telemetry = bufferTelemetry(o.name, o.telemetry);
  }

  /**
   * Opens a buffer. Options are checked first: a bad one throws a
   * `TypeError`/`RangeError` naming it, before any KV is opened.
   */
  static async open<T = unknown>(options: EdgeBufferOptions<T> = {}): Promise<EdgeBuffer<T>> {
    const o = resolveBufferOptions(options);
    const sealer = o.encryptionKey === undefined
      ? PLAIN
      : aesGcmSealer(await importKey(o.encryptionKey));
    const kv = o.kv ?? await Deno.openKv(o.path);
    const buffer = new EdgeBuffer<T>(OPENING, o, kv, o.kv === undefined, sealer);
    const counters = await buffer.#records.counters();
    buffer.#level = { count: value(counters.count), bytes: value(counters.bytes) };
    return buffer;
  }

  /**
   * Stores `event`. Resolves `true` once it is durably committed, `false`
   * when the buffer is full (`onFull: "reject"`, or an event larger than
   * `maxSizeBytes`). Throws a `RangeError` for an event larger than 768 KiB
   * once encoded.
   */
  enqueue(event: T): Promise<boolean> {
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode(event);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new TypeError("codec.encode must return a Uint8Array"));
    }
    const size = bytes.length + this.#sealer.overhead;
    if (size > MAX_EVENT_BYTES) {
      return Promise.reject(
        new RangeError(
          `event must be at most ${MAX_EVENT_BYTES} bytes once stored: received ${size} bytes`,
        ),
      );
    }
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ bytes, size, at: this.#clock.now(), resolve, reject });
      this.#pump ??= Promise.resolve().then(() => this.#commitPending());
    });
  }

  /** Stores several events (group-committed); resolves with how many were committed. */
  async enqueueMany(events: Iterable<T>): Promise<number> {
    const all = await Promise.all(Array.from(events, (e) => this.enqueue(e)));
    return all.filter(Boolean).length;
  }

  async #commitPending(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending;
        this.#pending = [];
        const ctx = {
          records: this.#records,
          name: this.name,
          maxSizeBytes: this.#maxSizeBytes,
          onFull: this.#onFull,
          sealer: this.#sealer,
        };
        try {
          const result = await this.#exclusive(() => commitGroup(ctx, group));
          this.#pending = [...result.leftover, ...this.#pending];
          this.#totals.enqueued += result.committed.length;
          this.#level = { count: result.count, bytes: result.bytes };
          this.#telemetry.level(result.count, result.bytes);
          this.#dropped("evicted", result.evicted);
          this.#dropped("full", result.refused.length);
          for (const item of result.committed) item.resolve(true);
          for (const item of result.refused) item.resolve(false);
        } catch (error) {
          for (const item of group) item.reject(error);
        }
      }
    } finally {
      this.#pump = undefined;
    }
  }

  /** Runs `fn` after every earlier writing step of this buffer. */
  #exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  #dropped(reason: BufferDropReason, count: number): void {
    if (count === 0) return;
    if (reason === "expired") this.#totals.expired += count;
    else if (reason !== "cleared") this.#totals.dropped += count;
    this.#telemetry.dropped(reason, count);
    if (this.#events.active) {
      this.#events.emit({
        type: "buffer_dropped",
        policy: this.name,
        timestamp: this.#clock.now(),
        reason,
        count,
      });
    }
  }

  /** Removes `refs` (read after `epoch` was); returns what was removed and the new epoch. */
  async #remove(
    refs: readonly StoredRef[],
    epoch: Epoch,
  ): Promise<{ removed: StoredRef[]; epoch: Epoch }> {
    const result = await this.#exclusive(() => this.#records.remove(refs, epoch));
    const removed = result.removed;
    const bytes = removed.reduce((sum, r) => sum + r.size, 0);
    this.#level = { count: this.#level.count - removed.length, bytes: this.#level.bytes - bytes };
    this.#telemetry.level(this.#level.count, this.#level.bytes);
    return result;
  }

  /** Removes the expired `refs` (emptying the array); returns the new epoch. */
  async #expire(refs: StoredRef[], epoch: Epoch): Promise<Epoch> {
    if (refs.length === 0) return epoch;
    const result = await this.#remove(refs, epoch);
    this.#dropped("expired", result.removed.length);
    refs.length = 0;
    return result.epoch;
  }

  #isExpired(at: number): boolean {
    return this.#clock.now() - at > this.#maxAgeMs;
  }

  async #decode(r: StoredRecord): Promise<BufferEntry<T>> {
    const id = String(r.seq);
    let event: T;
    try {
      const opened = this.#sealer.open(fromChunks(r.head, r.rest), this.name, r.seq);
      event = this.#codec.decode(opened instanceof Uint8Array ? opened : await opened);
    } catch (error) {
      throw new BufferDecryptError(this.name, id, error);
    }
    return { id, event, enqueuedAt: r.head.at, sizeBytes: r.head.size };
  }

  /**
   * Reads up to `limit` live records after `after` and before `before`,
   * removing expired ones met. `known` is an epoch read earlier (an older
   * one only makes a removal re-check more often); else it is read first.
   */
  async #read(
    limit: number,
    after = -1,
    before = Infinity,
    known?: Epoch,
  ): Promise<{ page: Array<{ entry: BufferEntry<T>; ref: StoredRef }>; epoch: Epoch }> {
    const page: Array<{ entry: BufferEntry<T>; ref: StoredRef }> = [];
    const expired: StoredRef[] = [];
    let epoch = known ?? await this.#records.epoch();
    for await (const r of this.#records.records(after, before, limit)) {
      if (this.#isExpired(r.head.at)) {
        expired.push(r);
        if (expired.length >= EXPIRE_SLICE) epoch = await this.#expire(expired, epoch);
        continue;
      }
      page.push({ entry: await this.#decode(r), ref: r });
      if (page.length >= limit) break;
    }
    return { page, epoch: await this.#expire(expired, epoch) };
  }

  /**
   * The oldest `limit` events (default 100), oldest first, without removing
   * them. Expired events met on the way are removed. Rejects with
   * `BufferDecryptError` when a record cannot be decrypted.
   */
  async peek(limit = 100): Promise<BufferEntry<T>[]> {
    this.#checkOpen();
    integerAtLeast("limit", limit, 1);
    return (await this.#read(limit)).page.map((r) => r.entry);
  }

  /** Removes the events with these ids (from `peek`); resolves with how many were removed. */
  async remove(ids: readonly string[]): Promise<number> {
    this.#checkOpen();
    if (!Array.isArray(ids)) typeError("ids", "an array of ids", ids);
    const seqs = new Set(ids.map((id) => {
      if (typeof id !== "string" || !/^(0|[1-9][0-9]*)$/.test(id)) {
        rangeError("ids", "record ids from peek()", id);
      }
      return Number(id);
    }));
    const epoch = await this.#records.epoch();
    return (await this.#remove(await this.#records.heads([...seqs]), epoch)).removed.length;
  }

  /**
   * Sends the buffered events in batches, oldest first, through `send`
   * (through `options.policy` when given), removing each batch only after
   * its `send` resolved. A failed batch stays, with everything after it;
   * the result carries the error. Events enqueued after the flush started
   * wait for the next flush. One flush runs at a time: a concurrent call
   * gets the running flush's result.
   */
  flush(send: BufferSend<T>, options: FlushOptions = {}): Promise<FlushResult> {
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    if (typeof send !== "function") typeError("send", "a function", send);
    objectValue("options", options);
    knownKeys("", options, FLUSH_OPTION_KEYS);
    const batchSize = integerAtLeast("batchSize", options.batchSize ?? 100, 1);
    if (this.#flushing !== undefined) return this.#flushing;
    this.#flushing = this.#flush(send, batchSize, options.policy, options.signal)
      .finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #flush(
    send: BufferSend<T>,
    batchSize: number,
    policy: Policy | undefined,
    signal: AbortSignal | undefined,
  ): Promise<FlushResult> {
    const span = this.#telemetry.flush();
    let sent = 0;
    let batches = 0;
    let error: unknown;
    try {
      const counters = await this.#records.counters();
      const before = value(counters.next);
      let epoch: Epoch = counters.rm;
      let after = -1;
      for (;;) {
        const read = await this.#read(batchSize, after, before, epoch);
        const page = read.page;
        epoch = read.epoch;
        if (page.length === 0) break;
        const events = page.map((r) => r.entry.event);
        const ids = page.map((r) => r.entry.id);
        try {
          signal?.throwIfAborted();
          if (policy === undefined) await send(events, { ids, signal: signal ?? NEVER });
          else {
            await policy.execute(({ signal: s }) => send(events, { ids, signal: s }), { signal });
          }
        } catch (failure) {
          error = failure;
          break;
        }
        const { removed, epoch: next } = await this.#remove(page.map((r) => r.ref), epoch);
        epoch = next;
        this.#totals.flushed += removed.length;
        sent += page.length;
        batches++;
        after = page[page.length - 1]!.ref.seq;
        if (this.#events.active) {
          this.#events.emit({
            type: "buffer_flushed",
            policy: this.name,
            timestamp: this.#clock.now(),
            count: page.length,
            remaining: this.#level.count,
          });
        }
      }
    } catch (failure) {
      span.end(sent, this.#level.count, failure);
      throw failure;
    }
    const remaining = value((await this.#records.counters()).count);
    span.end(sent, remaining, error);
    return error === undefined ? { sent, batches, remaining } : { sent, batches, remaining, error };
  }

  /**
   * The buffer's counters. `count` and `sizeBytes` are read from KV (all
   * writers); expired events at the head are removed first.
   */
  async stats(): Promise<BufferStats> {
    this.#checkOpen();
    const expired: StoredRef[] = [];
    let oldest: number | undefined;
    let epoch = await this.#records.epoch();
    for await (const r of this.#records.records(-1, Infinity, 10)) {
      if (!this.#isExpired(r.head.at)) {
        oldest = r.head.at;
        break;
      }
      expired.push(r);
      if (expired.length >= EXPIRE_SLICE) epoch = await this.#expire(expired, epoch);
    }
    await this.#expire(expired, epoch);
    const counters = await this.#records.counters();
    const stats: BufferStats = {
      count: value(counters.count),
      sizeBytes: value(counters.bytes),
      ...this.#totals,
    };
    if (oldest !== undefined) stats.oldestEnqueuedAt = oldest;
    return stats;
  }

  /** Removes every stored event (`buffer_dropped`, reason `"cleared"`); resolves with how many. */
  async clear(): Promise<number> {
    this.#checkOpen();
    let total = 0;
    for (;;) {
      const page: StoredRef[] = [];
      const epoch = await this.#records.epoch();
      for await (const r of this.#records.records()) {
        page.push({ seq: r.seq, n: r.n, size: r.size, versionstamp: r.versionstamp });
        if (page.length >= 500) break;
      }
      if (page.length === 0) break;
      total += (await this.#remove(page, epoch)).removed.length;
    }
    this.#dropped("cleared", total);
    return total;
  }

  /**
   * Waits for pending enqueues and the running flush, then closes the KV
   * if the buffer opened it. Later calls reject.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      while (this.#pump !== undefined) await this.#pump;
      await this.#flushing?.catch(() => {});
      await this.#chain;
      if (this.#ownsKv) this.#records.kv.close();
    })();
    return this.#closed;
  }

  /** Same as {@link EdgeBuffer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed !== undefined) throw this.#closedError();
  }

  #closedError(): Error {
    return new Error(`EdgeBuffer ${JSON.stringify(this.name)} is closed`);
  }
}

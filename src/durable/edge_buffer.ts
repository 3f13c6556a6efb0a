/**
 * `EdgeBuffer`: a durable FIFO of events on Deno KV, for devices and edge
 * functions that must not lose events while their collector is away.
 *
 * @module
 */

import { EventSink } from "../core/events.ts";
import type { BufferDropReason } from "../core/events.ts";
import {
  integerAtLeast,
  knownKeys,
  objectValue,
  optionalSignal,
  rangeError,
  typeError,
} from "../core/validate.ts";
import type { Policy } from "../policy/policy.ts";
import type {
  BufferEntry,
  BufferSend,
  BufferStats,
  FlushOptions,
  FlushResult,
} from "./buffer_types.ts";
import { type BufferTelemetry, bufferTelemetry } from "../telemetry/otel_buffer.ts";
import {
  type BufferCodec,
  type EdgeBufferOptions,
  resolveBufferOptions,
} from "./buffer_options.ts";
import { runFlush } from "./flush_run.ts";
import { checkedSealer } from "./key_check.ts";
import { GroupCommitter, type GroupResult, largestEvent } from "./group_commit.ts";
import { type EventRef, KvRecords, value } from "./kv_records.ts";
import { openDenoKv } from "./kv.ts";
import {
  aesGcmSealer,
  BufferDecryptError,
  importKey,
  MAX_EVENTS_PER_RECORD,
  PLAIN,
  recordEvents,
  type RecordSealer,
  type StoredEvent,
} from "./record.ts";

const FLUSH_OPTION_KEYS = ["batchSize", "policy", "signal"];
const OPENING = Symbol("EdgeBuffer.open");
/** Expired events removed at a time while reading. */
const EXPIRE_SLICE = 1_000;
/** KV entries read per round trip by `peek`, `flush` and `stats` (a record holds many events). */
const PAGE_ENTRIES = 10;

/**
 * A durable FIFO of events on Deno KV (a file, `:memory:`, a given `kv`
 * (a `Deno.Kv`, or on Node a `Kv` of npm `@deno/kv`),
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
  /** Largest stored event: MAX_EVENT_BYTES, less for a long name. */
  readonly #maxEventBytes: number;
  readonly #maxAgeMs: number;
  readonly #onFull: "reject" | "drop_oldest";
  readonly #events = new EventSink();
  readonly #telemetry: BufferTelemetry;
  readonly #committer: GroupCommitter;
  #chain: Promise<unknown> = Promise.resolve();
  #flushing: Promise<FlushResult> | undefined;
  #closed: Promise<void> | undefined;
  readonly #totals = { enqueued: 0, dropped: 0, expired: 0, flushed: 0 };
  #level = { count: 0, bytes: 0 };

  /** Use {@link EdgeBuffer.open}. */
  private constructor(
    token: symbol,
    o: ReturnType<typeof resolveBufferOptions<T>>,
    records: KvRecords,
    ownsKv: boolean,
    sealer: RecordSealer,
  ) {
    if (token !== OPENING) throw new TypeError("use EdgeBuffer.open() to open a buffer");
    this.name = o.name;
    this.#records = records;
    this.#ownsKv = ownsKv;
    this.#sealer = sealer;
    this.#codec = o.codec;
    this.#clock = o.clock;
    this.#maxSizeBytes = o.maxSizeBytes;
    this.#maxEventBytes = largestEvent(o.name);
    this.#maxAgeMs = o.maxAgeMs;
    this.#onFull = o.onFull;
    if (o.onEvent !== undefined) this.#events.add(o.onEvent);
    this.#telemetry = bufferTelemetry(o.name, o.telemetry);
    this.#committer = new GroupCommitter(
      {
        records: this.#records,
        name: o.name,
        maxSizeBytes: o.maxSizeBytes,
        onFull: o.onFull,
        sealer,
      },
      (fn) => this.#exclusive(fn),
      (result) => this.#committed(result),
    );
  }

  /** Bookkeeping of a group commit, before its enqueues resolve. */
  #committed(result: GroupResult): void {
    this.#totals.enqueued += result.committed.length;
    this.#level = { count: result.count, bytes: result.bytes };
    this.#telemetry.level(result.count, result.bytes);
    this.#dropped("evicted", result.evicted);
    this.#dropped("full", result.refused.length);
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
    const kv = o.kv ?? await openDenoKv(o.path);
    const records = new KvRecords(kv, o.name);
    let checked: RecordSealer;
    try {
      checked = await checkedSealer(records, o.name, sealer, o.encryptionKey !== undefined);
    } catch (error) {
      if (o.kv === undefined) kv.close();
      throw error;
    }
    const buffer = new EdgeBuffer<T>(OPENING, o, records, o.kv === undefined, checked);
    const counters = await buffer.#records.counters();
    buffer.#level = { count: value(counters.count), bytes: value(counters.bytes) };
    return buffer;
  }

  /**
   * Stores `event`. Resolves `true` once it is durably committed, `false`
   * when the buffer is full (`onFull: "reject"`, or an event larger than
   * `maxSizeBytes`). Throws a `RangeError` for an event larger than 768 KiB
   * once stored (`MAX_EVENT_BYTES`; less for a buffer name longer than 592
   * UTF-8 bytes, whose keys take more of a KV atomic: 784,496 bytes for 700).
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
    if (size > this.#maxEventBytes) {
      return Promise.reject(
        new RangeError(
          `event must be at most ${this.#maxEventBytes} bytes once stored: received ${size} bytes`,
        ),
      );
    }
    return new Promise<boolean>((resolve, reject) => {
      this.#committer.add({ bytes, size, at: this.#clock.now(), resolve, reject });
    });
  }

  /** Stores several events (group-committed); resolves with how many were committed. */
  async enqueueMany(events: Iterable<T>): Promise<number> {
    const all = await Promise.all(Array.from(events, (e) => this.enqueue(e)));
    return all.filter(Boolean).length;
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

  /** Removes the events `refs` (their record heads read fresh); returns how many it removed. */
  async #remove(refs: readonly EventRef[]): Promise<{ events: number }> {
    const removed = await this.#exclusive(() => this.#records.remove(refs));
    this.#level = {
      count: this.#level.count - removed.events,
      bytes: this.#level.bytes - removed.bytes,
    };
    this.#telemetry.level(this.#level.count, this.#level.bytes);
    return removed;
  }

  /** Removes the expired `refs` (emptying the array). */
  async #expire(refs: EventRef[]): Promise<void> {
    if (refs.length === 0) return;
    this.#dropped("expired", (await this.#remove(refs)).events);
    refs.length = 0;
  }

  #isExpired(at: number): boolean {
    return this.#clock.now() - at > this.#maxAgeMs;
  }

  async #decode(seq: number, e: StoredEvent): Promise<BufferEntry<T>> {
    const id = `${seq}.${e.idx}`;
    let event: T;
    try {
      const opened = this.#sealer.open(e.bytes, this.name, seq, e.idx);
      event = this.#codec.decode(opened instanceof Uint8Array ? opened : await opened);
    } catch (error) {
      throw new BufferDecryptError(this.name, id, error);
    }
    return { id, event, enqueuedAt: e.at, sizeBytes: e.bytes.length };
  }

  /**
   * Reads up to `limit` live events of the records before `before`, oldest
   * first (after `after`, when given), removing expired ones met.
   */
  async #read(
    limit: number,
    before = Infinity,
    after?: EventRef,
  ): Promise<Array<{ entry: BufferEntry<T>; ref: EventRef }>> {
    const page: Array<{ entry: BufferEntry<T>; ref: EventRef }> = [];
    const expired: EventRef[] = [];
    // A record holds up to 100 events: read about as many records as `limit` needs.
    const entries = Math.min(PAGE_ENTRIES, Math.ceil(limit / MAX_EVENTS_PER_RECORD) + 1);
    records: for await (const r of this.#records.records(before, entries, after?.seq ?? 0)) {
      for (const e of recordEvents(r.head, r.rest)) {
        if (after !== undefined && r.seq === after.seq && e.idx <= after.idx) continue;
        if (this.#isExpired(e.at)) {
          expired.push({ seq: r.seq, idx: e.idx });
          if (expired.length >= EXPIRE_SLICE) await this.#expire(expired);
          continue;
        }
        page.push({ entry: await this.#decode(r.seq, e), ref: { seq: r.seq, idx: e.idx } });
        if (page.length >= limit) break records;
      }
    }
    await this.#expire(expired);
    return page;
  }

  /**
   * The oldest `limit` events (default 100), oldest first, without removing
   * them. Expired events met on the way are removed. Rejects with
   * `BufferDecryptError` when a record cannot be decrypted.
   */
  async peek(limit = 100): Promise<BufferEntry<T>[]> {
    this.#checkOpen();
    integerAtLeast("limit", limit, 1);
    return (await this.#read(limit)).map((r) => r.entry);
  }

  /** Removes the events with these ids (from `peek`); resolves with how many were removed. */
  async remove(ids: readonly string[]): Promise<number> {
    this.#checkOpen();
    if (!Array.isArray(ids)) typeError("ids", "an array of ids", ids);
    const refs = ids.map((id) => {
      const match = typeof id === "string" ? /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/.exec(id) : null;
      if (match === null) rangeError("ids", "event ids from peek()", id);
      return { seq: Number(match[1]), idx: Number(match[2]) };
    });
    return (await this.#remove(refs)).events;
  }

  /**
   * Sends the buffered events in batches, oldest first, through `send`
   * (through `options.policy` when given), removing each batch only after
   * its `send` resolved (sent events are removed 1,000 at a time and before
   * `flush` returns: a crash resends at most the last 1,000). A failed
   * batch stays, with everything after it; the result carries the error (a
   * failed removal too: its batches stay). Events enqueued after the flush started
   * wait for the next flush. One flush runs at a time: a concurrent call
   * gets the running flush's result.
   */
  flush(send: BufferSend<T>, options: FlushOptions = {}): Promise<FlushResult> {
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    if (typeof send !== "function") typeError("send", "a function", send);
    objectValue("options", options);
    knownKeys("", options, FLUSH_OPTION_KEYS);
    const batchSize = integerAtLeast("batchSize", options.batchSize ?? 100, 1);
    const signal = optionalSignal("signal", options.signal);
    if (this.#flushing !== undefined) return this.#flushing;
    this.#flushing = this.#flush(send, batchSize, options.policy, signal)
      .finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  #flush(
    send: BufferSend<T>,
    batchSize: number,
    policy: Policy | undefined,
    signal: AbortSignal | undefined,
  ): Promise<FlushResult> {
    return runFlush({
      read: (limit, before, after) => this.#read(limit, before, after),
      remove: async (refs) => void (this.#totals.flushed += (await this.#remove(refs)).events),
      counters: () => this.#records.counters().then((c) => [value(c.next), value(c.count)]),
      level: () => this.#level.count,
      flushed: (count, remaining) => {
        if (!this.#events.active) return;
        const timestamp = this.#clock.now();
        this.#events.emit({
          type: "buffer_flushed",
          policy: this.name,
          timestamp,
          count,
          remaining,
        });
      },
      span: this.#telemetry.flush(),
    }, { send, batchSize, policy, signal });
  }

  /**
   * The buffer's counters. `count` and `sizeBytes` are read from KV (all
   * writers); expired events at the head are removed first.
   */
  async stats(): Promise<BufferStats> {
    this.#checkOpen();
    const expired: EventRef[] = [];
    let oldest: number | undefined;
    records: for await (const r of this.#records.records(Infinity, PAGE_ENTRIES)) {
      for (let i = 0; i < r.head.at.length; i++) {
        const at = r.head.at[i]!;
        if (!this.#isExpired(at)) {
          oldest = at;
          break records;
        }
        expired.push({ seq: r.seq, idx: r.head.idx[i]! });
        if (expired.length >= EXPIRE_SLICE) await this.#expire(expired);
      }
    }
    await this.#expire(expired);
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
      const page: EventRef[] = [];
      for await (const r of this.#records.records(Infinity, PAGE_ENTRIES)) {
        for (const idx of r.head.idx) page.push({ seq: r.seq, idx });
        if (page.length >= 5_000) break;
      }
      if (page.length === 0) break;
      total += (await this.#remove(page)).events;
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
      await this.#committer.idle();
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

/**
 * The buffer's layout in Deno KV and the atomics that keep it consistent.
 *
 * Keys under `["bulwark", "buffer", name]`:
 * - `"bytes"`, `"count"`: KvU64 counters, changed (with `sum`) in
 *   the same atomic as the records they count;
 * - `"next"`: the next record number, a KvU64 advanced (with `sum`) under a
 *   versionstamp check, so record numbers follow commit order across every
 *   writer of the KV;
 * - `"r", seq, chunk`: a record's chunks (see record.ts): the events of one
 *   group commit packed into one KV value, or one large event in chunks;
 *   every chunk is a `Uint8Array` (the head too), so a file is read the
 *   same way on Deno and on Node;
 * - `"key"`: the record format and key check (key_check.ts).
 *
 * - `"rm"`: the removal epoch, a KvU64 bumped by every atomic that
 *   deletes records.
 *
 * An enqueue checks `"bytes"` and `"next"` (every write moves `"bytes"`); a
 * removal checks `"rm"` as read before it read the records it changes, so
 * an event is never counted out twice.
 *
 * @module
 */

import { systemClock } from "../core/clock.ts";
import {
  buildRecord,
  CHUNK_BYTES,
  decodeHead,
  headLength,
  recordEvents,
  type RecordHead,
} from "./record.ts";
import type {
  KvAtomic,
  KvCheck,
  KvCommitOutcome,
  KvCounter,
  KvEntryMaybe,
  KvKey,
  KvLike,
} from "./kv.ts";

/** Mutations one atomic may hold (Deno KV limit, DESIGN.md §4). */
export const MAX_MUTATIONS = 1_000;
/** Bytes of keys and values one atomic may hold (we stay under 819,200). */
export const MAX_ATOMIC_BYTES = 800_000;
/** Entries `list` reads per round trip. */
const LIST_BATCH = 500;
/** Commits retried on "database is locked" (two processes on one file). */
const LOCK_RETRIES = 200;

const U64_WRAP = 1n << 64n;

/** A record as read: its number, head versionstamp, head and further chunks. */
export interface StoredRecord {
  seq: number;
  versionstamp: string;
  head: RecordHead;
  rest: Uint8Array[];
}

/** Where an event is: its record and its index there. */
export interface EventRef {
  seq: number;
  idx: number;
}

/** What a removal took out. */
export interface Removed {
  events: number;
  bytes: number;
}

/** Bytes of a KvU64 value, as an atomic's size counts it. */
const U64_BYTES = 8;

const utf8 = new TextEncoder();

/**
 * The bytes of `key` as KV encodes it (a string part: a type byte, its
 * UTF-8 bytes with each 0x00 escaped to two bytes, a terminator; a number:
 * a type byte and 8 bytes). An atomic's size is what Deno's
 * op_kv_atomic_write sums: every check's and mutation's key, and each set's
 * or sum's key again with its value (measured on Deno 2.9: 819,200 bytes
 * in all). Our keys hold strings and numbers only.
 */
export function keyBytes(key: KvKey): number {
  let size = 0;
  for (const part of key) {
    if (typeof part === "string") {
      const bytes = utf8.encode(part);
      size += 2 + bytes.length + bytes.filter((b) => b === 0).length;
    } else {
      size += 9;
    }
  }
  return size;
}

/** The counters of a buffer. */
export interface Counters {
  bytes: KvEntryMaybe<KvCounter>;
  count: KvEntryMaybe<KvCounter>;
  next: KvEntryMaybe<KvCounter>;
  rm: KvEntryMaybe<KvCounter>;
}

/** `n` (maybe negative) as an amount for `sum`: u64 wraps, so -n is 2^64 - n (DESIGN.md §4). */
export function amount(n: number): bigint {
  return n >= 0 ? BigInt(n) : U64_WRAP - BigInt(-n);
}

/** A counter's value (0 when absent). */
export function value(entry: KvEntryMaybe<KvCounter>): number {
  return entry.value === null ? 0 : Number(entry.value.value);
}

function isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|busy/i.test(error.message);
}

/** The keys of one buffer. */
export class KvRecords {
  readonly kv: KvLike;
  readonly prefix: KvKey;
  readonly bytesKey: KvKey;
  readonly countKey: KvKey;
  readonly nextKey: KvKey;
  readonly recordPrefix: KvKey;
  readonly rmKey: KvKey;
  /** Whether the namespace is encrypted, and a value sealed with its key (key_check.ts). */
  readonly keyCheckKey: KvKey;

  constructor(kv: KvLike, name: string) {
    this.kv = kv;
    this.prefix = ["bulwark", "buffer", name];
    this.bytesKey = [...this.prefix, "bytes"];
    this.countKey = [...this.prefix, "count"];
    this.nextKey = [...this.prefix, "next"];
    this.recordPrefix = [...this.prefix, "r"];
    this.rmKey = [...this.prefix, "rm"];
    this.keyCheckKey = [...this.prefix, "key"];
  }

  /** The key of chunk `chunk` of record `seq`. */
  key(seq: number, chunk: number): KvKey {
    return [...this.recordPrefix, seq, chunk];
  }

  /** Reads the counters in one snapshot. */
  async counters(): Promise<Counters> {
    const [bytes, count, next, rm] = await this.kv.getMany<
      [KvCounter, KvCounter, KvCounter, KvCounter]
    >([this.bytesKey, this.countKey, this.nextKey, this.rmKey]);
    return { bytes: bytes!, count: count!, next: next!, rm: rm! };
  }

  /**
   * Commits `build()`'s atomic; retries while another process holds the
   * database lock (rebuilding it each time). `ok` says whether its checks held.
   */
  async commit(
    build: () => KvAtomic,
  ): Promise<KvCommitOutcome> {
    for (let attempt = 1;; attempt++) {
      try {
        return await build().commit();
      } catch (error) {
        if (!isLocked(error) || attempt >= LOCK_RETRIES) throw error;
        // Real time on purpose: the lock is held by another process.
        await systemClock.sleep(Math.min(attempt, 20));
      }
    }
  }

  /**
   * Reads whole records oldest first, up to (not including) record
   * `before`. A record whose chunks vanished while it was read (removed by
   * another writer) is skipped. `pageSize` is how many entries each round
   * trip reads; `from` is the first record read.
   */
  async *records(
    before = Infinity,
    pageSize = LIST_BATCH,
    from = 0,
  ): AsyncGenerator<StoredRecord> {
    let current: StoredRecord | undefined;
    const selector = from > 0
      ? { prefix: this.recordPrefix, start: this.key(from, 0) }
      : { prefix: this.recordPrefix };
    for await (
      const entry of this.kv.list(selector, { batchSize: Math.min(pageSize, LIST_BATCH) })
    ) {
      const seq = entry.key[this.recordPrefix.length] as number;
      const chunk = entry.key[this.recordPrefix.length + 1] as number;
      if (seq >= before) return;
      if (chunk === 0) {
        const head = decodeHead(entry.value);
        if (head === undefined) throw this.#notRecord(seq);
        current = { seq, versionstamp: entry.versionstamp, head, rest: [] };
      } else if (current?.seq === seq && chunk === current.rest.length + 1) {
        // A further chunk holds CHUNK_BYTES of the one event; the last, what is left of it.
        const { n, size } = current.head;
        const expected = chunk < n - 1 ? CHUNK_BYTES : size[0]! - (n - 1) * CHUNK_BYTES;
        const value = entry.value;
        if (!(value instanceof Uint8Array) || value.length !== expected) throw this.#notRecord(seq);
        current.rest.push(value);
      } else {
        current = undefined; // a torn read: the record was removed meanwhile
        continue;
      }
      if (current !== undefined && current.rest.length + 1 === current.head.n) {
        const done = current;
        current = undefined;
        yield done;
      }
    }
  }

  /** The error for record `seq` when a chunk of it is not as this format writes it. */
  #notRecord(seq: number): TypeError {
    return new TypeError(`record ${seq} of ${this.prefix.join("/")} is not a buffer record`);
  }

  /**
   * Reads the heads of records `seqs` that exist (10 keys per read, the KV
   * limit); throws, as {@link records} does, for one that is not a head.
   */
  async heads(seqs: readonly number[]): Promise<Map<number, RecordHead>> {
    const found = new Map<number, RecordHead>();
    for (let i = 0; i < seqs.length; i += 10) {
      const slice = seqs.slice(i, i + 10);
      const entries = await this.kv.getMany(slice.map((seq) => this.key(seq, 0)));
      entries.forEach((entry, j) => {
        if (entry.versionstamp === null) return;
        const head = decodeHead(entry.value);
        if (head === undefined) throw this.#notRecord(slice[j]!);
        found.set(slice[j]!, head);
      });
    }
    return found;
  }

  /** Reads the removal epoch: every atomic that removes events bumps it. */
  epoch(): Promise<KvCheck> {
    return this.kv.get(this.rmKey);
  }

  /**
   * Adds to `op` the removal of the events `drop` (indexes) from record
   * `seq`: deleted when none is left, else rewritten with the rest. Returns
   * what it removes, the mutations it adds and the bytes they add to the
   * atomic ({@link keyBytes}). The caller bumps the epoch and changes the
   * counters.
   */
  dropInto(
    op: KvAtomic | undefined,
    seq: number,
    head: RecordHead,
    drop: ReadonlySet<number>,
  ): Removed & { mutations: number; written: number } {
    const headKey = this.key(seq, 0);
    if (head.n > 1) { // one large event, in chunks
      if (!drop.has(head.idx[0]!)) return { events: 0, bytes: 0, mutations: 0, written: 0 };
      let written = 0;
      for (let c = 0; c < head.n; c++) {
        const key = this.key(seq, c);
        op?.delete(key);
        written += keyBytes(key);
      }
      return { events: 1, bytes: head.size[0]!, mutations: head.n, written };
    }
    const events = recordEvents(head, []);
    const keep = events.filter((e) => !drop.has(e.idx));
    const gone = events.length - keep.length;
    if (gone === 0) return { events: 0, bytes: 0, mutations: 0, written: 0 };
    const bytes = head.d.length - keep.reduce((sum, e) => sum + e.bytes.length, 0);
    if (keep.length === 0) {
      op?.delete(headKey);
      return { events: gone, bytes, mutations: 1, written: keyBytes(headKey) };
    }
    op?.set(headKey, buildRecord(keep)[0]);
    const value = headLength(keep.length, head.d.length - bytes);
    return { events: gone, bytes, mutations: 1, written: 2 * keyBytes(headKey) + value };
  }

  /**
   * Removes the events `targets` with their share of the counters, in as
   * few atomics as KV's limits allow. Each atomic checks the removal epoch
   * read before the record heads it rewrites, so an event removed
   * meanwhile by another writer is never counted out twice; the heads are
   * then read again. Returns what was removed.
   */
  async remove(targets: readonly EventRef[]): Promise<Removed> {
    const bySeq = new Map<number, Set<number>>();
    for (const t of targets) {
      let drop = bySeq.get(t.seq);
      if (drop === undefined) bySeq.set(t.seq, drop = new Set());
      drop.add(t.idx);
    }
    const seqs = [...bySeq.keys()];
    const total: Removed = { events: 0, bytes: 0 };
    for (let i = 0; i < seqs.length;) {
      const slice = seqs.slice(i, i + 100);
      for (;;) {
        const epoch = await this.epoch();
        const heads = await this.heads(slice);
        const plan: Array<{ seq: number; head: RecordHead }> = [];
        const sums: Removed = { events: 0, bytes: 0 };
        let mutations = 3;
        // The epoch check, then its bump and the two counters' sums.
        let written = keyBytes(this.rmKey) +
          [this.rmKey, this.bytesKey, this.countKey].reduce(
            (sum, key) => sum + 2 * keyBytes(key) + U64_BYTES,
            0,
          );
        let taken = 0;
        for (const seq of slice) {
          const head = heads.get(seq);
          if (head !== undefined) {
            const d = this.dropInto(undefined, seq, head, bySeq.get(seq)!);
            if (mutations + d.mutations > MAX_MUTATIONS || written + d.written > MAX_ATOMIC_BYTES) {
              break;
            }
            mutations += d.mutations;
            written += d.written;
            sums.events += d.events;
            sums.bytes += d.bytes;
            plan.push({ seq, head });
          }
          taken++;
        }
        if (sums.events === 0) {
          i += taken;
          break;
        }
        const result = await this.commit(() => {
          const op = this.kv.atomic().check(epoch);
          for (const { seq, head } of plan) this.dropInto(op, seq, head, bySeq.get(seq)!);
          return op.sum(this.rmKey, 1n).sum(this.bytesKey, amount(-sums.bytes))
            .sum(this.countKey, amount(-sums.events));
        });
        if (result.ok) {
          total.events += sums.events;
          total.bytes += sums.bytes;
          i += taken;
          break;
        }
        // Something was removed meanwhile: read the heads again.
      }
    }
    return total;
  }
}

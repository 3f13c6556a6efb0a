/**
 * The buffer's layout in Deno KV and the atomics that keep it consistent.
 *
 * Keys under `["bulwark", "buffer", name]`:
 * - `"bytes"`, `"count"`: `Deno.KvU64` counters, changed (with `sum`) in
 *   the same atomic as the records they count;
 * - `"next"`: the next record number, a `Deno.KvU64` set under a
 *   versionstamp check, so record numbers follow commit order across every
 *   writer of the KV;
 * - `"r", seq, chunk`: a record's chunks (see record.ts).
 *
 * - `"rm"`: the removal epoch, a `Deno.KvU64` bumped by every atomic that
 *   deletes records.
 *
 * An enqueue checks `"bytes"` and `"next"` (every write moves `"bytes"`); a
 * removal checks `"rm"` as read before it read the records it removes, so
 * a record is never counted out twice.
 *
 * @module
 */

import { systemClock } from "../core/clock.ts";
import { isHead, type RecordHead } from "./record.ts";

/** Mutations one atomic may hold (Deno KV limit, DESIGN.md §4). */
export const MAX_MUTATIONS = 1_000;
/** Bytes of keys and values one atomic may hold (we stay under 819,200). */
export const MAX_ATOMIC_BYTES = 800_000;
/** Entries `list` reads per round trip. */
const LIST_BATCH = 500;
/** Commits retried on "database is locked" (two processes on one file). */
const LOCK_RETRIES = 200;

const U64_WRAP = 1n << 64n;

/** A stored record's place: its number, chunk count, size and head versionstamp. */
export interface StoredRef {
  seq: number;
  n: number;
  size: number;
  versionstamp: string;
}

/** A stored record read in full: its ref, head and chunks. */
export interface StoredRecord extends StoredRef {
  head: RecordHead;
  rest: Uint8Array[];
}

/** The removal epoch as read (`"rm"`); a removal checks it. */
export type Epoch = Deno.AtomicCheck;

/** The counters of a buffer. */
export interface Counters {
  bytes: Deno.KvEntryMaybe<Deno.KvU64>;
  count: Deno.KvEntryMaybe<Deno.KvU64>;
  next: Deno.KvEntryMaybe<Deno.KvU64>;
  rm: Deno.KvEntryMaybe<Deno.KvU64>;
}

/** `n` (maybe negative) as an amount for `sum`: u64 wraps, so -n is 2^64 - n (DESIGN.md §4). */
export function amount(n: number): bigint {
  return n >= 0 ? BigInt(n) : U64_WRAP - BigInt(-n);
}

/** A counter's value (0 when absent). */
export function value(entry: Deno.KvEntryMaybe<Deno.KvU64>): number {
  return entry.value === null ? 0 : Number(entry.value.value);
}

function isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|busy/i.test(error.message);
}

/** The keys of one buffer. */
export class KvRecords {
  readonly kv: Deno.Kv;
  readonly prefix: Deno.KvKey;
  readonly bytesKey: Deno.KvKey;
  readonly countKey: Deno.KvKey;
  readonly nextKey: Deno.KvKey;
  readonly recordPrefix: Deno.KvKey;
  readonly rmKey: Deno.KvKey;

  constructor(kv: Deno.Kv, name: string) {
    this.kv = kv;
    this.prefix = ["bulwark", "buffer", name];
    this.bytesKey = [...this.prefix, "bytes"];
    this.countKey = [...this.prefix, "count"];
    this.nextKey = [...this.prefix, "next"];
    this.recordPrefix = [...this.prefix, "r"];
    this.rmKey = [...this.prefix, "rm"];
  }

  /** The key of chunk `chunk` of record `seq`. */
  key(seq: number, chunk: number): Deno.KvKey {
    return [...this.recordPrefix, seq, chunk];
  }

  /** Reads the counters in one snapshot. */
  async counters(): Promise<Counters> {
    const [bytes, count, next, rm] = await this.kv.getMany<
      [Deno.KvU64, Deno.KvU64, Deno.KvU64, Deno.KvU64]
    >([this.bytesKey, this.countKey, this.nextKey, this.rmKey]);
    return { bytes: bytes!, count: count!, next: next!, rm: rm! };
  }

  /**
   * Commits `build()`'s atomic; retries while another process holds the
   * database lock (rebuilding it each time). `ok` says whether its checks held.
   */
  async commit(
    build: () => Deno.AtomicOperation,
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
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
   * Reads whole records oldest first, starting after record `after`, up to
   * (not including) record `before`. A record whose chunks vanished while
   * it was read (removed by another writer) is skipped. `pageSize` is how
   * many entries each round trip reads (a caller wanting n records passes n).
   */
  async *records(
    after = -1,
    before = Infinity,
    pageSize = LIST_BATCH,
  ): AsyncGenerator<StoredRecord> {
    const selector: Deno.KvListSelector = after < 0
      ? { prefix: this.recordPrefix }
      : { prefix: this.recordPrefix, start: this.key(after + 1, 0) };
    let current: StoredRecord | undefined;
    for await (
      const entry of this.kv.list(selector, { batchSize: Math.min(pageSize, LIST_BATCH) })
    ) {
      const seq = entry.key[this.recordPrefix.length] as number;
      const chunk = entry.key[this.recordPrefix.length + 1] as number;
      if (seq >= before) return;
      if (chunk === 0) {
        if (!isHead(entry.value)) {
          throw new TypeError(`record ${seq} of ${this.prefix.join("/")} is not a buffer record`);
        }
        const head = entry.value;
        current = {
          seq,
          n: head.n,
          size: head.size,
          versionstamp: entry.versionstamp,
          head,
          rest: [],
        };
      } else if (current?.seq === seq && chunk === current.rest.length + 1) {
        current.rest.push(entry.value as Uint8Array);
      } else {
        current = undefined; // a torn read: the record was removed meanwhile
        continue;
      }
      if (current !== undefined && current.rest.length + 1 === current.n) {
        const done = current;
        current = undefined;
        yield done;
      }
    }
  }

  /** Reads the heads of records `seqs` (10 keys per read, the KV limit). */
  async heads(seqs: readonly number[]): Promise<StoredRef[]> {
    const found: StoredRef[] = [];
    for (let i = 0; i < seqs.length; i += 10) {
      const slice = seqs.slice(i, i + 10);
      const entries = await this.kv.getMany(slice.map((seq) => this.key(seq, 0)));
      entries.forEach((entry, j) => {
        if (entry.versionstamp !== null && isHead(entry.value)) {
          found.push({
            seq: slice[j]!,
            n: entry.value.n,
            size: entry.value.size,
            versionstamp: entry.versionstamp,
          });
        }
      });
    }
    return found;
  }

  /** Reads the removal epoch: every atomic that deletes records bumps it. */
  epoch(): Promise<Epoch> {
    return this.kv.get(this.rmKey);
  }

  /**
   * Adds the deletion of `ref` to `op`. The caller also bumps the epoch
   * (`op.sum(rmKey, 1n)`) and checks what makes its view current.
   */
  deleteInto(op: Deno.AtomicOperation, ref: StoredRef): void {
    for (let c = 0; c < ref.n; c++) op.delete(this.key(ref.seq, c));
  }

  /**
   * Removes the records `refs` (each once, oldest first) with their share
   * of the counters, in as few atomics as KV's limits allow. `epoch` must
   * have been read before `refs` were: each atomic checks it, so a record
   * removed meanwhile by another writer is never counted out twice (the
   * heads are then read again and what is gone is left out). Returns the
   * removed refs and the epoch after the last commit.
   */
  async remove(
    refs: readonly StoredRef[],
    epoch: Epoch,
  ): Promise<{ removed: StoredRef[]; epoch: Epoch }> {
    const removed: StoredRef[] = [];
    let i = 0;
    while (i < refs.length) {
      let slice: StoredRef[] = [];
      let mutations = 3;
      for (; i < refs.length; i++) {
        if (mutations + refs[i]!.n > MAX_MUTATIONS) break;
        mutations += refs[i]!.n;
        slice.push(refs[i]!);
      }
      for (;;) {
        const bytes = slice.reduce((sum, r) => sum + r.size, 0);
        const current = epoch;
        const result = await this.commit(() => {
          const op = this.kv.atomic().check(current);
          for (const ref of slice) this.deleteInto(op, ref);
          return op.sum(this.rmKey, 1n).sum(this.bytesKey, amount(-bytes))
            .sum(this.countKey, amount(-slice.length));
        });
        if (result.ok) {
          epoch = { key: this.rmKey, versionstamp: result.versionstamp };
          break;
        }
        // Something was removed meanwhile: keep what is still there.
        epoch = await this.epoch();
        slice = await this.heads(slice.map((r) => r.seq));
        if (slice.length === 0) break;
      }
      removed.push(...slice);
    }
    return { removed, epoch };
  }
}

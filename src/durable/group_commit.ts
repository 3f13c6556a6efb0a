/**
 * Group commit: the enqueues waiting when a commit starts are written in
 * one atomic (as many as KV's limits allow), together with the size
 * counters, the admission check and, with `onFull: "drop_oldest"`, the
 * eviction of the oldest records.
 *
 * @module
 */

import type { OnFull } from "./buffer_options.ts";
import {
  amount,
  type KvRecords,
  MAX_ATOMIC_BYTES,
  MAX_MUTATIONS,
  type StoredRecord,
  value,
} from "./kv_records.ts";
import {
  buildRecord,
  CHUNK_BYTES,
  MAX_EVENT_BYTES,
  MAX_EVENTS_PER_RECORD,
  packable,
  PER_EVENT_BYTES,
  recordEvents,
  type RecordHead,
  type RecordSealer,
  type StoredEvent,
} from "./record.ts";

/** One enqueued event waiting for its commit. */
export interface PendingEvent {
  /** The codec's bytes. */
  bytes: Uint8Array;
  /** Stored bytes (with the sealer's overhead). */
  size: number;
  /** Clock time of the enqueue. */
  at: number;
  /** Settles the enqueue: true once committed, false when refused. */
  resolve(committed: boolean): void;
  /** Fails the enqueue. */
  reject(error: unknown): void;
}

/**
 * What one group commit did. The caller settles the events (after its own
 * bookkeeping, so that stats and events are current when an enqueue resolves).
 */
export interface GroupResult {
  /** Events committed. */
  committed: PendingEvent[];
  /** Events refused (full). */
  refused: PendingEvent[];
  /** Stored events evicted to make room. */
  evicted: number;
  /** Events that did not fit in this atomic, for the next one. */
  leftover: PendingEvent[];
  /** The counters after the commit. */
  count: number;
  bytes: number;
}

/** What a group commit needs to know about its buffer. */
export interface GroupContext {
  records: KvRecords;
  name: string;
  maxSizeBytes: number;
  onFull: OnFull;
  sealer: RecordSealer;
}

/** Key and value overhead assumed per KV mutation when sizing an atomic (see below). */
const PER_MUTATION_BYTES = 160;

/**
 * What KV counts for one record value besides its data: the key (the name
 * is in it) and the value's serialization. Measured: about 140 bytes for a
 * 1,000-byte record of a buffer named "default"; we assume 160 plus the
 * name's bytes.
 */
function perMutationBytes(name: string): number {
  return PER_MUTATION_BYTES + new TextEncoder().encode(name).length;
}

/**
 * The largest event (stored bytes) that one atomic of buffer `name` takes
 * alone: 768 KiB, less when the name is longer than 592 UTF-8 bytes (its
 * keys then take more of the atomic's bytes).
 */
export function largestEvent(name: string): number {
  const perMutation = perMutationBytes(name);
  const room = MAX_ATOMIC_BYTES - 4 * perMutation - PER_EVENT_BYTES;
  for (let chunks = Math.ceil(MAX_EVENT_BYTES / CHUNK_BYTES); chunks > 0; chunks--) {
    const size = Math.min(MAX_EVENT_BYTES, chunks * CHUNK_BYTES, room - chunks * perMutation);
    if (size > (chunks - 1) * CHUNK_BYTES) return size;
  }
  return 0;
}

/** A record being assembled from admitted events. */
interface NewRecord {
  seq: number;
  items: PendingEvent[];
  bytes: number;
}

/** Oldest records chosen for eviction, with the events dropped from each. */
interface Eviction {
  seq: number;
  head: RecordHead;
  drop: Set<number>;
}

/**
 * Commits as much of `group` as one atomic takes and returns what it did,
 * with the events left for the next atomic. Small events share records
 * (up to one KV value each); a large one gets its own, in chunks. Retries
 * from a fresh read of the counters when another writer changed them.
 */
export async function commitGroup(ctx: GroupContext, group: PendingEvent[]): Promise<GroupResult> {
  const { records, maxSizeBytes } = ctx;
  const perMutation = perMutationBytes(ctx.name);
  for (;;) {
    const counters = await records.counters();
    let bytes = value(counters.bytes);
    let count = value(counters.count);
    let next = value(counters.next);
    const created: NewRecord[] = [];
    let open: NewRecord | undefined;
    const refused: PendingEvent[] = [];
    const evictions = new Map<number, Eviction>();
    let evicted = 0;
    let leftover: PendingEvent[] = [];
    let mutations = 4; // bytes, count, next and rm
    let atomicBytes = 4 * perMutation;
    let admittedBytes = 0;
    let oldest: AsyncGenerator<StoredRecord> | undefined;
    let oldestEvents: StoredEvent[] = [];
    let oldestRecord: StoredRecord | undefined;
    let rewrite = 0; // bytes charged for the partly evicted record's rewrite
    try {
      for (let i = 0; i < group.length; i++) {
        const item = group[i]!;
        const packs = packable(item.size);
        const joins = packs && open !== undefined &&
          open.bytes + item.size + PER_EVENT_BYTES <= CHUNK_BYTES &&
          open.items.length < MAX_EVENTS_PER_RECORD;
        const chunks = joins ? 0 : Math.max(1, Math.ceil(item.size / CHUNK_BYTES));
        const cost = item.size + PER_EVENT_BYTES + chunks * perMutation;
        if (mutations + chunks > MAX_MUTATIONS || atomicBytes + cost > MAX_ATOMIC_BYTES) {
          leftover = group.slice(i);
          break;
        }
        if (bytes + item.size > maxSizeBytes) {
          // Evicting can make room only for what fits beside this group's own events.
          if (ctx.onFull === "reject" || admittedBytes + item.size > maxSizeBytes) {
            refused.push(item);
            continue;
          }
          let stuck = false;
          // Only the record left partly evicted is rewritten: charge it once the item has room.
          atomicBytes -= rewrite;
          rewrite = 0;
          while (bytes + item.size > maxSizeBytes) {
            if (oldestEvents.length === 0) {
              oldest ??= records.records();
              const step = await oldest.next();
              if (step.done) break;
              const r = step.value;
              // A record is deleted or rewritten once: count its mutations on first touch.
              if (mutations + r.head.n + chunks > MAX_MUTATIONS) {
                stuck = true; // this round commits what it evicted; the next goes on
                break;
              }
              oldestRecord = r;
              oldestEvents = recordEvents(r.head, r.rest);
              evictions.set(r.seq, { seq: r.seq, head: r.head, drop: new Set() });
              mutations += r.head.n;
            }
            const e = oldestEvents.shift()!;
            evictions.get(oldestRecord!.seq)!.drop.add(e.idx);
            evicted++;
            bytes -= e.bytes.length;
            count--;
          }
          if (oldestEvents.length > 0) {
            // A record of one chunk, partly evicted: rewritten with what it keeps, when that
            // fits beside the item; else it is evicted whole (a delete writes no value).
            const written = oldestRecord!.head.d.length + perMutation;
            if (atomicBytes + written + cost <= MAX_ATOMIC_BYTES) {
              rewrite = written;
              atomicBytes += written;
            } else {
              const drop = evictions.get(oldestRecord!.seq)!.drop;
              for (const e of oldestEvents) {
                drop.add(e.idx);
                evicted++;
                bytes -= e.bytes.length;
                count--;
              }
              oldestEvents = [];
            }
          }
          if (stuck) {
            leftover = group.slice(i);
            break;
          }
          if (bytes + item.size > maxSizeBytes) {
            refused.push(item);
            continue;
          }
        }
        if (joins) {
          open!.items.push(item);
          open!.bytes += item.size + PER_EVENT_BYTES;
        } else {
          const record = { seq: next++, items: [item], bytes: item.size + PER_EVENT_BYTES };
          created.push(record);
          open = packs ? record : undefined;
        }
        bytes += item.size;
        admittedBytes += item.size;
        count++;
        mutations += chunks;
        atomicBytes += cost;
      }
    } finally {
      await oldest?.return(undefined);
    }
    const committed = created.flatMap((r) => r.items);
    if (committed.length === 0 && evicted === 0) {
      return { committed: [], refused, evicted: 0, leftover, count, bytes };
    }
    const values = await Promise.all(created.map(async (r) => {
      const events: StoredEvent[] = await Promise.all(r.items.map(async (item, idx) => ({
        idx,
        at: item.at,
        bytes: await ctx.sealer.seal(item.bytes, ctx.name, r.seq, idx),
      })));
      return { seq: r.seq, chunks: buildRecord(events) };
    }));
    const delta = bytes - value(counters.bytes);
    const countDelta = count - value(counters.count);
    const { ok } = await records.commit(() => {
      const op = records.kv.atomic().check(counters.bytes).check(counters.next);
      if (evictions.size > 0) {
        // The evicted records were read after the counters: checking "rm" covers them.
        op.check(counters.rm).sum(records.rmKey, 1n);
        for (const e of evictions.values()) records.dropInto(op, e.seq, e.head, e.drop);
      }
      for (const { seq, chunks } of values) {
        chunks.forEach((chunk, c) => op.set(records.key(seq, c), chunk));
      }
      // "next" moves by sum, not set: no KvU64 is constructed, so a kv of either
      // runtime (Deno.Kv, npm @deno/kv) keeps counters of its own class (kv.ts).
      return op.sum(records.bytesKey, amount(delta)).sum(records.countKey, amount(countDelta))
        .sum(records.nextKey, amount(next - value(counters.next)));
    });
    if (!ok) continue; // another writer moved the counters: decide again
    return { committed, refused, evicted, leftover, count, bytes };
  }
}

/**
 * Queues enqueues and commits them in groups, one atomic at a time: the
 * events waiting when a commit starts go in it (as many as fit), the rest
 * and those arriving meanwhile in the next.
 */
export class GroupCommitter {
  readonly #ctx: GroupContext;
  readonly #exclusive: <R>(fn: () => Promise<R>) => Promise<R>;
  readonly #onCommitted: (result: GroupResult) => void;
  #pending: PendingEvent[] = [];
  #pump: Promise<void> | undefined;

  /**
   * `exclusive` runs a commit after the buffer's other writing steps;
   * `onCommitted` does the buffer's bookkeeping before the events settle.
   */
  constructor(
    ctx: GroupContext,
    exclusive: <R>(fn: () => Promise<R>) => Promise<R>,
    onCommitted: (result: GroupResult) => void,
  ) {
    this.#ctx = ctx;
    this.#exclusive = exclusive;
    this.#onCommitted = onCommitted;
  }

  /** Queues an event for the next commit. */
  add(item: PendingEvent): void {
    this.#pending.push(item);
    this.#pump ??= Promise.resolve().then(() => this.#run());
  }

  /** Resolves once nothing is queued or being committed. */
  async idle(): Promise<void> {
    while (this.#pump !== undefined) await this.#pump;
  }

  async #run(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending;
        this.#pending = [];
        try {
          const result = await this.#exclusive(() => commitGroup(this.#ctx, group));
          let leftover = result.leftover;
          if (leftover.length === group.length) {
            // Nothing committed, refused or evicted: the head can never fit in an atomic.
            const head = leftover[0]!;
            leftover = leftover.slice(1);
            head.reject(
              new RangeError(
                `event must fit in one KV atomic of buffer ${
                  JSON.stringify(this.#ctx.name)
                }: received ${head.size} bytes`,
              ),
            );
          }
          this.#pending = [...leftover, ...this.#pending];
          this.#onCommitted(result);
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
}

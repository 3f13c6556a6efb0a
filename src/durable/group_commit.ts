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
  type StoredRef,
  value,
} from "./kv_records.ts";
import { CHUNK_BYTES, type RecordSealer, toChunks } from "./record.ts";

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
 * Commits as much of `group` as one atomic takes and returns what it did,
 * with the events left for the next atomic. Retries from a fresh read of the counters when another
 * writer changed them in between.
 */
export async function commitGroup(ctx: GroupContext, group: PendingEvent[]): Promise<GroupResult> {
  const { records, maxSizeBytes } = ctx;
  const perMutation = perMutationBytes(ctx.name);
  for (;;) {
    const counters = await records.counters();
    let bytes = value(counters.bytes);
    let count = value(counters.count);
    let next = value(counters.next);
    const admitted: Array<{ item: PendingEvent; seq: number }> = [];
    const refused: PendingEvent[] = [];
    const evicted: StoredRef[] = [];
    let leftover: PendingEvent[] = [];
    let mutations = 4; // bytes, count, next and rm
    let atomicBytes = 4 * perMutation;
    let admittedBytes = 0;
    let oldest: AsyncGenerator<StoredRecord> | undefined;
    try {
      for (let i = 0; i < group.length; i++) {
        const item = group[i]!;
        const chunks = Math.max(1, Math.ceil(item.size / CHUNK_BYTES));
        const cost = item.size + chunks * perMutation;
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
          while (bytes + item.size > maxSizeBytes) {
            oldest ??= records.records();
            const step = await oldest.next();
            if (step.done) break;
            const r = step.value;
            if (mutations + r.n + chunks > MAX_MUTATIONS) {
              stuck = true;
              break;
            }
            evicted.push(r);
            bytes -= r.size;
            count--;
            mutations += r.n;
            atomicBytes += r.n * perMutation;
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
        admitted.push({ item, seq: next++ });
        bytes += item.size;
        admittedBytes += item.size;
        count++;
        mutations += chunks;
        atomicBytes += cost;
      }
    } finally {
      await oldest?.return(undefined);
    }
    if (admitted.length === 0 && evicted.length === 0) {
      return { committed: [], refused, evicted: 0, leftover, count, bytes };
    }
    const sealed = await Promise.all(
      admitted.map(({ item, seq }) => ctx.sealer.seal(item.bytes, ctx.name, seq)),
    );
    const delta = bytes - value(counters.bytes);
    const countDelta = count - value(counters.count);
    const { ok } = await records.commit(() => {
      const op = records.kv.atomic().check(counters.bytes).check(counters.next);
      // The evicted records were read after the counters: checking "rm" covers them.
      if (evicted.length > 0) op.check(counters.rm).sum(records.rmKey, 1n);
      for (const ref of evicted) records.deleteInto(op, ref);
      admitted.forEach(({ item, seq }, j) => {
        const [head, ...rest] = toChunks(sealed[j]!, item.at);
        op.set(records.key(seq, 0), head);
        rest.forEach((chunk, k) => op.set(records.key(seq, k + 1), chunk));
      });
      op.sum(records.bytesKey, amount(delta)).sum(records.countKey, amount(countDelta));
      return op.set(records.nextKey, new Deno.KvU64(BigInt(next)));
    });
    if (!ok) continue; // another writer moved the counters: decide again
    return {
      committed: admitted.map((a) => a.item),
      refused,
      evicted: evicted.length,
      leftover,
      count,
      bytes,
    };
  }
}

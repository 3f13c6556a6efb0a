/**
 * The flush loop of `EdgeBuffer`: read a batch after the last event sent,
 * send it, and remove the sent events together, once `REMOVE_EVERY` were
 * sent and always before returning.
 *
 * @module
 */

import type { Policy } from "../policy/policy.ts";
import type { FlushSpan } from "../telemetry/otel_buffer.ts";
import type { BufferEntry, BufferSend, FlushResult } from "./buffer_types.ts";
import type { EventRef } from "./kv_records.ts";

/**
 * Events a flush sends before it removes them, in one commit: a crash in
 * between sends them again (the resend window). One removal commit per
 * batch of 100 held a flush to about 40,000 events/s (docs/performance.md).
 */
export const REMOVE_EVERY = 1_000;

const NEVER = new AbortController().signal;

/** What the flush loop needs of its buffer. */
export interface FlushHost<T> {
  /** Up to `limit` live events of the records before `before`, after `after` when given. */
  read(
    limit: number,
    before: number,
    after: EventRef | undefined,
  ): Promise<Array<{ entry: BufferEntry<T>; ref: EventRef }>>;
  /** Removes the events `refs` (heads read fresh), counting them as flushed. */
  remove(refs: readonly EventRef[]): Promise<void>;
  /** The next record number and the stored count, read from KV. */
  counters(): Promise<[next: number, count: number]>;
  /** The stored count as this buffer last saw it. */
  level(): number;
  /** Reports a batch removed (`buffer_flushed`). */
  flushed(count: number, remaining: number): void;
  /** The flush's span. */
  span: FlushSpan;
}

/** One flush's arguments. */
export interface FlushRun<T> {
  send: BufferSend<T>;
  batchSize: number;
  policy: Policy | undefined;
  signal: AbortSignal | undefined;
}

/**
 * Runs one flush. A batch counts as sent (and is reported) once its removal
 * committed; a removal that fails ends the flush with its error like a
 * failed `send` (the batches stay, to be sent again). A failed read rejects,
 * after what was delivered is removed.
 *
 * @example
 * ```ts
 * import { EdgeBuffer } from "@bulwark/bulwark/durable";
 * import assert from "node:assert/strict";
 *
 * await using buffer = await EdgeBuffer.open<number>({ path: ":memory:", telemetry: false });
 * await buffer.enqueueMany([1, 2, 3]);
 * // EdgeBuffer.flush runs runFlush:
 * assert.deepEqual(await buffer.flush(async () => {}, { batchSize: 2 }), {
 *   sent: 3,
 *   batches: 2,
 *   remaining: 0,
 * });
 * ```
 */
export async function runFlush<T>(host: FlushHost<T>, run: FlushRun<T>): Promise<FlushResult> {
  const { send, batchSize, policy, signal } = run;
  let sent = 0;
  let batches = 0;
  let error: unknown;
  // Sent batches not yet removed: their events' refs and each batch's size.
  let unremoved: EventRef[] = [];
  let sizes: number[] = [];
  const removeSent = async (): Promise<boolean> => {
    if (unremoved.length === 0) return true;
    const refs = unremoved;
    const counts = sizes;
    unremoved = [];
    sizes = [];
    try {
      await host.remove(refs);
    } catch (failure) {
      // Delivered but not removed: these batches stay and are sent again (at least once).
      error ??= failure;
      return false;
    }
    sent += refs.length;
    batches += counts.length;
    let remaining = host.level() + refs.length;
    for (const count of counts) host.flushed(count, remaining -= count);
    return true;
  };
  try {
    // Records written after the flush started wait for the next flush.
    const [before] = await host.counters();
    // Each batch is read after the last event sent, before the sent ones are removed.
    let cursor: EventRef | undefined;
    for (;;) {
      const page = await host.read(batchSize, before, cursor);
      if (page.length === 0) break;
      const events = page.map((r) => r.entry.event);
      const ids = page.map((r) => r.entry.id);
      try {
        signal?.throwIfAborted();
        if (policy === undefined) await send(events, { ids, signal: signal ?? NEVER });
        else await policy.execute(({ signal: s }) => send(events, { ids, signal: s }), { signal });
      } catch (failure) {
        error = failure;
        break;
      }
      for (const r of page) unremoved.push(r.ref);
      sizes.push(page.length);
      cursor = page[page.length - 1]!.ref;
      if (unremoved.length >= REMOVE_EVERY && !(await removeSent())) break;
    }
  } catch (failure) {
    await removeSent(); // what was delivered is removed before the failure is reported
    host.span.end(sent, host.level(), failure);
    throw failure;
  }
  await removeSent();
  const [, remaining] = await host.counters();
  host.span.end(sent, remaining, error);
  return error === undefined ? { sent, batches, remaining } : { sent, batches, remaining, error };
}

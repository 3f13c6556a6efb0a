/**
 * `@bulwark/bulwark/durable`: a durable edge buffer on Deno KV, a batch
 * processor (NDJSON, gzip) and an outbox that drains the buffer through a
 * policy. Kept out of the main entry point so that a user of the engine
 * alone pulls in no Deno KV types. On Node, pass `kv`: the `Kv` of npm
 * `@deno/kv` (`await openKv("buffer.db")`); a buffer stores only bytes and
 * counters, so one file is shared by Deno and Node; see docs/durable.md.
 *
 * @example
 * ```ts
 * import { EdgeBuffer } from "@bulwark/bulwark/durable";
 * import assert from "node:assert/strict";
 *
 * await using buffer = await EdgeBuffer.open({ path: ":memory:", telemetry: false });
 * assert.equal(await buffer.enqueue({ celsius: 21.5 }), true);
 * assert.equal((await buffer.stats()).count, 1);
 * ```
 *
 * @module
 */

export { EdgeBuffer } from "./src/durable/edge_buffer.ts";
export type {
  BufferEntry,
  BufferSend,
  BufferStats,
  FlushOptions,
  FlushResult,
} from "./src/durable/buffer_types.ts";
export type { BufferCodec, EdgeBufferOptions, OnFull } from "./src/durable/buffer_options.ts";
export { BufferDecryptError, MAX_EVENT_BYTES } from "./src/durable/record.ts";
export type {
  KvAtomic,
  KvCheck,
  KvCommitOutcome,
  KvCounter,
  KvEntryMaybe,
  KvKey,
  KvKeyPart,
  KvLike,
} from "./src/durable/kv.ts";
export { BatchProcessor, encodeBatch } from "./src/durable/batch.ts";
export type {
  Batch,
  BatchEncoding,
  BatchProcessorOptions,
  Compression,
} from "./src/durable/batch.ts";
export { createOutbox } from "./src/durable/outbox.ts";
export type {
  Outbox,
  OutboxBatchOptions,
  OutboxOptions,
  OutboxStats,
} from "./src/durable/outbox.ts";

/**
 * Request bodies that can be sent more than once.
 *
 * @module
 */

import { PermanentError } from "../classify/markers.ts";

/**
 * Methods that are idempotent by definition (RFC 9110 §9.2.2) and so safe
 * to retry; the HTTP client retries only these, and requests carrying an
 * `Idempotency-Key`.
 *
 * @example
 * ```ts
 * import { IDEMPOTENT_METHODS } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(IDEMPOTENT_METHODS.has("PUT"));
 * assert.ok(!IDEMPOTENT_METHODS.has("POST"));
 * ```
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "OPTIONS",
  "PUT",
  "DELETE",
  "TRACE",
]);

/** True when a request may be retried without risking a duplicate effect. */
export function isRetryable(
  method: string,
  headers: Headers,
  retryNonIdempotent: boolean,
): boolean {
  return retryNonIdempotent || IDEMPOTENT_METHODS.has(method) || headers.has("idempotency-key");
}

/**
 * The request body could not be made re-sendable: it is larger than
 * `maxBufferedBodyBytes`, or reading it failed or was cut off. A
 * `PermanentError`, so the call ends with it instead of retrying with a
 * half-read stream.
 *
 * @example
 * ```ts
 * import { defaultClassifier, RequestBodyError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.equal(defaultClassifier(new RequestBodyError("too large")), "permanent");
 * ```
 */
export class RequestBodyError extends PermanentError {}

/**
 * Reads a streamed body into memory once, so every attempt can resend it.
 * Rejects with a {@link RequestBodyError} naming `maxBufferedBodyBytes` as
 * soon as the body grows past the limit, and with `signal.reason` as soon as
 * `signal` aborts; either way the rest of the stream is cancelled.
 */
export async function bufferBody(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = stream.getReader();
  // Cancelling the reader settles a pending read, which then sees the abort.
  const onAbort = () => void reader.cancel(signal!.reason).catch(() => {});
  if (signal?.aborted) {
    onAbort();
    throw signal.reason;
  }
  signal?.addEventListener("abort", onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw signal.reason;
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new RequestBodyError(
          `request body is larger than maxBufferedBodyBytes (${maxBytes} bytes): a streamed body is ` +
            `buffered so a retry can resend it; raise the limit, send a non-streamed body, or make ` +
            `the request non-retryable`,
        );
      }
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

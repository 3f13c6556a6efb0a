/**
 * `createClient`: a resilient `fetch` with a policy, a connection pool,
 * idempotency-aware retries, deadline propagation and latency percentiles.
 *
 * @module
 */

import { systemClock } from "../core/clock.ts";
import {
  AttemptTimeoutError,
  BulkheadRejectedError,
  CircuitOpenError,
  FailureBudgetExceededError,
  PoolTimeoutError,
  RetryExhaustedError,
} from "../core/errors.ts";
import {
  integerAtLeast,
  integerBetween,
  knownKeys,
  nameOption,
  numberAbove,
  objectValue,
  typeError,
  under,
} from "../core/validate.ts";
import { Bulkhead, MAX_BULKHEAD_SIZE } from "../bulkhead/bulkhead.ts";
import { Policy } from "../policy/policy.ts";
import type { AttemptContext } from "../engine/attempt.ts";
import { LatencyHistogram } from "../core/latency_histogram.ts";
import { DEADLINE_HEADER } from "./deadline_propagation.ts";
import { bufferBody, isRetryable, RequestBodyError } from "./request_body.ts";
import { TransientError } from "../classify/markers.ts";
import { DEFAULT_REDACTED_PARAMS, redactedParams, redactError, redactResponse } from "./redact.ts";
import {
  CLIENT_KEYS,
  type ClientOptions,
  type ClientRequestInit,
  type ClientStats,
  paramsOption,
  POOL_KEYS,
  type ResilientClient,
  type Sending,
  type Upload,
  urlOption,
  withRetryAfterCap,
} from "./client_options.ts";
export type {
  ClientOptions,
  ClientRequestInit,
  ClientStats,
  PoolOptions,
  ResilientClient,
} from "./client_options.ts";

/** Cancels the body of a response that will not reach the caller. */
function cancelBody(value: unknown): void {
  if (value instanceof Response && value.body !== null && !value.bodyUsed) {
    value.body.cancel().catch(() => {});
  }
}

/**
 * Creates a resilient HTTP client. Every request runs under the policy
 * (retries by classification, `Retry-After`, circuit breaker, deadline), with
 * these HTTP rules on top:
 *
 * - Only idempotent requests are retried: GET, HEAD, OPTIONS, PUT, DELETE,
 *   TRACE, and any request with an `Idempotency-Key` header (or all, with
 *   `retryNonIdempotent`). Others make one attempt. The same rule holds
 *   for hedges (a policy with `hedge`): a hedge is an attempt, so only
 *   idempotent requests are hedged; a hedge that starts while the first
 *   attempt still reads a streamed body waits for that read and resends it.
 * - A failing response (503, 429, ...) is a failed attempt; its body is
 *   cancelled before a retry so no connection leaks. When retries run out,
 *   the last response is returned as `fetch` would return it.
 * - A streamed request body is buffered once (up to `maxBufferedBodyBytes`)
 *   so retries can resend it.
 * - At most `pool.maxConnections` attempts are in flight; others wait in
 *   FIFO order up to `connectionTimeoutMs`, then the call fails with
 *   `PoolTimeoutError` (not retried); a hedge that times out so while
 *   another attempt of its call is under way fails transiently instead,
 *   leaving that attempt running. Keep-alive connections come from one
 *   `Deno.createHttpClient` where the runtime has it.
 * - The call's deadline travels downstream in the `bulwark-deadline` header.
 * - A `Retry-After` delays a retry by at most 60 s (60,000 ms) unless the
 *   client's policy options set `retry.maxRetryAfterMs`; a longer one is cut
 *   to the cap. A {@link Policy} passed in keeps its own setting.
 * - Credentials in the URL (the userinfo and the values of the
 *   `redactQueryParams`) are redacted in what the client reports: errors
 *   fetch throws (copied, same class) and the `url` of failing responses, so
 *   events, `RetryExhaustedError` and spans. The request is sent unchanged;
 *   a successful response is not touched.
 *
 * @example
 * ```ts
 * import { createClient } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * let hits = 0;
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   ++hits === 1 ? new Response("busy", { status: 503 }) : new Response("ok"));
 * const client = createClient({
 *   baseUrl: `http://127.0.0.1:${server.addr.port}`,
 *   policy: { telemetry: false, retry: { maxAttempts: 3, backoff: () => 0 } },
 * });
 * const res = await client.fetch("/thing");
 * assert.equal(await res.text(), "ok");
 * assert.equal(client.stats().retries, 1);
 * client.close();
 * await server.shutdown();
 * ```
 */
export function createClient(options: ClientOptions = {}): ResilientClient {
  objectValue("options", options);
  knownKeys("", options, CLIENT_KEYS);
  const name = nameOption("name", options.name, "http");
  const clock = options.clock ?? systemClock;
  const redactParams = options.redactQueryParams === undefined
    ? DEFAULT_REDACTED_PARAMS
    : redactedParams(paramsOption(options.redactQueryParams));
  const baseUrl = options.baseUrl === undefined
    ? undefined
    : urlOption(options.baseUrl, redactParams);
  const timeoutMs = options.timeoutMs === undefined
    ? undefined
    : numberAbove("timeoutMs", options.timeoutMs, 0);
  const maxBody = integerAtLeast(
    "maxBufferedBodyBytes",
    options.maxBufferedBodyBytes ?? 1 << 20,
    0,
  );
  const retryNonIdempotent = options.retryNonIdempotent ?? false;
  if (typeof retryNonIdempotent !== "boolean") {
    typeError("retryNonIdempotent", "a boolean", retryNonIdempotent);
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    typeError("fetch", "a function", options.fetch);
  }
  const pool = options.pool ?? {};
  objectValue("pool", pool);
  knownKeys("pool", pool, POOL_KEYS);
  const maxConnections = integerBetween(
    "pool.maxConnections",
    pool.maxConnections ?? 64,
    1,
    MAX_BULKHEAD_SIZE,
  );
  const connectionTimeoutMs = numberAbove(
    "pool.connectionTimeoutMs",
    pool.connectionTimeoutMs ?? 5_000,
    0,
  );
  const idleTimeoutMs = numberAbove("pool.idleTimeoutMs", pool.idleTimeoutMs ?? 30_000, 0);
  const maxQueue = integerBetween("pool.maxQueue", pool.maxQueue ?? 10_000, 0, MAX_BULKHEAD_SIZE);
  const ownsPolicy = !(options.policy instanceof Policy);
  if (options.policy !== undefined && ownsPolicy) objectValue("policy", options.policy);
  const policy = options.policy instanceof Policy
    ? options.policy
    : under("policy", () =>
      new Policy(name, {
        clock,
        ...withRetryAfterCap(options.policy as Exclude<typeof options.policy, Policy>),
      }));
  const gate = new Bulkhead({
    name: `${name} pool`,
    maxConcurrent: maxConnections,
    maxQueue,
    queueTimeoutMs: connectionTimeoutMs,
    clock,
  });
  const httpClient = typeof Deno !== "undefined" && typeof Deno.createHttpClient === "function"
    ? Deno.createHttpClient({ poolMaxIdlePerHost: maxConnections, poolIdleTimeout: idleTimeoutMs })
    : undefined;
  const histogram = new LatencyHistogram();
  const stats: ClientStats = {
    requestsSent: 0,
    responsesReceived: 0,
    timeouts: 0,
    retries: 0,
    failures: 0,
    rejected: 0,
  };
  const closing = new AbortController();

  /**
   * Counts an attempt the policy's attempt timeout cut, when it fires (in the
   * pool queue too, and before the call settles). One listener per client.
   */
  const countPolicyTimeout = (event: Event): void => {
    if ((event.target as AbortSignal).reason instanceof AttemptTimeoutError) stats.timeouts++;
  };

  /** The first attempt reads the streamed body into memory, so later attempts can resend it. */
  async function readUpload(upload: Upload, ctx: AttemptContext): Promise<void> {
    upload.reading = ctx.signal;
    // Reading the body is part of the attempt: the deadline (ctx.signal)
    // and `timeoutMs` cover it, so a stalled upload cannot hang the call.
    let readSignal = ctx.signal;
    let readTimer;
    if (timeoutMs !== undefined) {
      const controller = new AbortController();
      readSignal = AbortSignal.any([ctx.signal, controller.signal]);
      // The caller's stream stalled, not the server: a permanent failure
      // (no retry, nothing recorded against the breaker or the budget).
      readTimer = clock.setTimer(() => {
        stats.timeouts++;
        const timeout = new AttemptTimeoutError(
          `client "${name}": attempt ${ctx.attempt} could not read the request body ` +
            `within ${timeoutMs} ms`,
          { policy: name, attempt: ctx.attempt, timeoutMs },
        );
        controller.abort(
          new RequestBodyError(`client "${name}": the request body stalled`, {
            cause: timeout,
          }),
        );
      }, timeoutMs);
    }
    try {
      upload.pending = bufferBody(upload.stream, maxBody, readSignal);
      upload.buffered = await upload.pending;
    } catch (error) {
      upload.failed = error;
      throw error;
    } finally {
      if (readTimer !== undefined) clock.clearTimer(readTimer);
    }
  }

  /**
   * A later attempt finds the body not buffered: a hedge started while an
   * earlier attempt still reads it waits for that read; a read that was cut
   * off cannot be resent.
   */
  async function awaitUpload(upload: Upload, ctx: AttemptContext): Promise<void> {
    if (upload.failed === undefined && !upload.reading!.aborted) {
      const signal = ctx.signal;
      let onAbort: (() => void) | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          onAbort = () => reject(signal.reason);
          if (signal.aborted) onAbort();
          signal.addEventListener("abort", onAbort, { once: true });
          upload.pending!.then(() => resolve(), () => resolve());
        });
      } finally {
        signal.removeEventListener("abort", onAbort!);
      }
    }
    if (upload.buffered === undefined) {
      throw new RequestBodyError(
        `client "${name}": the request body could not be buffered for a retry`,
        { cause: upload.failed ?? upload.reading!.reason },
      );
    }
  }

  /**
   * One attempt of a call. `sending` counts the call's attempts under way
   * (more than one when the policy hedges) and the requests it sent.
   */
  async function send(
    url: URL,
    method: string,
    headers: Headers,
    body: BodyInit | null,
    upload: Upload | undefined,
    sending: Sending,
    ctx: AttemptContext,
  ): Promise<Response> {
    sending.attempts++;
    ctx.signal.addEventListener("abort", countPolicyTimeout);
    try {
      return await sendAttempt(url, method, headers, body, upload, sending, ctx);
    } finally {
      ctx.signal.removeEventListener("abort", countPolicyTimeout);
      sending.attempts--;
    }
  }

  async function sendAttempt(
    url: URL,
    method: string,
    headers: Headers,
    body: BodyInit | null,
    upload: Upload | undefined,
    sending: Sending,
    ctx: AttemptContext,
  ): Promise<Response> {
    if (ctx.attempt > 1) stats.retries++;
    if (upload !== undefined) {
      if (upload.buffered === undefined) {
        if (upload.reading === undefined) await readUpload(upload, ctx);
        else await awaitUpload(upload, ctx);
      }
      body = upload.buffered!;
    }
    let permit;
    try {
      permit = await gate.acquire({ signal: ctx.signal });
    } catch (error) {
      if (error instanceof BulkheadRejectedError) {
        // Classified permanent: a local queue that is too long says nothing
        // about the server, so the call ends instead of retrying into it.
        const timeout = new PoolTimeoutError(
          `client "${name}": no free connection within ${connectionTimeoutMs} ms ` +
            `(${maxConnections} in use, ${gate.queued} waiting)`,
          { policy: name, cause: error },
        );
        // A hedge beside an attempt still under way only failed to add a
        // request: a transient failure, which leaves that attempt running.
        if (sending.attempts > 1) {
          throw new TransientError(
            `client "${name}": attempt ${ctx.attempt} (a hedge) found no free connection`,
            { cause: timeout },
          );
        }
        throw timeout;
      }
      throw error;
    }
    const attemptHeaders = new Headers(headers);
    if (Number.isFinite(ctx.deadline)) {
      attemptHeaders.set(DEADLINE_HEADER, String(Math.floor(ctx.deadline)));
    }
    let signal = ctx.signal;
    let timer;
    let timedOut: AttemptTimeoutError | undefined;
    if (timeoutMs !== undefined) {
      const controller = new AbortController();
      signal = AbortSignal.any([ctx.signal, controller.signal]);
      timer = clock.setTimer(() => {
        stats.timeouts++;
        timedOut = new AttemptTimeoutError(
          `client "${name}": attempt ${ctx.attempt} got no response within ${timeoutMs} ms`,
          { policy: name, attempt: ctx.attempt, timeoutMs },
        );
        controller.abort(timedOut);
      }, timeoutMs);
    }
    const started = clock.now();
    stats.requestsSent++;
    sending.sent++;
    try {
      const init: RequestInit & { client?: Deno.HttpClient } = {
        method,
        headers: attemptHeaders,
        body,
        signal,
        redirect: "follow",
      };
      if (httpClient !== undefined) init.client = httpClient;
      const response = await (options.fetch ?? globalThis.fetch)(url, init);
      stats.responsesReceived++;
      histogram.record(Math.max(0, clock.now() - started));
      // A failing response goes to the classifier, the events and maybe the
      // give-up error: its URL must not carry credentials. Only failures pay.
      return response.ok ? response : redactResponse(response, redactParams);
    } catch (error) {
      if (timedOut !== undefined) throw timedOut;
      // An abort reason stays itself (the policy compares it); anything else
      // fetch threw (`TypeError: fetch failed`, whose cause names the URL) is
      // replaced by a redacted copy of the same class when it has a secret.
      throw signal.aborted && error === signal.reason ? error : redactError(error, redactParams);
    } finally {
      if (timer !== undefined) clock.clearTimer(timer);
      permit.release();
    }
  }

  async function clientFetch(
    input: string | URL | Request,
    init: ClientRequestInit = {},
  ): Promise<Response> {
    if (closing.signal.aborted) throw new TypeError(`client "${name}" is closed`);
    const request = input instanceof Request ? input : undefined;
    let url: URL;
    try {
      url = request !== undefined ? new URL(request.url) : new URL(input as string | URL, baseUrl);
    } catch (error) {
      // "Invalid URL: '<input>'" would repeat the credentials.
      throw redactError(error, redactParams);
    }
    const method = (init.method ?? request?.method ?? "GET").toUpperCase();
    const headers = new Headers(init.headers ?? request?.headers);
    const retryable = isRetryable(method, headers, retryNonIdempotent);
    const body: BodyInit | null = init.body ?? request?.body ?? null;
    // A streamed body of a retryable request is read into memory by the
    // first attempt, under that attempt's signal (caller, deadline, timeout).
    const upload: Upload | undefined = retryable && body instanceof ReadableStream
      ? { stream: body }
      : undefined;
    const callerSignal = init.signal ?? request?.signal;
    const sending: Sending = { attempts: 0, sent: 0 };
    try {
      const response = await policy.execute(
        (ctx) => send(url, method, headers, body, upload, sending, ctx),
        {
          signal: callerSignal ? AbortSignal.any([closing.signal, callerSignal]) : closing.signal,
          deadline: init.deadline,
          maxAttempts: retryable ? undefined : 1,
          discard: cancelBody,
        },
      );
      if (!response.ok) stats.failures++;
      return response;
    } catch (error) {
      if (error instanceof RetryExhaustedError && error.lastResult instanceof Response) {
        // Out of retries on a failing response: hand it over as fetch would.
        stats.failures++;
        return error.lastResult;
      }
      // Refused without a request only when none of its attempts was sent: a
      // call whose retry the open circuit stops did send requests.
      if (
        sending.sent === 0 &&
        (error instanceof PoolTimeoutError || error instanceof CircuitOpenError ||
          error instanceof BulkheadRejectedError || error instanceof FailureBudgetExceededError)
      ) {
        stats.rejected++;
      }
      stats.failures++;
      throw error;
    }
  }

  return {
    fetch: clientFetch,
    stats: () => ({ ...stats }),
    percentile: (p) => histogram.percentile(p),
    close() {
      if (closing.signal.aborted) return;
      closing.abort(new TypeError(`client "${name}" is closed`));
      httpClient?.close();
      // A policy the client built lets go of any shared parts it was given.
      if (ownsPolicy) policy[Symbol.dispose]();
    },
  };
}

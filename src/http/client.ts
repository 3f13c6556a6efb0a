/**
 * `createClient`: a resilient `fetch` with a policy, a connection pool,
 * idempotency-aware retries, deadline propagation and latency percentiles.
 *
 * @module
 */

import { type Clock, systemClock } from "../core/clock.ts";
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
import { Policy, type PolicyOptions } from "../policy/policy.ts";
import type { AttemptContext } from "../engine/attempt.ts";
import { LatencyHistogram } from "./latency_histogram.ts";
import { DEADLINE_HEADER } from "./deadline_propagation.ts";
import { bufferBody, isRetryable, RequestBodyError } from "./request_body.ts";
import {
  DEFAULT_REDACTED_PARAMS,
  type RedactedParams,
  redactedParams,
  redactError,
  redactText,
} from "./redact.ts";

/**
 * How long the client's own policy waits at most for a `Retry-After` (a
 * response's header or an error's `retryAfterMs`) unless `retry.maxRetryAfterMs`
 * is set: 60,000 ms. A server asking for longer (`Retry-After: 2592000`, 30
 * days) is retried after this instead.
 */
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/** Connection pool settings of {@link createClient}. */
export interface PoolOptions {
  /** Requests in flight at once (each attempt holds one slot until its response headers arrive). Default 64. */
  maxConnections?: number;
  /** Longest wait for a free slot before `PoolTimeoutError`. Default 5,000 ms. */
  connectionTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept. Default 30,000 ms. */
  idleTimeoutMs?: number;
  /** Most requests waiting for a slot; more are rejected at once with `PoolTimeoutError`. Default 10,000. */
  maxQueue?: number;
}

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Name of the client (and of the policy it creates). Default `"http"`. */
  name?: string;
  /** Base for relative URLs. */
  baseUrl?: string | URL;
  /**
   * The policy every request runs under: a {@link Policy} (shared with other
   * code) or options for one of the client's own. A call makes up to 3
   * attempts unless `retry.maxAttempts` says otherwise (with or without this
   * option), with decorrelated jitter and `Retry-After` honoured. The
   * client's own policy waits at most `retry.maxRetryAfterMs` for a
   * `Retry-After`, default 60,000 ms: a longer
   * request is cut to it (set `maxRetryAfterMs: Infinity` for no cap). A
   * {@link Policy} passed in keeps its own setting.
   */
  policy?: Policy | PolicyOptions;
  /** Timeout of each attempt: reading a streamed request body, then the request until its response headers (each phase gets this long). */
  timeoutMs?: number;
  /** Connection pool. */
  pool?: PoolOptions;
  /** Retry POST and PATCH without an `Idempotency-Key` too. Default false. */
  retryNonIdempotent?: boolean;
  /** Largest streamed request body buffered for retries. Default 1 MiB. */
  maxBufferedBodyBytes?: number;
  /** The fetch to call. Default: `globalThis.fetch`, looked up per request. */
  fetch?: typeof fetch;
  /** Time source for timeouts, pool waits and latencies. Default `systemClock`. */
  clock?: Clock;
  /**
   * Query (and fragment) parameters whose values are replaced with
   * `REDACTED` wherever the client reports a URL: in the errors it throws
   * or hands to the policy (message, stack, cause chain) and in the `url` of
   * a failing response (so in `onEvent` events, `RetryExhaustedError` and
   * spans). Matched case-insensitively. This list *replaces* the default,
   * `DEFAULT_REDACTED_QUERY_PARAMS`; spread that to extend it. The
   * userinfo (`user:password@`) is always removed. The request itself is
   * sent unchanged.
   */
  redactQueryParams?: readonly string[];
}

/** `init` of {@link ResilientClient.fetch}: `RequestInit` plus a deadline. */
export interface ClientRequestInit extends RequestInit {
  /**
   * Absolute deadline (clock milliseconds; epoch ms with the system clock),
   * e.g. from `deadlineFromRequest(incoming, now)`. Sent downstream in the
   * `bulwark-deadline` header.
   */
  deadline?: number;
}

/** Counters of {@link ResilientClient.stats}. */
export interface ClientStats {
  /** Attempts sent to the network (first tries and retries). */
  requestsSent: number;
  /** Attempts that got a response (any status). */
  responsesReceived: number;
  /** Attempts that timed out (`timeoutMs` or the policy's attempt timeout). */
  timeouts: number;
  /** Attempts after the first of their call. */
  retries: number;
  /** Calls that ended in an error or returned a failing response. */
  failures: number;
  /** Calls refused without a request: pool timeout, open circuit, full bulkhead, breached budget. */
  rejected: number;
}

/** What {@link createClient} returns. */
export interface ResilientClient {
  /** `fetch` with the client's policy, pool and deadline propagation. */
  fetch(input: string | URL | Request, init?: ClientRequestInit): Promise<Response>;
  /** A snapshot of the counters. */
  stats(): ClientStats;
  /** The p-th percentile (0..100) of attempt latency in ms (request to headers); NaN before any. */
  percentile(p: number): number;
  /** Aborts requests in flight, closes pooled connections; later calls reject. */
  close(): void;
}

const CLIENT_KEYS = [
  "name",
  "baseUrl",
  "policy",
  "timeoutMs",
  "pool",
  "retryNonIdempotent",
  "maxBufferedBodyBytes",
  "fetch",
  "clock",
  "redactQueryParams",
];
const POOL_KEYS = ["maxConnections", "connectionTimeoutMs", "idleTimeoutMs", "maxQueue"];

/** A streamed request body, buffered by the call's first attempt. */
interface Upload {
  stream: ReadableStream<Uint8Array>;
  /** The signal of the attempt that started reading the stream. */
  reading?: AbortSignal;
  buffered?: Uint8Array<ArrayBuffer>;
  failed?: unknown;
}

/**
 * The client's own policy options with `retry.maxRetryAfterMs` defaulted to
 * `DEFAULT_MAX_RETRY_AFTER_MS`. Anything that is not an options object
 * is passed on as it is, for the policy to report.
 */
function withRetryAfterCap(options: PolicyOptions | undefined): PolicyOptions | undefined {
  if (options === undefined) return { retry: { maxRetryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS } };
  if (typeof options !== "object" || options === null) return options;
  const retry = options.retry;
  if (retry === undefined) {
    return { ...options, retry: { maxRetryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS } };
  }
  if (typeof retry !== "object" || retry === null || Array.isArray(retry)) return options;
  if (retry.maxRetryAfterMs !== undefined) return options;
  return { ...options, retry: { ...retry, maxRetryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS } };
}

/**
 * Makes a failing response report its URL redacted: an own `url` property
 * shadows `Response.prototype.url`. A response that cannot take one (frozen)
 * is copied, body and all.
 */
function redactResponse(response: Response, params: RedactedParams): Response {
  const url = response.url;
  const redacted = redactText(url, params);
  if (redacted === url) return response;
  const target = Object.isExtensible(response) ? response : new Response(response.body, response);
  Object.defineProperty(target, "url", { value: redacted, configurable: true });
  return target;
}

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
 *   `retryNonIdempotent`). Others make one attempt.
 * - A failing response (503, 429, ...) is a failed attempt; its body is
 *   cancelled before a retry so no connection leaks. When retries run out,
 *   the last response is returned as `fetch` would return it.
 * - A streamed request body is buffered once (up to `maxBufferedBodyBytes`)
 *   so retries can resend it.
 * - At most `pool.maxConnections` attempts are in flight; others wait in
 *   FIFO order up to `connectionTimeoutMs`, then the call fails with
 *   `PoolTimeoutError` (not retried). Keep-alive connections come from one
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
    : under("policy", () => new Policy(name, { clock, ...withRetryAfterCap(options.policy) }));
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

  async function send(
    url: URL,
    method: string,
    headers: Headers,
    body: BodyInit | null,
    upload: Upload | undefined,
    ctx: AttemptContext,
  ): Promise<Response> {
    if (ctx.attempt > 1) stats.retries++;
    if (upload !== undefined) {
      if (upload.buffered === undefined) {
        if (upload.reading !== undefined) {
          // An earlier attempt started reading the stream and did not finish
          // (it was cut off): what is left of it cannot be resent.
          throw new RequestBodyError(
            `client "${name}": the request body could not be buffered for a retry`,
            { cause: upload.failed ?? upload.reading.reason },
          );
        }
        upload.reading = ctx.signal;
        // Reading the body is part of the attempt: the deadline (ctx.signal)
        // and `timeoutMs` cover it, so a stalled upload cannot hang the call.
        let readSignal = ctx.signal;
        let readTimer;
        if (timeoutMs !== undefined) {
          const controller = new AbortController();
          readSignal = AbortSignal.any([ctx.signal, controller.signal]);
          readTimer = clock.setTimer(() => {
            stats.timeouts++;
            controller.abort(
              new AttemptTimeoutError(
                `client "${name}": attempt ${ctx.attempt} could not read the request body ` +
                  `within ${timeoutMs} ms`,
                { policy: name, attempt: ctx.attempt, timeoutMs },
              ),
            );
          }, timeoutMs);
        }
        try {
          upload.buffered = await bufferBody(upload.stream, maxBody, readSignal);
        } catch (error) {
          upload.failed = error;
          throw error;
        } finally {
          if (readTimer !== undefined) clock.clearTimer(readTimer);
        }
      }
      body = upload.buffered;
    }
    let permit;
    try {
      permit = await gate.acquire({ signal: ctx.signal });
    } catch (error) {
      if (error instanceof BulkheadRejectedError) {
        // Classified permanent: a local queue that is too long says nothing
        // about the server, so the call ends instead of retrying into it.
        throw new PoolTimeoutError(
          `client "${name}": no free connection within ${connectionTimeoutMs} ms ` +
            `(${maxConnections} in use, ${gate.queued} waiting)`,
          { policy: name, cause: error },
        );
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
        timedOut = new AttemptTimeoutError(
          `client "${name}": attempt ${ctx.attempt} got no response within ${timeoutMs} ms`,
          { policy: name, attempt: ctx.attempt, timeoutMs },
        );
        controller.abort(timedOut);
      }, timeoutMs);
    }
    const started = clock.now();
    stats.requestsSent++;
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
      if (timedOut !== undefined || error instanceof AttemptTimeoutError) stats.timeouts++;
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
    try {
      const response = await policy.execute(
        (ctx) => send(url, method, headers, body, upload, ctx),
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
      if (
        error instanceof PoolTimeoutError || error instanceof CircuitOpenError ||
        error instanceof BulkheadRejectedError || error instanceof FailureBudgetExceededError
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

/** Validates `redactQueryParams`: an array of non-empty strings. */
function paramsOption(value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
    typeError("redactQueryParams", "an array of non-empty strings", value);
  }
  return value;
}

/**
 * Parses `baseUrl`, naming the option when it is not an absolute URL (shown
 * redacted).
 */
function urlOption(value: unknown, params: RedactedParams): URL {
  if (!(value instanceof URL) && typeof value !== "string") {
    typeError("baseUrl", "an absolute URL (a string or a URL)", value);
  }
  try {
    return new URL(value);
  } catch {
    const shown = typeof value === "string" ? redactText(value, params) : value;
    return typeError("baseUrl", "an absolute URL (a string or a URL)", shown);
  }
}

/**
 * The HTTP client's options, request init, stats and client types, and the
 * checks of the options that need more than the shared validators
 * (`baseUrl`, `redactQueryParams`, the default `Retry-After` cap of the
 * client's own policy). The types are public (re-exported by `client.ts`).
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import { typeError } from "../core/validate.ts";
import type { PolicyOptions } from "../policy/policy.ts";
import type { Policy } from "../policy/policy.ts";
import { type RedactedParams, redactText } from "./redact.ts";

/**
 * How long the client's own policy waits at most for a `Retry-After` (a
 * response's header or an error's `retryAfterMs`) unless `retry.maxRetryAfterMs`
 * is set: 60,000 ms. A server asking for longer (`Retry-After: 2592000`, 30
 * days) is retried after this instead.
 */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

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
  /**
   * Calls that ended refused (pool timeout, open circuit, full bulkhead,
   * breached budget) before any of their attempts sent a request. A call
   * whose retry is refused after a first request counts in `failures` only.
   */
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

export const CLIENT_KEYS = [
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
export const POOL_KEYS = ["maxConnections", "connectionTimeoutMs", "idleTimeoutMs", "maxQueue"];

/** A call's attempts under way and the requests it has sent so far. */
export interface Sending {
  attempts: number;
  sent: number;
}

/** A streamed request body, buffered by the call's first attempt. */
export interface Upload {
  stream: ReadableStream<Uint8Array>;
  /** The signal of the attempt that started reading the stream. */
  reading?: AbortSignal;
  /** The read under way, which a hedge started beside it waits for. */
  pending?: Promise<Uint8Array<ArrayBuffer>>;
  buffered?: Uint8Array<ArrayBuffer>;
  failed?: unknown;
}

/**
 * The client's own policy options with `retry.maxRetryAfterMs` defaulted to
 * `DEFAULT_MAX_RETRY_AFTER_MS`. Anything that is not an options object
 * is passed on as it is, for the policy to report.
 */
export function withRetryAfterCap(options: PolicyOptions | undefined): PolicyOptions | undefined {
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

/** Validates `redactQueryParams`: an array of non-empty strings. */
export function paramsOption(value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
    typeError("redactQueryParams", "an array of non-empty strings", value);
  }
  return value;
}

/**
 * Parses `baseUrl`, naming the option when it is not an absolute URL (shown
 * redacted).
 */
export function urlOption(value: unknown, params: RedactedParams): URL {
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

/**
 * A network conditioner: a `fetch` that adds latency, drops requests and
 * answers with error statuses, so a test (or a staging deployment) can see
 * how code behaves on a bad network without a proxy.
 *
 * @module
 */

import { InjectedFaultError } from "../core/errors.ts";
import { typeError } from "../core/validate.ts";
import {
  COMMON_FAULT_KEYS,
  type CommonFaultOptions,
  drawDelay,
  emitFault,
  rate,
  resolveCommon,
  type ResolvedFaultOptions,
} from "./options.ts";

/**
 * Which requests a conditioner affects: a string matched as a substring of
 * the request's absolute URL (`url.href`), a `RegExp` searched in it, or a
 * predicate on the parsed `URL`. Requests that do not match pass straight
 * through to the wrapped fetch.
 */
export type UrlFilter = string | RegExp | ((url: URL) => boolean);

/**
 * Options of {@link networkConditioner} and {@link installNetworkConditioner}.
 *
 * For each request that matches `urlFilter` while `enabled`, all random
 * draws happen when `fetch` is called, then:
 *
 * 1. the request waits `latencyMs + random(0, jitterMs)` on `clock`
 *    (abortable by the request's signal);
 * 2. with probability `lossRate` it is lost: the call rejects with an
 *    `InjectedFaultError` and the wrapped fetch is never called;
 * 3. otherwise, with probability `errorRate`, it resolves with an
 *    `errorStatus` response and the wrapped fetch is never called;
 * 4. otherwise the wrapped fetch runs.
 *
 * So over many requests the loss fraction is `lossRate` and the error
 * fraction is `(1 - lossRate) * errorRate`.
 */
export interface NetworkConditionerOptions extends CommonFaultOptions {
  /** Probability that a request is lost. Default 0. */
  lossRate?: number;
  /** Probability that a request that was not lost is answered with `errorStatus`. Default 0. */
  errorRate?: number;
  /** Status of injected error responses, an integer in 200..599. Default 503. */
  errorStatus?: number;
  /** Which requests to condition. Default: all of them. */
  urlFilter?: UrlFilter;
  /**
   * The fetch to wrap. Default: `globalThis.fetch` as it is when the
   * conditioner is created (or installed).
   */
  fetch?: typeof fetch;
}

const CONDITIONER_KEYS: readonly string[] = [
  ...COMMON_FAULT_KEYS,
  "lossRate",
  "errorRate",
  "errorStatus",
  "urlFilter",
  "fetch",
];

/** Statuses whose responses must not have a body. */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** Header set on injected error responses, so they can be told apart. */
const FAULT_HEADER = "x-bulwark-fault";

function matcher(filter: UrlFilter | undefined): ((url: URL) => boolean) | undefined {
  if (filter === undefined) return undefined;
  if (typeof filter === "string") return (url) => url.href.includes(filter);
  if (filter instanceof RegExp) return (url) => url.href.search(filter) !== -1;
  if (typeof filter === "function") return (url) => Boolean(filter(url));
  return typeError("urlFilter", "a string, a RegExp or a function", filter);
}

function requestUrl(input: string | URL | Request): URL | undefined {
  const href = input instanceof Request ? input.url : input instanceof URL ? input.href : input;
  try {
    return new URL(href);
  } catch {
    return undefined; // relative or malformed: the wrapped fetch reports it
  }
}

function requestSignal(input: string | URL | Request, init?: RequestInit): AbortSignal | undefined {
  return init?.signal ?? (input instanceof Request ? input.signal : undefined);
}

function requestMethod(input: string | URL | Request, init?: RequestInit): string {
  return (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
}

/**
 * Returns a `fetch` that conditions requests as described in
 * {@link NetworkConditionerOptions} and passes the rest to the wrapped fetch.
 * Every injected delay, loss and error is reported as a `fault_injected`
 * event (`fault: "latency"` with `delayMs`, `"loss"`, `"error"`); a delayed
 * request that is then lost reports both. A lost request rejects with an
 * `InjectedFaultError`, which `defaultClassifier` calls `transient`.
 *
 * @example Every request to /api fails with a 503
 * ```ts
 * import { networkConditioner } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const upstream = () => Promise.resolve(new Response("ok"));
 * const fetch = networkConditioner({ fetch: upstream, errorRate: 1, urlFilter: "/api/" });
 * const failed = await fetch("https://example.com/api/users");
 * assert.equal(failed.status, 503);
 * await failed.body?.cancel();
 * const passed = await fetch("https://example.com/health");
 * assert.equal(await passed.text(), "ok");
 * ```
 */
export function networkConditioner(options: NetworkConditionerOptions = {}): typeof fetch {
  const common = resolveCommon(options, CONDITIONER_KEYS);
  const lossRate = rate("lossRate", options.lossRate, 0);
  const errorRate = rate("errorRate", options.errorRate, 0);
  const errorStatus = options.errorStatus ?? 503;
  if (typeof errorStatus !== "number") {
    typeError("errorStatus", "an integer between 200 and 599", errorStatus);
  }
  if (!Number.isInteger(errorStatus) || errorStatus < 200 || errorStatus > 599) {
    throw new RangeError(
      `errorStatus must be an integer between 200 and 599: received ${errorStatus}`,
    );
  }
  const matches = matcher(options.urlFilter);
  const upstream = options.fetch ?? globalThis.fetch;
  if (typeof upstream !== "function") typeError("fetch", "a function", upstream);

  const conditioned = async (
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> => {
    if (!common.enabled()) return await upstream(input, init);
    if (matches !== undefined) {
      const url = requestUrl(input);
      if (url === undefined || !matches(url)) return await upstream(input, init);
    }
    const delayMs = drawDelay(common);
    const lost = common.random() < lossRate;
    const failed = !lost && common.random() < errorRate;
    const signal = requestSignal(input, init);
    if (delayMs > 0) {
      emitFault(common, "latency", delayMs);
      await common.clock.sleep(delayMs, signal);
    }
    signal?.throwIfAborted();
    if (lost) {
      emitFault(common, "loss");
      throw lossError(common, input, init);
    }
    if (failed) {
      emitFault(common, "error");
      return errorResponse(errorStatus);
    }
    return await upstream(input, init);
  };
  return conditioned;
}

function lossError(
  o: ResolvedFaultOptions,
  input: string | URL | Request,
  init?: RequestInit,
): InjectedFaultError {
  const url = requestUrl(input)?.href ?? String(input instanceof Request ? input.url : input);
  return new InjectedFaultError(
    `injected network loss ("${o.name}"): ${requestMethod(input, init)} ${url} was dropped`,
    { policy: o.name },
  );
}

function errorResponse(status: number): Response {
  const body = NULL_BODY_STATUSES.has(status) ? null : `injected fault: HTTP ${status}`;
  return new Response(body, { status, headers: { [FAULT_HEADER]: "error" } });
}

/**
 * The handle {@link installNetworkConditioner} returns. Disposing it (or
 * calling `restore()` / `uninstall()`, which are the same) puts back the
 * exact `globalThis.fetch` that was there before; doing so twice is a no-op.
 */
export interface InstalledNetworkConditioner extends Disposable {
  /** The conditioned fetch that was installed. */
  readonly fetch: typeof fetch;
  /** The `globalThis.fetch` that was replaced and is put back on restore. */
  readonly original: typeof fetch;
  /** True until the original fetch has been restored. */
  readonly installed: boolean;
  /** Puts back the original `globalThis.fetch`. */
  restore(): void;
  /** Same as {@link InstalledNetworkConditioner.restore}. */
  uninstall(): void;
}

/**
 * Replaces `globalThis.fetch` with a {@link networkConditioner} wrapping the
 * current one (unless `options.fetch` names another), so code that calls the
 * global `fetch` sees the bad network too. Returns a Disposable handle that
 * restores the original; prefer `using`. Restoring always puts back the
 * function that was replaced, so nested installs must be undone in reverse
 * order, which `using` does.
 *
 * @example Slow down every request in a block
 * ```ts
 * import { installNetworkConditioner } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const before = globalThis.fetch;
 * {
 *   using _slow = installNetworkConditioner({ latencyMs: 1, urlFilter: "example.invalid" });
 *   assert.notEqual(globalThis.fetch, before);
 * }
 * assert.equal(globalThis.fetch, before);
 * ```
 */
export function installNetworkConditioner(
  options: NetworkConditionerOptions = {},
): InstalledNetworkConditioner {
  const original = globalThis.fetch;
  const conditioned = networkConditioner(options);
  globalThis.fetch = conditioned;
  let installed = true;
  const restore = () => {
    if (!installed) return;
    installed = false;
    globalThis.fetch = original;
  };
  return {
    fetch: conditioned,
    original,
    get installed() {
      return installed;
    },
    restore,
    uninstall: restore,
    [Symbol.dispose]: restore,
  };
}

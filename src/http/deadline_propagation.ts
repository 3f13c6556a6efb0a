/**
 * Deadline propagation over HTTP: read a caller's deadline from an incoming
 * request (`bulwark-deadline` or gRPC's `grpc-timeout`) and send one
 * downstream.
 *
 * @module
 */

import { systemClock } from "../core/clock.ts";
import { rangeError, typeError } from "../core/validate.ts";

/**
 * Header carrying an absolute deadline in epoch milliseconds, e.g.
 * `bulwark-deadline: 1767225600000`.
 *
 * @example
 * ```ts
 * import { DEADLINE_HEADER } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const headers = new Headers({ [DEADLINE_HEADER]: "1767225600000" });
 * assert.equal(headers.get("bulwark-deadline"), "1767225600000");
 * ```
 */
export const DEADLINE_HEADER = "bulwark-deadline";

/**
 * gRPC's relative timeout header, e.g. `grpc-timeout: 250m` (250 ms).
 *
 * @example
 * ```ts
 * import { GRPC_TIMEOUT_HEADER, parseGrpcTimeout } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const headers = new Headers({ [GRPC_TIMEOUT_HEADER]: "2S" });
 * assert.equal(parseGrpcTimeout(headers.get(GRPC_TIMEOUT_HEADER)!), 2_000);
 * ```
 */
export const GRPC_TIMEOUT_HEADER = "grpc-timeout";

/** Milliseconds per `grpc-timeout` unit. */
const GRPC_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/** TimeoutValue (at most 8 ASCII digits) then TimeoutUnit. */
const GRPC_TIMEOUT = /^([0-9]{1,8})([HMSmun])$/;

/** Epoch milliseconds: digits with an optional fraction and an optional minus sign. */
const EPOCH_MS = /^-?[0-9]+(?:\.[0-9]+)?$/;

/**
 * Parses a `grpc-timeout` value into milliseconds, or returns `undefined`
 * when it is malformed.
 *
 * The format is the one of the gRPC over HTTP/2 protocol
 * (`PROTOCOL-HTTP2.md` in grpc/grpc): `TimeoutValue TimeoutUnit`, where the
 * value is an integer of at most 8 ASCII digits and the unit is `H` (hours),
 * `M` (minutes), `S` (seconds), `m` (milliseconds), `u` (microseconds) or
 * `n` (nanoseconds). Nothing else is accepted: no sign, fraction, spaces,
 * exponent or missing unit. The spec asks for a positive value; `0` is
 * accepted anyway (a timeout that has already run out) so that a caller's
 * exhausted budget is not mistaken for "no deadline". Sub-millisecond units
 * give fractional milliseconds (`1500u` is 1.5).
 *
 * @example
 * ```ts
 * import { parseGrpcTimeout } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseGrpcTimeout("250m"), 250);
 * assert.equal(parseGrpcTimeout("3S"), 3_000);
 * assert.equal(parseGrpcTimeout("1500u"), 1.5);
 * assert.equal(parseGrpcTimeout("250"), undefined); // no unit
 * assert.equal(parseGrpcTimeout("123456789m"), undefined); // more than 8 digits
 * ```
 */
export function parseGrpcTimeout(value: string): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = GRPC_TIMEOUT.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * GRPC_UNIT_MS[match[2]];
}

/** Parses a `bulwark-deadline` value; `undefined` when malformed or not finite. */
function parseDeadline(value: string): number | undefined {
  if (!EPOCH_MS.test(value)) return undefined;
  const deadline = Number(value);
  return Number.isFinite(deadline) ? deadline : undefined;
}

/**
 * The deadline an incoming request carries, as absolute epoch milliseconds,
 * or `undefined` when it carries none that is valid.
 *
 * Two headers are read:
 *
 * - `bulwark-deadline` ({@link DEADLINE_HEADER}): absolute epoch
 *   milliseconds as an integer or decimal string (`1767225600000`,
 *   `1767225600000.5`; a leading `-` is allowed, so that a negative
 *   virtual-clock deadline written by {@link withDeadlineHeader} reads back).
 *   Anything else (exponents, spaces, a repeated header, which `Headers`
 *   joins with `", "`) is ignored.
 * - `grpc-timeout` ({@link GRPC_TIMEOUT_HEADER}): a relative timeout in the
 *   gRPC format (see {@link parseGrpcTimeout}), turned into `now + timeout`.
 *
 * When both are valid, the earlier deadline wins. The deadline may already
 * be in the past; the caller decides what that means. `now` is the current
 * time in epoch milliseconds, `systemClock.now()` unless given (pass the
 * clock's time when testing in virtual time). Throws a `TypeError` or
 * `RangeError` when `now` is not a finite number.
 *
 * @example
 * ```ts
 * import { deadlineFromRequest } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const now = 1_767_225_600_000;
 * const grpc = new Request("http://localhost/", { headers: { "grpc-timeout": "500m" } });
 * assert.equal(deadlineFromRequest(grpc, now), now + 500);
 *
 * const both = new Request("http://localhost/", {
 *   headers: { "grpc-timeout": "10S", "bulwark-deadline": String(now + 2_000) },
 * });
 * assert.equal(deadlineFromRequest(both, now), now + 2_000); // the earlier one
 *
 * const none = new Request("http://localhost/");
 * assert.equal(deadlineFromRequest(none), undefined); // `now` defaults to the system clock
 * ```
 */
export function deadlineFromRequest(
  req: Request,
  now: number = systemClock.now(),
): number | undefined {
  if (typeof now !== "number") typeError("now", "a finite number", now);
  if (!Number.isFinite(now)) rangeError("now", "a finite number", now);
  const headers = req.headers;
  const absolute = headers.get(DEADLINE_HEADER);
  const timeout = headers.get(GRPC_TIMEOUT_HEADER);
  const fromAbsolute = absolute === null ? undefined : parseDeadline(absolute);
  const timeoutMs = timeout === null ? undefined : parseGrpcTimeout(timeout);
  const fromTimeout = timeoutMs === undefined ? undefined : now + timeoutMs;
  if (fromAbsolute === undefined) return fromTimeout;
  if (fromTimeout === undefined) return fromAbsolute;
  return Math.min(fromAbsolute, fromTimeout);
}

/**
 * Returns a copy of `headers` with `bulwark-deadline` set to
 * `Math.floor(deadline)` (epoch milliseconds), for a request sent
 * downstream. The input is never modified. A non-finite deadline (NaN,
 * `Infinity`: no deadline) sets nothing, so the copy keeps whatever
 * `bulwark-deadline` the input already had; a finite one replaces it. Throws
 * a `TypeError` when `deadline` is not a number.
 *
 * @example
 * ```ts
 * import { deadlineFromRequest, withDeadlineHeader } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const now = 1_767_225_600_000;
 * const headers = withDeadlineHeader({ accept: "application/json" }, now + 1_500.7);
 * assert.equal(headers.get("bulwark-deadline"), String(now + 1_500));
 * assert.equal(headers.get("accept"), "application/json");
 *
 * const downstream = new Request("http://localhost/", { headers });
 * assert.equal(deadlineFromRequest(downstream, now), now + 1_500);
 *
 * assert.equal(withDeadlineHeader(undefined, Infinity).has("bulwark-deadline"), false);
 * ```
 */
export function withDeadlineHeader(headers: HeadersInit | undefined, deadline: number): Headers {
  if (typeof deadline !== "number") typeError("deadline", "a number", deadline);
  const copy = new Headers(headers);
  if (Number.isFinite(deadline)) copy.set(DEADLINE_HEADER, String(Math.floor(deadline)));
  return copy;
}

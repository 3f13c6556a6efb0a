/**
 * The rate-limit token: where a call waits for its token. A free token is
 * taken at once (by the fast path or by admission); otherwise the call
 * waits for one up to the limiter's `maxWaitMs` and never past its
 * deadline, or is refused with `RateLimitedError` at once.
 *
 * @module
 */

import type { CallTracer, TokenGate } from "./parts.ts";
import type { Reporter } from "./report.ts";

/**
 * Waits for a token from `limiter` (no token was free). The limiter decides
 * at once whether the wait fits; its `rate_limited` event, emitted then,
 * reaches the call's tracer as the event of a part this call caused.
 */
export function takeToken(
  engine: { readonly report: Reporter; readonly name: string },
  limiter: TokenGate,
  signal: AbortSignal | undefined,
  deadline: number,
  tracer: CallTracer,
): Promise<void> {
  const report = engine.report;
  report.cause = tracer;
  try {
    return limiter.acquire({ signal, deadline, policy: engine.name });
  } finally {
    report.cause = undefined;
  }
}

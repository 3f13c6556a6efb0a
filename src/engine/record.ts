/**
 * What the engine tells the circuit breaker and the failure budget about an
 * attempt: admit it, record its outcome, or release its half-open probe.
 * The fast path and the loop both go through here, with the call's tracer
 * set as the cause of any event a part emits meanwhile (so a transition is
 * linked to the call that caused it).
 *
 * @module
 */

import { RECORD, type RecordKind } from "./outcome.ts";
import type { AttemptGate, CallTracer, OutcomeRecorder } from "./parts.ts";
import { NOOP_TRACER, type Reporter } from "./report.ts";

/** The parts an attempt's outcome goes to, and the reporter of the engine. */
export interface Recorded {
  readonly circuit: AttemptGate | undefined;
  readonly failureBudget: OutcomeRecorder | undefined;
  readonly report: Reporter;
  /** The reporter has listeners. */
  readonly listening: boolean;
  /** The parts are the policy's own: an untraced call need not be named their events' cause. */
  readonly ownsParts: boolean;
}

/** Asks the circuit to admit an attempt (reserving a half-open probe), or refuses it. */
export function admitAttempt(engine: Recorded, circuit: AttemptGate, tracer: CallTracer): boolean {
  // (An owned part's events are the policy's whoever caused them: with no
  // tracer to link them to, the reporter is left untouched.)
  if (tracer === NOOP_TRACER && engine.ownsParts) return circuit.allowCall();
  const report = engine.report;
  report.cause = tracer;
  try {
    return circuit.allowCall();
  } finally {
    report.cause = undefined;
  }
}

/** True while the failure budget is breached (it may emit its breach event). */
export function budgetBreached(
  engine: Recorded,
  budget: OutcomeRecorder,
  tracer: CallTracer,
): boolean {
  const report = engine.report;
  report.cause = tracer;
  try {
    return budget.isBreached();
  } finally {
    report.cause = undefined;
  }
}

/**
 * Records an admitted attempt's outcome. {@link RECORD.release} frees the
 * breaker's probe and skips the budget (the attempt has no outcome); a
 * permanent failure is recorded as `release` too: it is the caller's
 * problem, not the dependency's. `at` stamps the budget's sample: the
 * attempt's end when it was read, else its start (the budget's buckets are
 * far wider than an attempt), else NaN and the budget reads the clock.
 */
export function recordOutcome(
  engine: Recorded,
  tracer: CallTracer,
  kind: RecordKind,
  durationMs: number,
  at: number,
): void {
  const circuit = engine.circuit;
  const budget = kind === RECORD.release ? undefined : engine.failureBudget;
  if (circuit === undefined && budget === undefined) return;
  if (tracer === NOOP_TRACER && engine.ownsParts) {
    record(circuit, budget, kind, durationMs, at);
    return;
  }
  const report = engine.report;
  report.cause = tracer;
  try {
    record(circuit, budget, kind, durationMs, at);
  } finally {
    report.cause = undefined;
  }
}

function record(
  circuit: AttemptGate | undefined,
  budget: OutcomeRecorder | undefined,
  kind: RecordKind,
  durationMs: number,
  at: number,
): void {
  if (circuit !== undefined) {
    if (kind === RECORD.release) circuit.releaseCall();
    else if (kind === RECORD.success) circuit.recordSuccess(durationMs);
    else circuit.recordFailure(durationMs);
  }
  budget?.record(kind === RECORD.failure, at);
}

/**
 * The attempt succeeded: the breaker and the budget record it and the
 * listeners hear of it (`now`: the attempt's end if read, else NaN).
 */
export function recordSuccess(
  engine: Recorded,
  tracer: CallTracer,
  attempt: number,
  durationMs: number,
  at: number,
  now: number,
): void {
  if (engine.circuit !== undefined || engine.failureBudget !== undefined) {
    recordOutcome(engine, tracer, RECORD.success, durationMs, at);
  }
  if (engine.listening) engine.report.success(tracer, attempt, now);
}

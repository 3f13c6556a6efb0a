/**
 * The events every part reports. Parts build an event object only when
 * someone listens ({@link EventSink.active}), so an unobserved policy pays
 * nothing; a listener that throws is isolated from the call it observes.
 *
 * @module
 */

import type { ErrorClass } from "./error_class.ts";

/** The states of a circuit breaker. */
export type CircuitState = "closed" | "open" | "half_open" | "isolated";

/** Fields every event carries. */
export interface EventBase {
  /** Name of the policy (or standalone part) that emitted the event. */
  policy: string;
  /** Clock time when it happened (milliseconds). */
  timestamp: number;
}

/** Fields of events about one attempt's failure. */
export interface AttemptFailure {
  /** The attempt that failed (1-based). */
  attempt: number;
  /** How the failure was classified. */
  errorClass: ErrorClass;
  /** The thrown error, or the failing value the attempt returned. */
  error: unknown;
}

/** The call succeeded on `attempt`. */
export interface SuccessEvent extends EventBase {
  /** Discriminant. */
  type: "success";
  /** The attempt that succeeded (1-based). */
  attempt: number;
}

/** Attempt `attempt` failed and the next one runs after `delayMs`. */
export interface RetryEvent extends EventBase, AttemptFailure {
  /** Discriminant. */
  type: "retry";
  /** How long the policy waits before the next attempt. */
  delayMs: number;
}

/** A permanent failure: no retry, the original error is rethrown. */
export interface PermanentFailEvent extends EventBase, AttemptFailure {
  /** Discriminant. */
  type: "permanent_fail";
}

/** The deadline passed, or the next retry could not finish before it. */
export interface DeadlineExceededEvent extends EventBase {
  /** Discriminant. */
  type: "deadline_exceeded";
  /** Attempts made. */
  attempt: number;
  /** The last failure's class, if an attempt failed. */
  errorClass?: ErrorClass;
  /** The last failure, if an attempt failed. */
  error?: unknown;
  /** The delay that would have ended past the deadline, if that is why. */
  delayMs?: number;
}

/** A retry limit ended the call; `type` names which. */
export interface GiveUpEvent extends EventBase, AttemptFailure {
  /** Which limit: attempts in all, attempts ending in unknown errors, or the class's budget. */
  type:
    | "max_attempts_exceeded"
    | "max_unknown_attempts_exceeded"
    | "class_budget_exhausted";
}

/**
 * A retry budget refused a retry. From a policy it carries the failed
 * attempt (`attempt`, `errorClass`, `error`); from a standalone
 * `RetryBudget` it carries the window's counts (`requests`, `retries`).
 */
export interface RetryBudgetExhaustedEvent extends EventBase, Partial<AttemptFailure> {
  /** Discriminant. */
  type: "retry_budget_exhausted";
  /** Requests in the budget's window (standalone budget only). */
  requests?: number;
  /** Retries granted in the budget's window (standalone budget only). */
  retries?: number;
}

/** One attempt ran past `attemptTimeoutMs` and was aborted. */
export interface AttemptTimeoutEvent extends EventBase {
  /** Discriminant. */
  type: "attempt_timeout";
  /** The attempt that timed out (1-based). */
  attempt: number;
  /** The timeout that elapsed. */
  timeoutMs: number;
}

/** A circuit breaker changed state. */
export interface CircuitTransitionEvent extends EventBase {
  /** Discriminant. */
  type: "circuit_transition";
  /** State before. */
  from: CircuitState;
  /** State after. */
  to: CircuitState;
  /** Why: `"failure_threshold"`, `"break_elapsed"`, `"probe_success"`, `"probe_failure"`, `"isolate"`, `"release"`, `"reset"`, ... */
  reason: string;
}

/** An open (or isolated) circuit rejected a call. */
export interface CircuitRejectedEvent extends EventBase {
  /** Discriminant. */
  type: "circuit_rejected";
  /** The breaker's state. */
  state: CircuitState;
  /** Milliseconds until a probe is admitted (Infinity while isolated). */
  retryAfterMs: number;
}

/** A failure budget went over (`failure_budget_breach`) or back under its threshold. */
export interface FailureBudgetEvent extends EventBase {
  /** Breach (the rate went over the threshold) or recovery. */
  type: "failure_budget_breach" | "failure_budget_recovered";
  /** Failure rate over the window, 0..1. */
  rate: number;
  /** The configured threshold. */
  threshold: number;
  /** Samples in the window. */
  samples: number;
}

/** A bulkhead refused a call (full, queue full, or queue wait timed out). */
export interface BulkheadRejectedEvent extends EventBase {
  /** Discriminant. */
  type: "bulkhead_rejected";
  /** Calls running when it refused. */
  inFlight: number;
  /** Calls queued when it refused. */
  queued: number;
  /** `"full"` when there was no room to queue, `"queue_timeout"` when the wait ran out. */
  reason: "full" | "queue_timeout";
}

/** Fault injection added latency, dropped a request or returned an error. */
export interface FaultInjectedEvent extends EventBase {
  /** Discriminant. */
  type: "fault_injected";
  /** What was injected. */
  fault: "latency" | "loss" | "error";
  /** Injected latency, when `fault` is `"latency"`. */
  delayMs?: number;
}

/** A watchdog fired on an operation that ran past its timeout. */
export interface WatchdogTimeoutEvent extends EventBase {
  /** Discriminant. */
  type: "watchdog_timeout";
  /** The timeout that elapsed. */
  timeoutMs: number;
}

/** A hedged call started another attempt while earlier ones still run. */
export interface HedgeEvent extends EventBase {
  /** Discriminant. */
  type: "hedge";
  /** The number of the attempt being started (1-based). */
  attempt: number;
  /** How long the call waited since its previous attempt started. */
  delayMs: number;
}

/** A rate limiter had no token for the call in time: the call was refused. */
export interface RateLimitedEvent extends EventBase {
  /** Discriminant. */
  type: "rate_limited";
  /** Milliseconds until a token would have been available for the call. */
  retryAfterMs: number;
}

/** A call gave up and its `fallback` ran instead. */
export interface FallbackEvent extends EventBase {
  /** Discriminant. */
  type: "fallback";
  /** Why the call gave up: its outcome (`permanent_fail`, `deadline_exceeded`, ...). */
  reason: string;
  /** Attempts made before giving up (0 when none was). */
  attempts: number;
}

/** A call joined one already in flight with the same `coalesceKey`. */
export interface CoalescedEvent extends EventBase {
  /** Discriminant. */
  type: "coalesced";
  /** The key the calls share. */
  key: string;
  /** Callers now waiting on the shared call, this one included. */
  callers: number;
}

/**
 * A fleet-synced part could not reach its state store (`@bulwark/bulwark/fleet`);
 * it keeps deciding on local state.
 */
export interface FleetSyncFailedEvent extends EventBase {
  /** Discriminant. */
  type: "fleet_sync_failed";
  /** What failed: the periodic sync, a transition's compare-and-set, or a probe-lease claim. */
  operation: "sync" | "transition" | "lease";
  /** The store's error. */
  error: unknown;
}

/** Why a durable buffer let events go without delivering them. */
export type BufferDropReason = "full" | "evicted" | "expired" | "cleared";

/**
 * A durable buffer (`@bulwark/bulwark/durable`) let events go undelivered:
 * refused while full, evicted for newer ones, expired, or cleared.
 */
export interface BufferDroppedEvent extends EventBase {
  /** Discriminant. */
  type: "buffer_dropped";
  /** Why. */
  reason: BufferDropReason;
  /** How many events. */
  count: number;
}

/** A durable buffer sent a batch and removed it. */
export interface BufferFlushedEvent extends EventBase {
  /** Discriminant. */
  type: "buffer_flushed";
  /** Events in the batch. */
  count: number;
  /** Events left in the buffer after the batch was removed. */
  remaining: number;
}

/**
 * Every event a policy or part reports, discriminated on `type`.
 *
 * @example Counting retries by class
 * ```ts
 * import { policy, type ResilienceEvent, TransientError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const retries: string[] = [];
 * const onEvent = (e: ResilienceEvent) => {
 *   if (e.type === "retry") retries.push(e.errorClass);
 * };
 * const p = policy("demo", { telemetry: false, onEvent, retry: { backoff: () => 0 } });
 * let n = 0;
 * await p.execute(() => (++n < 3 ? Promise.reject(new TransientError("x")) : Promise.resolve(n)));
 * assert.deepEqual(retries, ["transient", "transient"]);
 * ```
 */
export type ResilienceEvent =
  | SuccessEvent
  | RetryEvent
  | PermanentFailEvent
  | DeadlineExceededEvent
  | GiveUpEvent
  | RetryBudgetExhaustedEvent
  | AttemptTimeoutEvent
  | CircuitTransitionEvent
  | CircuitRejectedEvent
  | FailureBudgetEvent
  | BulkheadRejectedEvent
  | FaultInjectedEvent
  | WatchdogTimeoutEvent
  | HedgeEvent
  | RateLimitedEvent
  | FallbackEvent
  | CoalescedEvent
  | FleetSyncFailedEvent
  | BufferDroppedEvent
  | BufferFlushedEvent;

/** The `type` of every {@link ResilienceEvent}. */
export type ResilienceEventType = ResilienceEvent["type"];

/** A function that receives events synchronously. */
export type EventListener = (event: ResilienceEvent) => void;

/**
 * Fan-out of events to listeners. `active` is false while nobody listens, so
 * emitters skip building the event at all; each listener runs inside its own
 * `try`, so one that throws neither reaches the caller nor starves the others.
 *
 * @example
 * ```ts
 * import { EventSink, type ResilienceEvent } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const sink = new EventSink();
 * assert.equal(sink.active, false);
 * const seen: ResilienceEvent[] = [];
 * sink.add(() => { throw new Error("broken listener"); });
 * sink.add((e) => seen.push(e));
 * sink.emit({ type: "success", policy: "p", timestamp: 0, attempt: 1 });
 * assert.equal(seen.length, 1);
 * ```
 */
export class EventSink {
  #listeners: EventListener[] = [];
  // Kept beside the list so `active`, read on every call, touches only the sink.
  #active = false;

  /** Creates a sink, optionally with a first listener. */
  constructor(listener?: EventListener) {
    if (listener !== undefined) this.add(listener);
  }

  /** True when at least one listener is registered. */
  get active(): boolean {
    return this.#active;
  }

  /** Registers a listener; returns a function that removes it. */
  add(listener: EventListener): () => void {
    if (typeof listener !== "function") {
      throw new TypeError(`onEvent must be a function: received ${typeof listener}`);
    }
    this.#listeners = [...this.#listeners, listener];
    this.#active = true;
    this.activeChanged(true);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
      this.#active = this.#listeners.length > 0;
      this.activeChanged(this.#active);
    };
  }

  /** Called after a listener was added or removed, with {@link EventSink.active}. */
  protected activeChanged(_active: boolean): void {}

  /** Delivers `event` to every listener; listener errors are swallowed. */
  emit(event: ResilienceEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener must never change the outcome of the call it observes.
      }
    }
  }
}

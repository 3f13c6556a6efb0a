/**
 * Bulwark: a deadline-aware resilience runtime. Wrap calls to flaky services
 * in a {@link policy}: retries with error classification and per-class
 * budgets, one deadline across all attempts and sleeps, per-attempt
 * timeouts, and an event for every retry and give-up. This file is the
 * table of contents: the policy first, then what it is made of (classes of
 * failure, backoff, breaker, budgets, bulkhead), then errors and events,
 * time, telemetry, and the tools around it (HTTP, fault injection,
 * supervision). Test helpers are in `@bulwark/bulwark/testing`.
 *
 * @example
 * ```ts
 * import { exponential, policy } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const api = policy("api", {
 *   telemetry: false,
 *   deadlineMs: 2_000,
 *   attemptTimeoutMs: 500,
 *   retry: { maxAttempts: 4, budgets: { transient: 3 }, backoff: exponential({ baseMs: 0 }) },
 * });
 * const value = await api.execute(({ attempt }) => attempt);
 * assert.equal(value, 1);
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------
// The policy: one call's deadline, retries, parts and telemetry
// ---------------------------------------------------------------------------
export { Policy, policy } from "./src/policy/policy.ts";
export type { PolicyOptions, PolicyRetryOptions } from "./src/policy/policy.ts";
export { retry } from "./src/retry/retry.ts";
export type { RetryCallOptions } from "./src/retry/retry.ts";
export type { RetryOptions } from "./src/retry/retry_options.ts";
export type { AttemptContext, Operation } from "./src/engine/attempt.ts";
export type {
  EngineOptions,
  ExecuteOptions,
  FallbackInfo,
  FallbackReason,
} from "./src/engine/options.ts";
export type { HedgeOptions, HedgePercentile } from "./src/engine/hedge_delay.ts";
export type { CallOutcome } from "./src/engine/parts.ts";

// Policy declarations in JSON
export {
  PolicyDeclarationError,
  policyFromJSON,
  policyJsonSchema,
} from "./src/policy/policy_declaration.ts";
export type { DeclarationIssue } from "./src/policy/policy_declaration.ts";

// ---------------------------------------------------------------------------
// Classification: what kind of failure an attempt ended in
// ---------------------------------------------------------------------------
export { ERROR_CLASSES } from "./src/core/error_class.ts";
export type { Classifier, ErrorClass } from "./src/core/error_class.ts";
export { defaultClassifier } from "./src/classify/default_classifier.ts";
export { FlakyError, PermanentError, TransientError } from "./src/classify/markers.ts";
export { retryAfterMs } from "./src/classify/retry_after.ts";

// ---------------------------------------------------------------------------
// Backoff: the wait before each retry
// ---------------------------------------------------------------------------
export { constant } from "./src/backoff/constant.ts";
export { exponential } from "./src/backoff/exponential.ts";
export { fullJitter } from "./src/backoff/full_jitter.ts";
export { equalJitter } from "./src/backoff/equal_jitter.ts";
export { decorrelatedJitter } from "./src/backoff/decorrelated_jitter.ts";
export { tokenBackoff } from "./src/backoff/token_backoff.ts";
export type { BackoffContext, BackoffStrategy } from "./src/backoff/strategy.ts";
export type { ExponentialOptions } from "./src/backoff/exponential.ts";
export type { FullJitterOptions } from "./src/backoff/full_jitter.ts";
export type { EqualJitterOptions } from "./src/backoff/equal_jitter.ts";
export type { DecorrelatedJitterOptions } from "./src/backoff/decorrelated_jitter.ts";
export type { TokenBackoffOptions } from "./src/backoff/token_backoff.ts";

// ---------------------------------------------------------------------------
// Circuit breaker: a state machine over a failure detector
// ---------------------------------------------------------------------------
export { CircuitBreaker } from "./src/circuit/circuit_breaker.ts";
export type {
  BreakerCallContext,
  CircuitBreakerOptions,
  CircuitBreakerSnapshot,
  CircuitBreakerStats,
  CircuitCommonOptions,
  CircuitExecuteOptions,
  IsolationHandle,
} from "./src/circuit/circuit_breaker.ts";
export { ConsecutiveDetector } from "./src/circuit/consecutive_detector.ts";
export { CountDetector } from "./src/circuit/count_detector.ts";
export { TimeDetector } from "./src/circuit/time_detector.ts";
export type { DetectorOptions } from "./src/circuit/detector.ts";
export type {
  ConsecutiveDetectorOptions,
  ConsecutiveDetectorSettings,
} from "./src/circuit/consecutive_detector.ts";
export type { CountDetectorOptions, CountDetectorSettings } from "./src/circuit/count_detector.ts";
export type { TimeDetectorOptions, TimeDetectorSettings } from "./src/circuit/time_detector.ts";
export type {
  ConsecutiveDetectorSnapshot,
  CountDetectorSnapshot,
  DetectorKind,
  DetectorSnapshot,
  FailureDetector,
  OutcomeCode,
  TimeDetectorSnapshot,
  TripReason,
} from "./src/circuit/failure_detector.ts";

// ---------------------------------------------------------------------------
// Budgets, the bulkhead and the rate limiter
// ---------------------------------------------------------------------------
export { FailureBudget } from "./src/budget/failure_budget.ts";
export type {
  FailureBudgetAction,
  FailureBudgetBreach,
  FailureBudgetOptions,
} from "./src/budget/failure_budget.ts";
export { RetryBudget } from "./src/budget/retry_budget.ts";
export type { RetryBudgetOptions, RetryBudgetStats } from "./src/budget/retry_budget.ts";
export { Bulkhead } from "./src/bulkhead/bulkhead.ts";
export type {
  BulkheadAcquireOptions,
  BulkheadCallContext,
  BulkheadExecuteOptions,
  BulkheadOptions,
  BulkheadPermit,
} from "./src/bulkhead/bulkhead.ts";
export { RateLimiter } from "./src/ratelimit/rate_limiter.ts";
export type {
  RateLimiterAcquireOptions,
  RateLimiterOptions,
} from "./src/ratelimit/rate_limiter.ts";

// ---------------------------------------------------------------------------
// Errors and events
// ---------------------------------------------------------------------------
export {
  AttemptTimeoutError,
  BulkheadRejectedError,
  CircuitOpenError,
  DeadlineExceededError,
  FailureBudgetExceededError,
  HedgeCancelledError,
  InjectedFaultError,
  PoolTimeoutError,
  RateLimitedError,
  ResilienceError,
  RetryExhaustedError,
  WatchdogTimeoutError,
} from "./src/core/errors.ts";
export type {
  AttemptTimeoutErrorOptions,
  CircuitOpenErrorOptions,
  DeadlineExceededErrorOptions,
  HedgeCancelledErrorOptions,
  RateLimitedErrorOptions,
  ResilienceErrorOptions,
  RetryExhaustedErrorOptions,
  RetryExhaustedReason,
} from "./src/core/errors.ts";
export { EventSink } from "./src/core/events.ts";
export type {
  AttemptFailure,
  AttemptTimeoutEvent,
  BufferDroppedEvent,
  BufferDropReason,
  BufferFlushedEvent,
  BulkheadRejectedEvent,
  CircuitRejectedEvent,
  CircuitState,
  CircuitTransitionEvent,
  CoalescedEvent,
  DeadlineExceededEvent,
  EventBase,
  EventListener,
  FailureBudgetEvent,
  FallbackEvent,
  FaultInjectedEvent,
  FleetSyncFailedEvent,
  GiveUpEvent,
  HedgeEvent,
  PermanentFailEvent,
  RateLimitedEvent,
  ResilienceEvent,
  ResilienceEventType,
  RetryBudgetExhaustedEvent,
  RetryEvent,
  SuccessEvent,
  WatchdogTimeoutEvent,
} from "./src/core/events.ts";

// ---------------------------------------------------------------------------
// Time and randomness (inject them; VirtualClock is in "./testing")
// ---------------------------------------------------------------------------
export { systemClock } from "./src/core/clock.ts";
export type { Clock, TimerId } from "./src/core/clock.ts";
export { defaultRandom, seededRandom } from "./src/core/random.ts";
export type { RandomSource } from "./src/core/random.ts";

// ---------------------------------------------------------------------------
// Telemetry (OpenTelemetry through the global API, or providers passed in)
// ---------------------------------------------------------------------------
export { VERSION } from "./src/telemetry/version.ts";
export type {
  MeterProviderLike,
  SpanMode,
  TelemetryOptions,
  TracerProviderLike,
} from "./src/telemetry/telemetry_options.ts";

// ---------------------------------------------------------------------------
// HTTP: a resilient fetch, deadline propagation, latency percentiles
// ---------------------------------------------------------------------------
export { createClient } from "./src/http/client.ts";
export type {
  ClientOptions,
  ClientRequestInit,
  ClientStats,
  PoolOptions,
  ResilientClient,
} from "./src/http/client.ts";
export { IDEMPOTENT_METHODS, RequestBodyError } from "./src/http/request_body.ts";
export { DEFAULT_REDACTED_QUERY_PARAMS, redactUrl } from "./src/http/redact.ts";
export {
  DEADLINE_HEADER,
  deadlineFromRequest,
  GRPC_TIMEOUT_HEADER,
  parseGrpcTimeout,
  withDeadlineHeader,
} from "./src/http/deadline_propagation.ts";
export { LatencyHistogram } from "./src/core/latency_histogram.ts";
export type {
  LatencyHistogramJSON,
  LatencyHistogramOptions,
} from "./src/core/latency_histogram.ts";

// ---------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------
export { faultInjection } from "./src/fault/fault_injection.ts";
export type { FaultInjectionOptions } from "./src/fault/fault_injection.ts";
export { installNetworkConditioner, networkConditioner } from "./src/fault/network_conditioner.ts";
export type {
  InstalledNetworkConditioner,
  NetworkConditionerOptions,
  UrlFilter,
} from "./src/fault/network_conditioner.ts";
export type { CommonFaultOptions } from "./src/fault/options.ts";

// ---------------------------------------------------------------------------
// Supervision: watchdogs and child processes
// ---------------------------------------------------------------------------
export { withWatchdog } from "./src/supervise/watchdog.ts";
export type { WatchdogOptions } from "./src/supervise/watchdog.ts";
export {
  ProcessSupervisor,
  SubprocessUnavailableError,
} from "./src/supervise/process_supervisor.ts";
export type {
  ProcessSupervisorOptions,
  SupervisedChild,
  SupervisedOutput,
  SupervisedReadableStream,
  SupervisedSignal,
  SupervisedSpawnOptions,
  SupervisedStatus,
} from "./src/supervise/process_supervisor.ts";

/**
 * Bulwark: a deadline-aware resilience runtime. Wrap calls to flaky services
 * in a {@link policy}: retries with error classification and per-class
 * budgets, one deadline across all attempts and sleeps, per-attempt
 * timeouts, and an event for every retry and give-up.
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

// core
export { type Clock, systemClock, type TimerId } from "./src/core/clock.ts";
export { defaultRandom, type RandomSource, seededRandom } from "./src/core/random.ts";
export {
  AttemptTimeoutError,
  type AttemptTimeoutErrorOptions,
  BulkheadRejectedError,
  CircuitOpenError,
  type CircuitOpenErrorOptions,
  DeadlineExceededError,
  type DeadlineExceededErrorOptions,
  FailureBudgetExceededError,
  InjectedFaultError,
  PoolTimeoutError,
  ResilienceError,
  type ResilienceErrorOptions,
  RetryExhaustedError,
  type RetryExhaustedErrorOptions,
  type RetryExhaustedReason,
  WatchdogTimeoutError,
} from "./src/core/errors.ts";
export {
  type AttemptFailure,
  type AttemptTimeoutEvent,
  type BulkheadRejectedEvent,
  type CircuitRejectedEvent,
  type CircuitState,
  type CircuitTransitionEvent,
  type DeadlineExceededEvent,
  type EventBase,
  type EventListener,
  EventSink,
  type FailureBudgetEvent,
  type FaultInjectedEvent,
  type GiveUpEvent,
  type PermanentFailEvent,
  type ResilienceEvent,
  type ResilienceEventType,
  type RetryBudgetExhaustedEvent,
  type RetryEvent,
  type SuccessEvent,
  type WatchdogTimeoutEvent,
} from "./src/core/events.ts";

// classify
export { type Classifier, ERROR_CLASSES, type ErrorClass } from "./src/core/error_class.ts";
export { defaultClassifier } from "./src/classify/default_classifier.ts";
export { FlakyError, PermanentError, TransientError } from "./src/classify/markers.ts";
export { retryAfterMs } from "./src/classify/retry_after.ts";

// backoff
export type { BackoffContext, BackoffStrategy } from "./src/backoff/strategy.ts";
export { constant } from "./src/backoff/constant.ts";
export { exponential, type ExponentialOptions } from "./src/backoff/exponential.ts";
export { fullJitter, type FullJitterOptions } from "./src/backoff/full_jitter.ts";
export { equalJitter, type EqualJitterOptions } from "./src/backoff/equal_jitter.ts";
export {
  decorrelatedJitter,
  type DecorrelatedJitterOptions,
} from "./src/backoff/decorrelated_jitter.ts";
export { tokenBackoff, type TokenBackoffOptions } from "./src/backoff/token_backoff.ts";

// retry and policy
export type { AttemptContext, Operation } from "./src/engine/attempt.ts";
export type { RetryOptions } from "./src/retry/retry_options.ts";
export type { EngineOptions, ExecuteOptions } from "./src/engine/engine.ts";
export { retry, type RetryCallOptions } from "./src/retry/retry.ts";
export {
  Policy,
  policy,
  type PolicyOptions,
  type PolicyRetryOptions,
} from "./src/policy/policy.ts";

// telemetry
export type {
  MeterProviderLike,
  SpanMode,
  TelemetryOptions,
  TracerProviderLike,
} from "./src/telemetry/telemetry_options.ts";
export { VERSION } from "./src/telemetry/version.ts";

// fault injection
export {
  type InstalledNetworkConditioner,
  installNetworkConditioner,
  networkConditioner,
  type NetworkConditionerOptions,
  type UrlFilter,
} from "./src/fault/network_conditioner.ts";
export { faultInjection, type FaultInjectionOptions } from "./src/fault/fault_injection.ts";
export type { CommonFaultOptions } from "./src/fault/_shared.ts";

// supervision
export { type WatchdogOptions, withWatchdog } from "./src/supervise/watchdog.ts";
export {
  ProcessSupervisor,
  type ProcessSupervisorOptions,
  SubprocessUnavailableError,
  type SupervisedSpawnOptions,
} from "./src/supervise/process_supervisor.ts";

// failure budget, bulkhead, retry budget
export {
  FailureBudget,
  type FailureBudgetAction,
  type FailureBudgetBreach,
  type FailureBudgetOptions,
} from "./src/budget/failure_budget.ts";
export {
  Bulkhead,
  type BulkheadAcquireOptions,
  type BulkheadExecuteOptions,
  type BulkheadOptions,
  type BulkheadPermit,
} from "./src/bulkhead/bulkhead.ts";
export {
  RetryBudget,
  type RetryBudgetOptions,
  type RetryBudgetStats,
} from "./src/budget/retry_budget.ts";

// circuit breaker
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerSnapshot,
  type CircuitBreakerStats,
  type CircuitCommonOptions,
  type CircuitExecuteOptions,
  type IsolationHandle,
} from "./src/circuit/circuit_breaker.ts";
export type { DetectorOptions } from "./src/circuit/detector.ts";
export {
  ConsecutiveDetector,
  type ConsecutiveDetectorOptions,
  type ConsecutiveDetectorSettings,
} from "./src/circuit/consecutive_detector.ts";
export {
  CountDetector,
  type CountDetectorOptions,
  type CountDetectorSettings,
} from "./src/circuit/count_detector.ts";
export {
  TimeDetector,
  type TimeDetectorOptions,
  type TimeDetectorSettings,
} from "./src/circuit/time_detector.ts";
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

// JSON declarations
export {
  type DeclarationIssue,
  PolicyDeclarationError,
  policyFromJSON,
  policyJsonSchema,
} from "./src/policy/policy_declaration.ts";

// HTTP client
export {
  type ClientOptions,
  type ClientRequestInit,
  type ClientStats,
  createClient,
  type PoolOptions,
  type ResilientClient,
} from "./src/http/client.ts";
export { IDEMPOTENT_METHODS, RequestBodyError } from "./src/http/request_body.ts";
export {
  LatencyHistogram,
  type LatencyHistogramJSON,
  type LatencyHistogramOptions,
} from "./src/http/latency_histogram.ts";
export {
  DEADLINE_HEADER,
  deadlineFromRequest,
  GRPC_TIMEOUT_HEADER,
  parseGrpcTimeout,
  withDeadlineHeader,
} from "./src/http/deadline_propagation.ts";

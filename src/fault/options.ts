/**
 * The options both fault injectors take ({@link CommonFaultOptions}, public)
 * and their validation (internal).
 *
 * @module
 */

import { type Clock, clockOption } from "../core/clock.ts";
import { type EventListener, EventSink, type FaultInjectedEvent } from "../core/events.ts";
import { defaultRandom, type RandomSource } from "../core/random.ts";
import {
  functionValue,
  knownKeys,
  nameOption,
  numberAtLeast,
  numberBetween,
  objectValue,
  typeError,
} from "../core/validate.ts";

/** Options both fault injectors take. */
export interface CommonFaultOptions {
  /** Fixed latency added to every affected call. Default 0. */
  latencyMs?: number;
  /** Extra random latency, uniform in [0, jitterMs). Default 0. */
  jitterMs?: number;
  /** Turns injection on and off; a function is asked on every call. Default true. */
  enabled?: boolean | (() => boolean);
  /** Name reported as `policy` in events and errors. Default `"fault"`. */
  name?: string;
  /** Random numbers in [0, 1) for every decision. Default `Math.random`. */
  random?: RandomSource;
  /** Clock that times the injected latency. Default the system clock. */
  clock?: Clock;
  /** Receives a `fault_injected` event for every injection. */
  onEvent?: EventListener;
}

/** The keys of {@link CommonFaultOptions}. */
export const COMMON_FAULT_KEYS: readonly string[] = [
  "latencyMs",
  "jitterMs",
  "enabled",
  "name",
  "random",
  "clock",
  "onEvent",
];

/** Common options after validation and defaults. */
export interface ResolvedFaultOptions {
  readonly latencyMs: number;
  readonly jitterMs: number;
  readonly enabled: () => boolean;
  readonly name: string;
  readonly random: RandomSource;
  readonly clock: Clock;
  readonly sink: EventSink;
}

const ALWAYS = () => true;
const NEVER = () => false;

/** Validates the options object, its keys and the common options. */
export function resolveCommon(
  options: CommonFaultOptions,
  keys: readonly string[],
): ResolvedFaultOptions {
  objectValue("options", options);
  knownKeys("", options, keys);
  const name = nameOption("name", options.name, "fault");
  const enabled = options.enabled ?? true;
  if (typeof enabled !== "boolean" && typeof enabled !== "function") {
    typeError("enabled", "a boolean or a function returning one", enabled);
  }
  const sink = new EventSink();
  if (options.onEvent !== undefined) sink.add(functionValue("onEvent", options.onEvent));
  return {
    latencyMs: numberAtLeast("latencyMs", options.latencyMs ?? 0, 0),
    jitterMs: numberAtLeast("jitterMs", options.jitterMs ?? 0, 0),
    enabled: typeof enabled === "function" ? enabled : enabled ? ALWAYS : NEVER,
    name,
    random: options.random === undefined ? defaultRandom : functionValue("random", options.random),
    clock: clockOption(options.clock ?? undefined, ["now", "sleep", "setTimer", "clearTimer"]),
    sink,
  };
}

/** Asserts a probability in [0, 1] (default `fallback`); returns it. */
export function rate(name: string, value: unknown, fallback: number): number {
  return numberBetween(name, value ?? fallback, 0, 1);
}

/** Draws the latency of one call: `latencyMs + random(0, jitterMs)`. */
export function drawDelay(o: ResolvedFaultOptions): number {
  return o.jitterMs > 0 ? o.latencyMs + o.random() * o.jitterMs : o.latencyMs;
}

/** Emits a `fault_injected` event when someone listens. */
export function emitFault(
  o: ResolvedFaultOptions,
  fault: FaultInjectedEvent["fault"],
  delayMs?: number,
): void {
  if (!o.sink.active) return;
  const event: FaultInjectedEvent = {
    type: "fault_injected",
    policy: o.name,
    timestamp: o.clock.now(),
    fault,
  };
  if (delayMs !== undefined) event.delayMs = delayMs;
  o.sink.emit(event);
}

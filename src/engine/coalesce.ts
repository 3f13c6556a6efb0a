/**
 * Coalescing: calls with the same `coalesceKey` while one is in flight join
 * it and settle with its value or error (Go's `singleflight`). Each caller
 * keeps its own signal: a caller that aborts leaves with its own reason,
 * and the shared call is aborted only when every caller has left.
 * Coalescing comes first in a call's composition, before the deadline: the
 * shared call runs once, with the options of the caller that started it.
 *
 * @module
 */

import type { Operation } from "./attempt.ts";
import type { Engine } from "./engine.ts";
import type { ExecuteOptions } from "./options.ts";

/** One shared call and the callers waiting on it. */
class Flight {
  /** The shared call's own signal: aborted when every caller has left. */
  readonly controller: AbortController = new AbortController();
  /** Callers still waiting. */
  callers = 0;
  promise: Promise<unknown> | undefined;
}

/** The calls of one policy in flight by key. Internal. */
export class Coalescer {
  readonly #engine: Engine;
  readonly #flights = new Map<string, Flight>();

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** Calls in flight (keys with at least one caller). */
  get size(): number {
    return this.#flights.size;
  }

  /** Runs the call, or joins the one in flight under `options.coalesceKey`. */
  join<T>(operation: Operation<T>, options: ExecuteOptions<T>): Promise<T> {
    const key = options.coalesceKey!;
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const flights = this.#flights;
    let flight = flights.get(key);
    if (flight === undefined) {
      const started = new Flight();
      flight = started;
      flights.set(key, started);
      const shared: ExecuteOptions<T> = {
        ...options,
        signal: started.controller.signal,
        coalesceKey: undefined,
      };
      const forget = () => {
        if (flights.get(key) === started) flights.delete(key);
      };
      const promise = this.#engine.start(operation, shared);
      promise.then(forget, forget);
      started.promise = promise;
    } else {
      this.#engine.report.coalesced(key, flight.callers + 1);
    }
    flight.callers++;
    const promise = flight.promise as Promise<T>;
    if (signal === undefined) return promise; // this caller never leaves
    const joined = flight;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        reject(signal.reason);
        if (--joined.callers === 0) {
          // The last caller left: nobody waits for the shared call.
          if (flights.get(key) === joined) flights.delete(key);
          joined.controller.abort(signal.reason);
        }
      };
      signal.addEventListener("abort", leave, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener("abort", leave);
          resolve(value);
        },
        (error) => {
          signal.removeEventListener("abort", leave);
          reject(error);
        },
      );
    });
  }
}

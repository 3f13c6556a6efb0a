/**
 * The context a standalone part's `execute()` passes its function: the
 * caller's signal, or one made when first read that never aborts (shared by
 * `CircuitBreaker.execute` and `Bulkhead.execute`).
 *
 * @module
 */

/** `{ signal }` for one `execute()`: the caller's signal, or a never-aborting one made on demand. */
export class SignalContext {
  readonly #callerSignal: AbortSignal | undefined;
  #controller: AbortController | undefined;

  constructor(signal: AbortSignal | undefined) {
    this.#callerSignal = signal;
  }

  /** The caller's signal; without one, a signal that never aborts (made when first read). */
  get signal(): AbortSignal {
    return this.#callerSignal ?? (this.#controller ??= new AbortController()).signal;
  }
}

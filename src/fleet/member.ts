/**
 * One fleet member: the background sync of one part with the store. Every
 * `syncIntervalMs` (an unref'd timer on the part's clock) it writes this
 * instance's counts (one write), reads every instance's, and keeps the sum
 * of the live peers' counts for the part to decide on. A failing store is
 * reported (`fleet_sync_failed`) and the peers' counts are dropped, so the
 * part decides on local state until the store answers again. A store that
 * does not answer within an interval (a lease claim: within the lease)
 * has failed; an answer of the wrong shape has failed too. Nothing on the
 * background path can throw or reject.
 *
 * @module
 */

import { type BackgroundTimer, backgroundTimer } from "../core/background_timer.ts";
import type { Clock } from "../core/clock.ts";
import type { EventSink, FleetSyncFailedEvent } from "../core/events.ts";
import type { FleetHandle, ResolvedFleetOptions } from "./options.ts";
import { checkView } from "./check.ts";
import type { FleetStateStore, FleetView } from "./store.ts";

/** A peer is left out once its report is older than this many intervals (or has not changed for as long). */
export const STALE_INTERVALS = 3;

/** A store call that did not settle in time. */
export class StoreTimeoutError extends Error {
  /**
   * @example
   * ```ts
   * import { StoreTimeoutError } from "./member.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new StoreTimeoutError("report", 100).message, "store.report() did not answer within 100 ms");
   * ```
   */
  constructor(operation: string, ms: number) {
    super(`store.${operation}() did not answer within ${ms} ms`);
    this.name = "StoreTimeoutError";
  }
}

/** What a {@link FleetMember} needs of its part. */
export interface MemberSettings {
  readonly fleet: ResolvedFleetOptions;
  /** Store key: `<kind>:<name>`. */
  readonly key: string;
  /** The part's name, for events. */
  readonly name: string;
  readonly clock: Clock;
  readonly events: EventSink;
  /** This instance's counts in the part's current window. */
  readonly counts: (now: number) => number[];
  /** How many counters `counts` returns. */
  readonly width: number;
}

/**
 * The sync loop of one part (internal; reached through the part's `fleet`
 * handle).
 */
export class FleetMember implements FleetHandle {
  /** Sum of the live peers' counts (this instance left out) of the current {@link version}. */
  readonly peers: number[];
  /** Clock time of the first store failure since the last good sync; NaN while the store answers. */
  #failingSince = NaN;
  /** The circuit version counts are taken and summed under (0 for budgets). */
  version = 0;
  /** Called by `close()` before it waits for the writes under way (a circuit's last write). */
  onClose: (() => Promise<void>) | undefined;
  /** Called with every view read, before the peers are summed (the circuit adopts state here). */
  onView: ((view: FleetView) => Promise<void>) | undefined;
  readonly store: FleetStateStore;
  readonly instanceId: string;
  readonly key: string;
  readonly clock: Clock;
  readonly #settings: MemberSettings;
  readonly #intervalMs: number;
  readonly #seen = new Map<string, { seq: number; at: number }>();
  #seq = 0;
  /** Live instances (this one included) at the last good sync; 1 while none was read. */
  instances = 1;
  #timer: BackgroundTimer | undefined;
  #soon: BackgroundTimer | undefined;
  #running: Promise<void> | undefined;
  /** Background writes under way (a circuit's transitions); `close()` waits for them. */
  readonly #writes = new Set<Promise<void>>();
  #closed = false;
  #unwatch: (() => void) | undefined;

  constructor(settings: MemberSettings, watch: boolean) {
    this.#settings = settings;
    this.store = settings.fleet.store;
    this.instanceId = settings.fleet.instanceId;
    this.key = settings.key;
    this.clock = settings.clock;
    this.#intervalMs = settings.fleet.syncIntervalMs;
    this.peers = new Array<number>(settings.width).fill(0);
    this.#timer = backgroundTimer(this.clock, this.#tick, this.#intervalMs);
    this.soon(); // a first sync at once: the live instances and their counts, before any burst
    if (watch && this.store.watch !== undefined) {
      try {
        this.#unwatch = this.store.watch(this.key, () => this.soon());
      } catch (error) {
        this.failed("sync", error);
      }
    }
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    void this.sync().finally(() => {
      if (!this.#closed) this.#timer = backgroundTimer(this.clock, this.#tick, this.#intervalMs);
    });
  };

  /**
   * Syncs now, after this instance's transitions written in the background have
   * landed; a sync already running is joined. Never rejects; settles within an
   * interval per step (a pending transition, the report, a lease claim).
   */
  sync(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#running ??= this.#run().catch((error) => this.failed("sync", error)).finally(
      () => {
        this.#running = undefined;
      },
    );
  }

  /**
   * Calls the store (`operation` for events and errors), on a later
   * microtask (never on the caller's stack): resolves with its answer, or
   * rejects when it throws, rejects, or has not answered within `timeoutMs`
   * (a timer on the part's clock, so a hanging store cannot hold the sync,
   * a transition or `close()`).
   */
  call<T>(operation: string, start: () => Promise<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = backgroundTimer(
        this.clock,
        () => reject(new StoreTimeoutError(operation, timeoutMs)),
        timeoutMs,
      );
      Promise.resolve().then(start).then(resolve, reject).finally(() => timer.cancel());
    });
  }

  /** How long the store has been failing at `now` (0 while it answers). */
  failingFor(now: number): number {
    const since = this.#failingSince;
    return since === since ? now - since : 0;
  }

  /** Keeps `write` until it settles, so that `close()` waits for it. */
  track(write: Promise<void>): void {
    const settled = write.catch((error) => this.failed("transition", error));
    this.#writes.add(settled);
    settled.finally(() => this.#writes.delete(settled));
  }

  /** Syncs on a background timer of 0 ms (never on the caller's path); once until it ran. */
  soon(): void {
    if (this.#soon !== undefined || this.#closed) return;
    this.#soon = backgroundTimer(this.clock, () => {
      this.#soon = undefined;
      void this.sync();
    }, 0);
  }

  /** Stops the timers and the watch; waits for a running sync and the writes under way. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#soon?.cancel();
    this.#timer = this.#soon = undefined;
    const unwatch = this.#unwatch;
    this.#unwatch = undefined;
    try {
      unwatch?.();
    } catch {
      // a store's watch that fails to stop is its own problem
    }
    await this.#running;
    try {
      await this.onClose?.();
    } catch (error) {
      this.failed("transition", error);
    }
    await Promise.all(this.#writes);
  }

  /** Reports a store failure and drops the peers' counts (decide on local state). */
  failed(operation: FleetSyncFailedEvent["operation"], error: unknown): void {
    if (this.#failingSince !== this.#failingSince) this.#failingSince = this.clock.now();
    this.peers.fill(0);
    const events = this.#settings.events;
    if (!events.active) return;
    events.emit({
      type: "fleet_sync_failed",
      policy: this.#settings.name,
      timestamp: this.clock.now(),
      operation,
      error,
    });
  }

  /** One sync; may reject (the caller reports it). */
  async #run(): Promise<void> {
    // Transitions written in the background land first: after `sync()` the
    // store holds this instance's latest state (each write has its timeout).
    if (this.#writes.size > 0) await Promise.all(this.#writes);
    const { counts } = this.#settings;
    const now = this.clock.now();
    const report = { seq: ++this.#seq, version: this.version, at: now, counts: counts(now) };
    const intervalMs = this.#intervalMs;
    const view = checkView(
      await this.call(
        "report",
        () =>
          this.store.report(this.key, this.instanceId, report, intervalMs * (STALE_INTERVALS + 1)),
        intervalMs,
      ),
    );
    if (this.#closed) return;
    this.#failingSince = NaN;
    if (this.onView !== undefined) await this.onView(view);
    this.#sum(view, this.clock.now());
  }

  /** Sums the live peers' counts of the current version into {@link peers}. */
  #sum(view: FleetView, now: number): void {
    const peers = this.peers;
    peers.fill(0);
    const staleAfter = this.#intervalMs * STALE_INTERVALS;
    const seen = this.#seen;
    const present = new Set<string>();
    let instances = 1;
    for (const { instanceId, report } of view.peers) {
      if (instanceId === this.instanceId) continue;
      // Written more than 3 intervals ago (writer's clock): it died or lost the store.
      if (now - report.at > staleAfter) continue;
      present.add(instanceId);
      const last = seen.get(instanceId);
      if (last === undefined || last.seq !== report.seq) {
        seen.set(instanceId, { seq: report.seq, at: now });
      } else if (now - last.at > staleAfter) {
        continue; // not rewritten for 3 intervals of this clock (a writer's clock running ahead)
      }
      instances++;
      if (report.version !== this.version) continue;
      const counts = report.counts;
      for (let i = 0; i < peers.length; i++) {
        const n = counts[i];
        if (typeof n === "number" && n > 0) peers[i] += n;
      }
    }
    for (const id of seen.keys()) if (!present.has(id)) seen.delete(id);
    this.instances = instances;
  }
}

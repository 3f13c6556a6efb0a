/**
 * What a circuit breaker calls to take part in a fleet, and the null object
 * it calls when it has no `fleet` option. The breaker stays the state
 * machine; this file
 *
 * - writes each transition at once with the store's compare-and-set (from
 *   the call that caused it, without awaiting: the call never waits), and
 *   adopts the stored state when another instance wrote first;
 * - adopts transitions written by others at each sync (sooner through the
 *   store's `watch`);
 * - claims half-open probe leases in the background: an open circuit whose
 *   break has elapsed asks for a lease; until one is held its calls are
 *   rejected with `retryAfterMs` = `syncIntervalMs` (once the store has
 *   failed for longer than a lease, it probes on its own, as a local
 *   breaker);
 * - wraps the detector so it decides on fleet counts ({@link FleetDetector}).
 *
 * @module
 */

import { type Clock, MAX_TIMER_DELAY_MS } from "../core/clock.ts";
import type { CircuitState, EventSink } from "../core/events.ts";
import type { FailureDetector } from "../circuit/failure_detector.ts";
import { FleetDetector } from "./fleet_detector.ts";
import { FleetMember } from "./member.ts";
import { type FleetHandle, fleetOption, NO_FLEET, type ResolvedFleetOptions } from "./options.ts";
import { checkLease, checkTransition } from "./check.ts";
import type { FleetCircuitRecord, FleetView } from "./store.ts";

/** The breaker's side of the fleet (internal). */
export interface CircuitFleet {
  /** `breaker.fleet`. */
  readonly handle: FleetHandle;
  /** `retryAfterMs` of a call rejected while no probe lease is held. */
  readonly waitMs: number;
  /** The detector the breaker uses. */
  detector(inner: FailureDetector): FailureDetector;
  /**
   * Probe slots for a half-open about to begin: `halfOpenMaxCalls` locally;
   * in a fleet the leases claimed so far (0 = none yet: reject, a claim is
   * under way).
   */
  claim(): number;
  /** With the break elapsed: how long until a probe could be admitted (0 locally or with a lease held). */
  wait(): number;
  /** The breaker moved to `to` (called from its transition). */
  moved(to: CircuitState, openedAt: number, breakMs: number, opens: number): void;
}

/** The breaker without a fleet: every hook does nothing; every half-open has `halfOpenMaxCalls` slots. */
export function localCircuit(halfOpenMaxCalls: number): CircuitFleet {
  return {
    handle: NO_FLEET,
    waitMs: 0,
    detector: (inner: FailureDetector) => inner,
    claim: () => halfOpenMaxCalls,
    wait: () => 0,
    moved: () => {},
  };
}

/** Sets the breaker's state: index into the breaker's states, then the run. */
export type AdoptState = (state: number, openedAt: number, breakMs: number, opens: number) => void;

/** What the link needs of the breaker's resolved options. */
export interface CircuitLinkSettings {
  readonly name: string;
  readonly clock: Clock;
  readonly events: EventSink;
  /** NaN with a `breakMs` strategy. */
  readonly fixedBreakMs: number;
  readonly slowCallRatio: number;
  readonly halfOpenMaxCalls: number;
}

/** Default probe lease when neither `fleet.leaseMs` nor a fixed `breakMs` gives one. */
const DEFAULT_LEASE_MS = 30_000;

/** Index of a stored state among the breaker's states (closed 0, open 1, isolated 3). */
const STATE_INDEX = { closed: 0, open: 1, isolated: 3 } as const;

type Local = Omit<FleetCircuitRecord, "version">;

const CLOSED_RECORD: Local = { state: "closed", openedAt: 0, breakMs: NaN, opens: 0 };

/** Builds the link for a breaker's `fleet` option ({@link localCircuit} when absent). */
export function circuitFleet(
  value: unknown,
  settings: CircuitLinkSettings,
  adopt: AdoptState,
): CircuitFleet {
  const fleet = fleetOption(value);
  return fleet === undefined
    ? localCircuit(settings.halfOpenMaxCalls)
    : new FleetCircuit(fleet, settings, adopt);
}

class FleetCircuit implements CircuitFleet {
  readonly handle: FleetMember;
  readonly waitMs: number;
  readonly #settings: CircuitLinkSettings;
  readonly #adoptState: AdoptState;
  readonly #leaseMs: number;
  #detector: FleetDetector | undefined;
  /** The last state this instance wrote or adopted (never half-open). */
  #local: Local = CLOSED_RECORD;
  /** A transition waiting to be written (the latest wins). */
  #pending: Local | undefined;
  /** A transition the store refused to take (it failed): written again once it answers. */
  #unwritten: Local | undefined;
  #writing = false;
  #adopting = false;
  /** Probe leases held for the current open state, not yet used. */
  #leased = 0;
  /** Until when (this clock) {@link #leased} may be used: the claim's time + one lease. */
  #leasedUntil = 0;
  /** Leases wanted (the breaker's `halfOpenMaxCalls`), or 0. */
  #want = 0;

  constructor(fleet: ResolvedFleetOptions, settings: CircuitLinkSettings, adopt: AdoptState) {
    this.#settings = settings;
    this.#adoptState = adopt;
    this.waitMs = fleet.syncIntervalMs;
    const fixed = settings.fixedBreakMs;
    this.#leaseMs = fleet.leaseMs ?? (fixed === fixed ? fixed : DEFAULT_LEASE_MS);
    const zero = [0, 0, 0];
    this.handle = new FleetMember({
      fleet,
      key: `circuit:${settings.name}`,
      name: settings.name,
      clock: settings.clock,
      events: settings.events,
      counts: (now) => this.#detector?.counts(now) ?? zero,
      width: 3,
    }, true);
    this.handle.onView = (view) => this.#onView(view);
    // A transition the store missed gets one last try when the breaker closes its fleet handle.
    this.handle.onClose = async () => {
      if (this.#unwritten === undefined || this.#writing) return;
      this.#pending = this.#unwritten;
      await this.#flush();
    };
  }

  detector(inner: FailureDetector): FailureDetector {
    return this.#detector = new FleetDetector(
      inner,
      this.handle.peers,
      this.#settings.slowCallRatio,
    );
  }

  claim(): number {
    // A store failing for longer than a lease: no lease can still be held, probe locally.
    const member = this.handle;
    if (member.failingFor(member.clock.now()) >= this.#leaseMs) {
      return this.#settings.halfOpenMaxCalls;
    }
    const leased = this.#leased;
    this.#leased = 0;
    if (leased > 0 && member.clock.now() < this.#leasedUntil) return leased;
    if (this.#want === 0) {
      // Ask once now; while waiting, the periodic sync asks again (one claim per interval).
      this.#want = this.#settings.halfOpenMaxCalls;
      this.handle.soon();
    }
    return 0;
  }

  wait(): number {
    const member = this.handle;
    const now = member.clock.now();
    if (member.failingFor(now) >= this.#leaseMs) return 0;
    return this.#leased > 0 && now < this.#leasedUntil ? 0 : this.waitMs;
  }

  moved(to: CircuitState, openedAt: number, breakMs: number, opens: number): void {
    if (this.#adopting || to === "half_open") return;
    this.#leased = 0;
    this.#want = 0;
    this.#pending = { state: to, openedAt, breakMs, opens };
    if (!this.#writing) this.handle.track(this.#flush());
  }

  /** Writes pending transitions one at a time, each against the version last known. */
  async #flush(): Promise<void> {
    this.#writing = true;
    const member = this.handle;
    try {
      while (this.#pending !== undefined) {
        const local = this.#pending;
        this.#pending = undefined;
        const expected = member.version;
        const next: FleetCircuitRecord = { version: expected + 1, ...local, by: member.instanceId };
        let result;
        try {
          result = checkTransition(
            await member.call(
              "transition",
              () => member.store.transition(member.key, expected, next),
              this.waitMs,
            ),
          );
        } catch (error) {
          this.#unwritten = local;
          member.failed("transition", error);
          continue;
        }
        this.#unwritten = undefined;
        if (result.won) {
          member.version = next.version;
          this.#local = local;
        } else if (result.record === null || result.record.by === member.instanceId) {
          // The store lost its data (a restarted Redis): seed it with this transition. Or this
          // lost to an earlier write of this instance that timed out but landed: write on top.
          member.version = result.record?.version ?? 0;
          this.#pending ??= local;
        } else if (this.#pending === undefined) {
          this.#adopt(result.record); // another instance wrote first: its state wins
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  async #onView(view: FleetView): Promise<void> {
    if (this.#writing) return; // the write under way settles the state
    const member = this.handle;
    const stored = view.state;
    const version = stored?.version ?? 0;
    const unwritten = this.#unwritten;
    this.#unwritten = undefined;
    if (unwritten !== undefined && version === member.version) {
      // The store is back and nobody moved meanwhile: write what it missed.
      this.#pending = unwritten;
      return this.#flush();
    }
    if (unwritten !== undefined && stored?.by === member.instanceId && version > member.version) {
      // A write of this instance that timed out landed after all: it won. Write what came after.
      member.version = version;
      this.#local = unwritten;
      if (stored.state === unwritten.state && stored.openedAt === unwritten.openedAt) return;
      this.#pending = unwritten;
      return this.#flush();
    }
    if (version < member.version) {
      // The store lost its data (a restarted Redis): seed it with this instance's state.
      member.version = version;
      this.#pending = unwritten ?? this.#local;
      return this.#flush();
    }
    const local = this.#local;
    if (
      version > member.version ||
      // Same version, other content: the store lost its data and another instance seeded it.
      (stored !== null && (stored.state !== local.state || stored.openedAt !== local.openedAt))
    ) {
      this.#adopt(stored);
    }
    if (this.#want > 0 && stored?.state === "open") await this.#claimLease(stored.version);
  }

  /**
   * Claims leases for twice the lease and uses them for the first half
   * only: a probe admitted at the end of that half (it lasts at most a
   * lease) ends before the store gives the lease to another instance.
   */
  async #claimLease(version: number): Promise<void> {
    const member = this.handle;
    const want = this.#want;
    const leaseMs = this.#leaseMs;
    const now = member.clock.now();
    try {
      const n = checkLease(
        await member.call(
          "lease",
          () =>
            member.store.lease(member.key, member.instanceId, {
              version,
              want,
              max: want,
              now,
              ttlMs: leaseMs * 2,
            }),
          Math.min(leaseMs, MAX_TIMER_DELAY_MS),
        ),
      );
      if (n > 0 && member.version === version && this.#want > 0) {
        this.#leased = n;
        this.#leasedUntil = now + leaseMs;
        this.#want = 0;
      }
    } catch (error) {
      member.failed("lease", error);
    }
  }

  /** Takes the stored state (null: never written, closed). */
  #adopt(stored: FleetCircuitRecord | null): void {
    this.handle.version = stored?.version ?? 0;
    const local: Local = stored === null ? CLOSED_RECORD : {
      state: stored.state,
      openedAt: stored.openedAt,
      breakMs: stored.breakMs,
      opens: stored.opens,
    };
    this.#local = local;
    this.#leased = 0;
    this.#want = 0;
    this.#adopting = true;
    try {
      this.#adoptState(STATE_INDEX[local.state], local.openedAt, local.breakMs, local.opens);
    } finally {
      this.#adopting = false;
    }
    this.handle.peers.fill(0);
  }
}

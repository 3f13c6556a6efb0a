/**
 * What a failure budget or a retry budget calls to take part in a fleet:
 * the live peers' window counts (added to its own when it decides) and the
 * fleet handle. Without a `fleet` option it is a shared null object whose
 * peers' counts are always zero.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { EventSink } from "../core/events.ts";
import { FleetMember } from "./member.ts";
import { type FleetHandle, fleetOption, NO_FLEET } from "./options.ts";

/** A budget's side of the fleet (internal). */
export interface BudgetFleet {
  /** The live peers' counts, in the budget's order (zeros without a fleet). */
  readonly peers: readonly number[];
  /** `budget.fleet`. */
  readonly handle: FleetHandle;
  /** Live instances (this one included) at the last sync; 1 without a fleet or before a sync. */
  readonly instances: number;
}

/** A budget without a fleet. */
export const LOCAL_BUDGET: BudgetFleet = Object.freeze({
  peers: Object.freeze([0, 0]),
  handle: NO_FLEET,
  instances: 1,
});

/**
 * Builds the link for a budget's `fleet` option ({@link LOCAL_BUDGET} when
 * absent). `kind` keeps budgets and breakers of one name apart in the store;
 * `counts` reads the budget's own two window counts.
 */
export function budgetFleet(
  value: unknown,
  kind: "failure_budget" | "retry_budget",
  settings: { name: string; clock: Clock; events: EventSink },
  counts: (now: number) => number[],
): BudgetFleet {
  const fleet = fleetOption(value);
  if (fleet === undefined) return LOCAL_BUDGET;
  const member = new FleetMember({
    fleet,
    key: `${kind}:${settings.name}`,
    name: settings.name,
    clock: settings.clock,
    events: settings.events,
    counts,
    width: 2,
  }, false);
  return {
    peers: member.peers,
    handle: member,
    get instances() {
      return member.instances;
    },
  };
}

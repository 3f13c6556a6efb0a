// Shared test helpers (not part of the package).
import type { ResilienceEvent } from "../src/core/events.ts";

/** Collects events and offers a compact view of them. */
export function recorder(): {
  events: ResilienceEvent[];
  onEvent: (e: ResilienceEvent) => void;
  types: () => string[];
} {
  const events: ResilienceEvent[] = [];
  return {
    events,
    onEvent: (e) => events.push(e),
    types: () => events.map((e) => e.type),
  };
}

/** Captures a promise's rejection so a test can advance time before asserting. */
export function settleLater<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );
}

// Property test: 10,000 random sequences of calls, outcomes, time steps,
// isolations and resets, across all three detectors, checking the state
// machine's invariants after every step.
import assert from "node:assert/strict";
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type IsolationHandle,
} from "../../src/circuit/circuit_breaker.ts";
import type { Clock } from "../../src/core/clock.ts";
import type {
  CircuitState,
  CircuitTransitionEvent,
  ResilienceEvent,
} from "../../src/core/events.ts";
import { seededRandom } from "../../src/core/random.ts";

const SEQUENCES = 10_000;
const STEPS = 20;
const STATES: readonly CircuitState[] = ["closed", "open", "half_open", "isolated"];

/** Allowed edges and the reasons each may carry. */
const EDGES: Record<string, readonly string[]> = {
  "closed->open": ["failure_threshold", "slow_call_threshold"],
  "open->half_open": ["break_elapsed"],
  "half_open->closed": ["probe_success", "reset"],
  "half_open->open": ["probe_failure", "slow_call_threshold"],
  "closed->isolated": ["isolate"],
  "open->isolated": ["isolate"],
  "half_open->isolated": ["isolate"],
  "isolated->closed": ["release", "reset"],
  "open->closed": ["reset"],
};

/** What a rehydrated breaker's state must be. */
const REHYDRATED: Record<CircuitState, CircuitState> = {
  closed: "closed",
  open: "open",
  half_open: "open",
  isolated: "open",
};

Deno.test(`circuit breaker invariants hold over ${SEQUENCES} random sequences`, () => {
  const rnd = seededRandom(20_240_601);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];

  let t = 0;
  // The breaker sets no timers, so a synchronous clock whose time the test
  // moves by hand is all it needs.
  const clock: Clock = {
    now: () => t,
    sleep: () => Promise.reject(new Error("the breaker must not sleep")),
    setTimer: () => {
      throw new Error("the breaker must not set timers");
    },
    clearTimer: () => {},
  };

  const transitionsByKind: Record<string, number> = { consecutive: 0, count: 0, time: 0 };
  const statesSeen = new Set<CircuitState>();
  let steps = 0;
  let previousSnapshot: unknown = undefined;

  for (let seq = 0; seq < SEQUENCES; seq++) {
    t = int(0, 1_000_000);
    const halfOpenMaxCalls = int(1, 3);
    const slow = rnd() < 0.3 ? { slowCallMs: 10, slowCallRatio: pick([0.25, 0.5, 1]) } : {};
    const breakMs = rnd() < 0.5 ? int(1, 200) : (ctx: { attempt: number }) => 25 * ctx.attempt;
    const kind = pick(["consecutive", "count", "time"] as const);
    const size = int(1, 6);
    const detector = kind === "consecutive"
      ? { kind, threshold: int(1, 4) }
      : kind === "count"
      ? { kind, size, threshold: pick([0.25, 0.5, 0.75, 1]), minCalls: int(1, size) }
      : {
        kind,
        windowMs: int(50, 500),
        buckets: int(1, 5),
        threshold: pick([0.25, 0.5, 0.75, 1]),
        minThroughput: int(1, 5),
      };
    const events: ResilienceEvent[] = [];
    const options = {
      name: `b${seq}`,
      ...detector,
      ...slow,
      breakMs,
      halfOpenMaxCalls,
      clock,
      random: rnd,
      onEvent: (e: ResilienceEvent) => events.push(e),
    } as CircuitBreakerOptions;
    // Some sequences start from the previous breaker's snapshot (any kind).
    const restored = previousSnapshot !== undefined && rnd() < 0.2;
    const breaker = new CircuitBreaker(
      restored ? { ...options, initialState: previousSnapshot } as CircuitBreakerOptions : options,
    );
    if (restored) {
      assert.equal(
        breaker.state,
        REHYDRATED[(previousSnapshot as { state: CircuitState }).state],
      );
    }

    // The model: totals, and the isolation holds of the current isolation.
    let successes = 0;
    let failures = 0;
    let rejections = 0;
    let generation = 0;
    let holds = 0;
    const handles: Array<{ handle: IsolationHandle; generation: number; released: boolean }> = [];
    let changes = 0;
    let transitions = 0;

    for (let step = 0; step < STEPS; step++) {
      steps++;
      const before = breaker.state;
      const retryBefore = breaker.retryAfterMs;
      events.length = 0;
      const op = int(0, 99);
      if (op < 30) {
        const admitted = breaker.allowCall();
        if (!admitted) rejections++;
        // A closed circuit, or an open one whose break has elapsed, always admits.
        if (before === "closed" || (before === "open" && retryBefore === 0)) {
          assert.equal(admitted, true);
        }
        if (before === "isolated" || (before === "open" && retryBefore > 0)) {
          assert.equal(admitted, false);
        }
        const rejected = events.filter((e) => e.type === "circuit_rejected");
        assert.equal(rejected.length, admitted ? 0 : 1);
        if (!admitted) {
          const e = rejected[0] as Extract<ResilienceEvent, { type: "circuit_rejected" }>;
          assert.equal(e.state, before);
          assert.equal(e.retryAfterMs, breaker.retryAfterMs);
          assert.ok(e.retryAfterMs > 0);
        } else {
          assert.ok(["closed", "half_open"].includes(breaker.state));
        }
      } else if (op < 50) {
        breaker.recordSuccess(int(0, 20));
        successes++;
      } else if (op < 68) {
        breaker.recordFailure(int(0, 20));
        failures++;
      } else if (op < 73) {
        breaker.releaseCall();
      } else if (op < 88) {
        t += pick([0, 1, 10, 50, 100, 250, 1_000]);
      } else if (op < 93) {
        if (before !== "isolated") {
          generation++;
          holds = 0;
        }
        holds++;
        handles.push({ handle: breaker.isolate(), generation, released: false });
      } else if (op < 98) {
        const h = handles.length === 0 ? undefined : pick(handles);
        if (h !== undefined) {
          if (!h.released && h.generation === generation && before === "isolated") holds--;
          h.released = true;
          if (rnd() < 0.5) h.handle.release();
          else h.handle[Symbol.dispose]();
        }
      } else {
        if (before === "isolated") {
          generation++;
          holds = 0;
        }
        breaker.reset();
      }

      // --- invariants ---
      const after = breaker.state;
      statesSeen.add(after);
      assert.ok(STATES.includes(after), `state ${after}`);
      const stats = breaker.stats();
      assert.equal(stats.state, after);
      assert.ok(stats.probesInFlight >= 0 && stats.probesInFlight <= halfOpenMaxCalls);
      if (after !== "half_open") assert.equal(stats.probesInFlight, 0);
      assert.equal(stats.successes, successes);
      assert.equal(stats.failures, failures);
      assert.equal(stats.rejections, rejections);
      assert.equal(after === "isolated", holds > 0, "isolated exactly while holds remain");
      if (after === "closed") assert.equal(stats.consecutiveOpens, 0);
      if (after === "open" || after === "half_open") assert.ok(stats.consecutiveOpens >= 1);

      const retry = breaker.retryAfterMs;
      if (after === "closed") assert.equal(retry, 0);
      if (after === "isolated") assert.equal(retry, Infinity);
      if (after === "open" || after === "half_open") {
        const breakInForce = breaker.toJSON().breakMs!;
        assert.ok(retry >= 0 && retry <= breakInForce, `retryAfterMs ${retry}`);
      }

      // Transitions: at most one per step, chaining from the state before to
      // the state after, along an allowed edge, stamped with the clock.
      const moved = events.filter((e): e is CircuitTransitionEvent =>
        e.type === "circuit_transition"
      );
      assert.ok(moved.length <= 1, "at most one transition per step");
      let current = before;
      for (const e of moved) {
        assert.equal(e.from, current, "events chain");
        assert.notEqual(e.from, e.to);
        const reasons = EDGES[`${e.from}->${e.to}`];
        assert.ok(reasons !== undefined, `edge ${e.from}->${e.to} not allowed`);
        assert.ok(reasons.includes(e.reason), `reason ${e.reason} on ${e.from}->${e.to}`);
        assert.equal(e.timestamp, t);
        assert.equal(e.policy, options.name);
        current = e.to;
      }
      assert.equal(current, after, "the last event ends at the observed state");
      if (before !== after) changes++;
      transitions += moved.length;
      transitionsByKind[kind] += moved.length;

      // Persistence: a snapshot rehydrates to the documented state.
      if (rnd() < 0.05) {
        const snapshot = JSON.parse(JSON.stringify(breaker));
        const copy = new CircuitBreaker({ ...options, onEvent: undefined, initialState: snapshot });
        assert.equal(copy.state, REHYDRATED[after]);
        if (after === "closed" || after === "open") {
          assert.deepEqual(JSON.parse(JSON.stringify(copy)), snapshot);
        }
      }
    }
    assert.equal(transitions, changes, "one event per state change");
    previousSnapshot = JSON.parse(JSON.stringify(breaker));
  }

  assert.equal(steps, SEQUENCES * STEPS);
  // The random walk really exercised every state and every detector.
  assert.deepEqual([...statesSeen].sort(), [...STATES].sort());
  for (const kind of ["consecutive", "count", "time"]) {
    assert.ok(transitionsByKind[kind] > 1_000, `${kind}: ${transitionsByKind[kind]} transitions`);
  }
});

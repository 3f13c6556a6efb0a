import assert from "node:assert/strict";
import { constant, policy, type PolicyOptions } from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { recorder, settleLater } from "../_helpers.ts";
import {
  finish,
  flush,
  line,
  manual,
  outcome,
  scripted,
  type Step,
  track,
  viaLoop,
} from "../_wheel.ts";

// ---------------------------------------------------------------------------
// The fast path on a wheel clock vs. a precise VirtualClock (fast path and
// general loop): the same attempts, events and outcomes.
// ---------------------------------------------------------------------------

interface Scenario {
  name: string;
  options: PolicyOptions;
  steps: Step[];
  result: string;
  attempts: number[];
  events: string[];
}

const BASE: PolicyOptions = {
  deadlineMs: 1_000,
  attemptTimeoutMs: 100,
  retry: { maxAttempts: 3, backoff: constant(10) },
};

const SCENARIOS: Scenario[] = [
  {
    name: "success",
    options: BASE,
    steps: ["ok"],
    result: 'value "ok 1"',
    attempts: [1_000],
    events: ["success@1000 #1"],
  },
  {
    name: "a plain value",
    options: BASE,
    steps: ["value"],
    result: 'value "value 1"',
    attempts: [1_000],
    events: ["success@1000 #1"],
  },
  {
    name: "transient, then success",
    options: BASE,
    steps: ["transient", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_010],
    events: ["retry@1000 #1 transient +10", "success@1010 #2"],
  },
  {
    name: "a synchronous throw, then a plain value",
    options: BASE,
    steps: ["throw", "value"],
    result: 'value "value 2"',
    attempts: [1_000, 1_010],
    events: ["retry@1000 #1 transient +10", "success@1010 #2"],
  },
  {
    name: "a failing value, then success",
    options: BASE,
    steps: ["500", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_010],
    events: ["retry@1000 #1 server_error +10", "success@1010 #2"],
  },
  {
    name: "permanent",
    options: BASE,
    steps: ["permanent"],
    result: "PermanentError: permanent 1",
    attempts: [1_000],
    events: ["permanent_fail@1000 #1 permanent"],
  },
  {
    name: "a synchronous permanent throw",
    options: BASE,
    steps: ["throw-permanent"],
    result: "PermanentError: thrown permanent 1",
    attempts: [1_000],
    events: ["permanent_fail@1000 #1 permanent"],
  },
  {
    name: "unknown errors until max attempts",
    options: BASE,
    steps: ["unknown", "unknown", "unknown"],
    result: 'RetryExhaustedError: policy "p" gave up after 3 attempts (max_attempts: 3)',
    attempts: [1_000, 1_010, 1_020],
    events: [
      "retry@1000 #1 unknown +10",
      "retry@1010 #2 unknown +10",
      "max_attempts_exceeded@1020 #3 unknown",
    ],
  },
  {
    name: "an attempt timeout, then success",
    options: BASE,
    steps: ["hang", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_110],
    events: [
      "attempt_timeout@1100 #1 timeout 100",
      "retry@1100 #1 transient +10",
      "success@1110 #2",
    ],
  },
  {
    name: "three attempt timeouts",
    options: BASE,
    steps: ["hang", "hang", "hang"],
    result: 'RetryExhaustedError: policy "p" gave up after 3 attempts (max_attempts: 3)',
    attempts: [1_000, 1_110, 1_220],
    events: [
      "attempt_timeout@1100 #1 timeout 100",
      "retry@1100 #1 transient +10",
      "attempt_timeout@1210 #2 timeout 100",
      "retry@1210 #2 transient +10",
      "attempt_timeout@1320 #3 timeout 100",
      "max_attempts_exceeded@1320 #3 transient",
    ],
  },
  {
    name: "an attempt timeout, then the deadline",
    options: { ...BASE, deadlineMs: 150 },
    steps: ["hang", "hang"],
    result: 'DeadlineExceededError: policy "p" deadline exceeded after 2 attempts (deadline 1150)',
    attempts: [1_000, 1_110],
    events: [
      "attempt_timeout@1100 #1 timeout 100",
      "retry@1100 #1 transient +10",
      "deadline_exceeded@1150 #2 transient",
    ],
  },
  {
    name: "the deadline on the first attempt",
    options: { ...BASE, deadlineMs: 50 },
    steps: ["hang"],
    result: 'DeadlineExceededError: policy "p" deadline exceeded after 1 attempt (deadline 1050)',
    attempts: [1_000],
    events: ["deadline_exceeded@1050 #1"],
  },
  {
    name: "a backoff that would end past the deadline",
    options: { ...BASE, retry: { maxAttempts: 3, backoff: constant(2_000) } },
    steps: ["transient"],
    result: 'DeadlineExceededError: policy "p" deadline exceeded after 1 attempt (deadline 2000)',
    attempts: [1_000],
    events: ["deadline_exceeded@1000 #1 transient +2000"],
  },
  {
    name: "no deadline, transient then success",
    options: { retry: { maxAttempts: 3, backoff: constant(20) } },
    steps: ["transient", "ok"],
    result: 'value "ok 2"',
    attempts: [1_000, 1_020],
    events: ["retry@1000 #1 transient +20", "success@1020 #2"],
  },
  {
    name: "a breaker that opens between attempts",
    options: { ...BASE, circuit: { kind: "consecutive", threshold: 2, breakMs: 1_000 } },
    steps: ["transient", "hang", "ok"],
    result: 'CircuitOpenError: policy "p" rejected the call: circuit "p" is open',
    attempts: [1_000, 1_010],
    events: [
      "retry@1000 #1 transient +10",
      "attempt_timeout@1110 #2 timeout 100",
      "circuit_transition@1110 closed->open",
      "retry@1110 #2 transient +10",
      "circuit_rejected@1120 open",
    ],
  },
];

interface Run {
  result: string;
  attempts: number[];
  events: string[];
}

/** Runs a scenario on a wheel clock, ticking every 10 ms until the call settles. */
async function onWheel(s: Scenario): Promise<Run> {
  const m = manual(10);
  try {
    const rec = recorder();
    const p = policy("p", { ...s.options, clock: m.clock, telemetry: false, onEvent: rec.onEvent });
    const op = scripted(m.now, s.steps);
    const call = track(p.execute(op.fn));
    await flush();
    while (!call.settled && m.now() < 5_000) await m.at(m.now() + 10);
    assert.equal(m.wheel.pending, 0, `${s.name}: nothing left on the wheel`);
    return {
      result: outcome(call.ok, call.value, call.error),
      attempts: op.attempts.map((a) => a.at),
      events: rec.events.map(line),
    };
  } finally {
    await finish(m.wheel);
  }
}

/** Runs a scenario on a VirtualClock, through the fast path or (with a signal) the general loop. */
async function onVirtualClock(s: Scenario, general: boolean): Promise<Run> {
  const clock = new VirtualClock(1_000);
  const rec = recorder();
  const p = policy("p", { ...s.options, clock, telemetry: false, onEvent: rec.onEvent });
  const op = scripted(() => clock.now(), s.steps);
  const call = settleLater(general ? p.execute(op.fn, viaLoop()) : p.execute(op.fn));
  await clock.runAll();
  const r = await call;
  assert.equal(clock.pending, 0, `${s.name}: no timer left`);
  return {
    result: r.ok ? outcome(true, r.value, undefined) : outcome(false, undefined, r.error),
    attempts: op.attempts.map((a) => a.at),
    events: rec.events.map(line),
  };
}

Deno.test("fast path on a wheel clock = fast path on a VirtualClock = general loop (table)", async () => {
  for (const s of SCENARIOS) {
    const expected: Run = { result: s.result, attempts: s.attempts, events: s.events };
    assert.deepEqual(await onVirtualClock(s, true), expected, `${s.name}: general loop`);
    assert.deepEqual(await onVirtualClock(s, false), expected, `${s.name}: VirtualClock fast path`);
    assert.deepEqual(await onWheel(s), expected, `${s.name}: wheel clock fast path`);
  }
});

// The package as a Node user gets it: every entry point imports on Node
// without touching Deno, and the main one runs a policy.
import { test } from "node:test";
import assert from "node:assert/strict";

test("the entry points import on Node and name what the docs name", async () => {
  assert.equal(typeof globalThis.Deno, "undefined");
  const main = await import("@bulwark/bulwark");
  const testing = await import("@bulwark/bulwark/testing");
  const sim = await import("@bulwark/bulwark/sim");
  assert.equal(typeof main.policy, "function");
  assert.equal(typeof main.ProcessSupervisor, "function");
  assert.equal(typeof main.createClient, "function");
  assert.equal(typeof testing.VirtualClock, "function");
  assert.equal(typeof sim.Simulation, "function");
  assert.equal(
    typeof globalThis.Deno,
    "undefined",
    "importing defines no Deno global",
  );
});

test("a policy runs on Node", async () => {
  const { policy } = await import("@bulwark/bulwark");
  const api = policy("node-smoke", {
    telemetry: false,
    retry: { maxAttempts: 3 },
  });
  let calls = 0;
  const value = await api.execute(({ attempt }) => {
    calls++;
    if (attempt < 2) throw new Error("transient");
    return attempt;
  });
  assert.equal(value, 2);
  assert.equal(calls, 2);
});

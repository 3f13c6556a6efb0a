import assert from "node:assert/strict";
import { runScenario } from "@bulwark/bulwark/sim";

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return v;
}

const storm = new URL("../../examples/scenarios/retry_storm.json", import.meta.url);
const herd = new URL("../../examples/scenarios/jitter_herd.json", import.meta.url);

Deno.test("the same scenario with its keys in another order gives the same report", async () => {
  for (const file of [storm, herd]) {
    const a = JSON.parse(await Deno.readTextFile(file));
    const b = sortKeys(a) as typeof a;
    // Reverse too: sorting may keep the file's order by chance.
    const c = { ...a, servers: Object.fromEntries(Object.entries(a.servers).reverse()) };
    c.clients = Object.fromEntries(Object.entries(a.clients).reverse());
    assert.notDeepEqual(Object.keys(c.clients), Object.keys(a.clients));
    const ra = JSON.stringify(sortKeys(await runScenario(a, { durationMs: 8_000 })));
    assert.equal(JSON.stringify(sortKeys(await runScenario(b, { durationMs: 8_000 }))), ra);
    assert.equal(JSON.stringify(sortKeys(await runScenario(c, { durationMs: 8_000 }))), ra);
  }
});

Deno.test("an extra unused server, pool or client leaves every other part's figures unchanged", async () => {
  const base = JSON.parse(await Deno.readTextFile(storm));
  const more = structuredClone(base);
  more.servers = { unused: { latency: { kind: "exponential", meanMs: 5 } }, ...base.servers };
  more.pools = { idle: { target: "unused", minConnections: 1 } };
  more.clients = { idle: { target: "unused" }, ...base.clients };
  const a = await runScenario(base, { durationMs: 8_000 });
  const b = await runScenario(more, { durationMs: 8_000 });
  assert.ok(Object.keys(a.clients).length >= 2);
  for (const name of Object.keys(a.clients)) assert.deepEqual(b.clients[name], a.clients[name]);
  for (const name of Object.keys(a.servers)) assert.deepEqual(b.servers[name], a.servers[name]);
});

/**
 * What the hot path is built from, in the same units as the other groups:
 * the floor of any wrapper that looks at the result (one more promise hop),
 * reading the clock, and arming and cancelling a deadline on the shared timer
 * wheel against a runtime timer per call. The numbers docs/performance.md
 * uses to explain where the time goes.
 *
 * @module
 */
import { systemClock } from "../mod.ts";
import { fn } from "./_shared.ts";

const group = "primitives";
// Results go into a typed array so that no bench boxes a float into a `let`.
const sink = new Float64Array(1);
const noop = () => {};

/** The least a policy can do: an async function awaiting the operation. */
async function asyncWrapper<T>(f: () => Promise<T>): Promise<T> {
  return await f();
}
/** The same without an async function: one `then`. */
function thenWrapper<T>(f: () => Promise<T>): Promise<T> {
  return f().then((value) => value);
}

Deno.bench({ name: "bare await fn()", group, baseline: true }, async () => {
  await fn();
});

Deno.bench({ name: "empty async wrapper: await (async () => await fn())()", group }, async () => {
  await asyncWrapper(fn);
});

Deno.bench({ name: "empty then wrapper: await fn().then((v) => v)", group }, async () => {
  await thenWrapper(fn);
});

Deno.bench({ name: "Date.now()", group }, () => {
  sink[0] = Date.now();
});

Deno.bench({ name: "systemClock.now() (timeOrigin + performance.now())", group }, () => {
  sink[0] = systemClock.now();
});

Deno.bench({ name: "timer wheel: systemClock.setTimer + clearTimer", group }, () => {
  systemClock.clearTimer(systemClock.setTimer(noop, 2_000));
});

Deno.bench({ name: "runtime timer: setTimeout + clearTimeout", group }, () => {
  clearTimeout(setTimeout(noop, 2_000));
});

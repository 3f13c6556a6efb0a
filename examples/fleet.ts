/**
 * Two processes sharing one circuit breaker through a Deno KV file.
 *
 * The parent starts two copies of this script. Process "a" calls a
 * dependency that is down; process "b" calls one that answers. Their
 * breakers share the circuit "inventory": when "a" trips it, "b" adopts the
 * opening at its next sync (every 100 ms) and stops calling too, although
 * all of its own calls succeeded.
 *
 * Run: deno run --unstable-kv --allow-read --allow-write --allow-run examples/fleet.ts
 */
import { CircuitBreaker, CircuitOpenError, systemClock } from "../mod.ts";
import { kvStateStore } from "../fleet.ts";

const [role, path] = Deno.args;

if (role === undefined) {
  // The parent: a KV file in a temporary directory, two children, their output.
  const dir = await Deno.makeTempDir();
  try {
    const run = (name: string) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--unstable-kv",
          "--allow-read",
          "--allow-write",
          import.meta.filename!,
          name,
          `${dir}/fleet.db`,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
    const outputs = await Promise.all([run("a"), run("b")]);
    for (const { code, stdout } of outputs) {
      Deno.stdout.writeSync(stdout);
      if (code !== 0) Deno.exit(code);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
} else {
  const store = await kvStateStore({ path });
  const breaker = new CircuitBreaker({
    name: "inventory",
    kind: "consecutive",
    threshold: 5,
    breakMs: 60_000,
    fleet: { store, syncIntervalMs: 100, instanceId: role },
    onEvent: (e) => {
      if (e.type === "circuit_transition") {
        console.log(`${role}: circuit ${e.from} -> ${e.to} (${e.reason})`);
      }
    },
  });
  const dependency = role === "a"
    ? () => Promise.reject(new Error("inventory: connection refused"))
    : () => Promise.resolve("3 in stock");
  let calls = 0;
  const end = systemClock.now() + 5_000;
  while (systemClock.now() < end) {
    try {
      await breaker.execute(dependency);
      calls++;
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        console.log(
          `${role}: calls refused while the fleet's circuit is open (${calls} calls made)`,
        );
        break;
      }
      calls++;
    }
    await systemClock.sleep(20);
  }
  await breaker.fleet.close();
  await store.close();
}

import assert from "node:assert/strict";
import { copyPackage } from "../_examples.ts";

const ROOT = new URL("../../", import.meta.url);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The packages (name@version) of a lockfile's npm snapshot. */
function lockedPackages(lock: string): string[] {
  const npm: Record<string, unknown> = JSON.parse(lock).npm ?? {};
  return Object.keys(npm).map((key) => key.split("_")[0]).sort();
}

Deno.test("a first `deno task demo` (empty DENO_DIR) prints the demo and nothing else; it downloads only what the demo runs (@opentelemetry/api)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bulwark_first_demo_" });
  const denoDir = await Deno.makeTempDir({ prefix: "bulwark_deno_dir_" });
  try {
    await copyPackage(dir, ["demo.ts"]);
    const lockBefore = await Deno.readTextFile(`${dir}/deno.lock`);
    assert.deepEqual(
      lockedPackages(lockBefore),
      ["@opentelemetry/api@1.10.0"],
      "deno.lock holds more than the demo runs: a run from the repository root reached ./fleet " +
        "(git checkout deno.lock; README.md, Development)",
    );
    const first = await new Deno.Command(Deno.execPath(), {
      args: ["task", "demo"],
      cwd: dir,
      env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = decode(first.stdout);
    const stderr = decode(first.stderr);
    assert.equal(first.code, 0, stderr);
    // stdout is the demo, exactly as a run with everything cached prints it.
    const cached = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-env=OTEL_DENO", "examples/demo.ts"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
    }).output();
    assert.equal(stdout, decode(cached.stdout));
    // stderr: the task line and the downloads, no warning box.
    const lines = stderr.trimEnd().split("\n");
    const other = lines.filter((l) =>
      !l.startsWith("Download https://registry.npmjs.org/") &&
      l !== "Task demo deno run --allow-env=OTEL_DENO examples/demo.ts"
    );
    assert.deepEqual(other, [], stderr);
    const tarballs = lines.flatMap((l) => {
      const m = l.match(/^Download https:\/\/registry\.npmjs\.org\/(.+)\/-\/.+-(\d[^/]*)\.tgz$/);
      return m ? [`${m[1]}@${m[2]}`] : [];
    }).sort();
    // Only the packages the library locks (none of the development ones in dev/deno.lock), and
    // those are what the demo runs: `deno task` installs every locked package, and node-redis
    // (for `./fleet`'s redisStateStore) is pinned in src/fleet/redis_store.ts, not locked here.
    assert.deepEqual(tarballs, lockedPackages(lockBefore));
    assert.deepEqual(tarballs, ["@opentelemetry/api@1.10.0"]);
    for (const dev of ["cockatiel", "opossum", "p-retry", "ajv", "protobufjs", "typescript"]) {
      assert.ok(!tarballs.some((t) => t.startsWith(`${dev}@`)), `${dev} was downloaded`);
    }
    // The committed lockfile already had everything: the run did not change it.
    assert.equal(await Deno.readTextFile(`${dir}/deno.lock`), lockBefore);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});

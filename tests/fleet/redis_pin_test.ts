import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));

Deno.test("node-redis: the version src/fleet pins is the one the Deno and Node suites test, and deno.json does not list it", async () => {
  const source = await read("src/fleet/redis_store.ts");
  const pinned = [...source.matchAll(/from "npm:redis@([^"]+)"/g)].map((m) => m[1]);
  assert.equal(pinned.length, 1, "one import of npm:redis@<exact version>");
  const [version] = pinned;
  assert.match(version, /^\d+\.\d+\.\d+$/, "an exact version");
  const dev = JSON.parse(await read("dev/deno.json"));
  assert.equal(dev.imports.redis, `npm:redis@${version}`);
  const node = JSON.parse(await read("node_tests/package.json"));
  assert.equal(node.dependencies.redis, version);
  // Every import-map package is installed before any `deno task` runs (even `deno task demo`).
  const root = JSON.parse(await read("deno.json"));
  assert.deepEqual(Object.values(root.imports).filter((s) => String(s).startsWith("npm:")), [
    "npm:@opentelemetry/api@1.10.0",
  ]);
});

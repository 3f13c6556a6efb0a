import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));

/** Every `.ts` file under `dir`, as paths relative to the repository. */
async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) found.push(...await sources(`${path}/`));
    else if (entry.name.endsWith(".ts")) found.push(path);
  }
  return found;
}

Deno.test("node-redis: src/ pins one exact version in one file, the one the Deno and Node suites test, and deno.json does not list it", async () => {
  const pins = new Map<string, string[]>();
  for (const path of await sources("src/")) {
    const source = await read(path);
    for (const m of source.matchAll(/["'](npm:(?:redis|@redis\/[^@"'/]+)(?:@[^"'/]*)?)/g)) {
      pins.set(m[1], [...pins.get(m[1]) ?? [], path]);
    }
  }
  const found = JSON.stringify(Object.fromEntries(pins));
  assert.equal(pins.size, 1, found);
  const [[specifier, files]] = pins;
  assert.deepEqual(files, ["src/fleet/redis_store.ts"], found);
  const version = specifier.match(/^npm:redis@(\d+\.\d+\.\d+)$/)?.[1];
  assert.ok(version !== undefined, `an exact version: ${specifier}`);
  const dev = JSON.parse(await read("dev/deno.json"));
  assert.equal(dev.imports.redis, specifier);
  const node = JSON.parse(await read("node_tests/package.json"));
  assert.equal(node.dependencies.redis, version);
  // Every import-map package is installed before any `deno task` runs (even `deno task demo`).
  const root = JSON.parse(await read("deno.json"));
  assert.deepEqual(Object.values(root.imports).filter((s) => String(s).startsWith("npm:")), [
    "npm:@opentelemetry/api@1.10.0",
  ]);
});

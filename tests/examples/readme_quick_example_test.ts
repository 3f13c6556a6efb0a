import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The first ```ts block under "## Quick example" in README.md, verbatim. */
async function quickExample(): Promise<string> {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const match = readme.match(/^## Quick example\n[\s\S]*?^```ts\n([\s\S]*?)^```$/m);
  assert.ok(match, "README.md has a ```ts block under ## Quick example");
  return match[1];
}

Deno.test("README's install line names the JSR package for Deno and for Node", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.equal(config.name, "@bulwark/bulwark");
  assert.match(readme, /^deno add jsr:@bulwark\/bulwark$/m);
  assert.match(readme, /^npx jsr add @bulwark\/bulwark$/m);
});

Deno.test("README's quick example runs as pasted in a fresh project outside the repository, against this checkout", async () => {
  const code = await quickExample();
  // It needs nothing a fresh project lacks: the package and node: built-ins only.
  const specifiers = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
  assert.ok(specifiers.length > 0);
  for (const s of specifiers) {
    assert.ok(s === "@bulwark/bulwark" || s.startsWith("node:"), `the example imports ${s}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "bulwark_fresh_project_" });
  const deno = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args,
      cwd: dir,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
  try {
    assert.ok(!dir.startsWith(decodeURIComponent(ROOT.pathname)), dir);
    // What `deno add jsr:@bulwark/bulwark` writes; `deno link` then serves that JSR package
    // from this checkout instead of jsr.io.
    const version = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).version;
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ imports: { "@bulwark/bulwark": `jsr:@bulwark/bulwark@^${version}` } }),
    );
    const link = await deno(["link", decodeURIComponent(ROOT.pathname)]);
    assert.equal(link.code, 0, decode(link.stderr));
    await Deno.writeTextFile(`${dir}/main.ts`, code);
    const run = await deno(["run", "--allow-net=127.0.0.1", "main.ts"]);
    const stderr = decode(run.stderr);
    assert.equal(run.code, 0, stderr);
    assert.doesNotMatch(stderr, /error|warning/i);
    assert.equal(decode(run.stdout), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

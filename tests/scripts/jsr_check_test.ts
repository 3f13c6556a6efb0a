import assert from "node:assert/strict";
import { entryPoints, parseArgs } from "../../scripts/jsr_check.ts";

const SCRIPT = new URL("../../scripts/jsr_check.ts", import.meta.url).pathname;

const MODULE_DOC = (what: string) =>
  `/**
 * ${what}.
 *
 * @example
 * \`\`\`ts
 * import { add } from "@fixture/pkg";
 * console.log(add(1, 2));
 * \`\`\`
 *
 * @module
 */
`;
const ADD = `/** Adds two numbers. */
export function add(a: number, b: number): number {
  return a + b;
}
`;
const TWICE = `/** Twice \`x\`. */
export function twice(x: number): number {
  return 2 * x;
}
`;

/**
 * Writes a package (`files`, every `.ts` file an entry point named after it)
 * into a temp dir, runs the script on it, removes the dir.
 */
async function check(files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "bulwark_jsr_check_" });
  try {
    const exports = Object.fromEntries(
      Object.keys(files).map((f) => [f === "mod.ts" ? "." : `./${f.slice(0, -3)}`, `./${f}`]),
    );
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ name: "@fixture/pkg", version: "1.0.0", license: "MIT", exports }),
    );
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      // The fixtures' types are trivial: skip the dry run's type check (seconds per package).
      args: ["run", "--allow-read", "--allow-run", SCRIPT, "--root", dir, "--no-check"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
    }).output();
    return { code, lines: new TextDecoder().decode(stdout).trimEnd().split("\n") };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("jsr_check: passes a clean package; names each miss (no module doc, no example, slow type, undocumented export) and exits 1", async () => {
  const [clean, docs, types] = await Promise.all([
    check({ "mod.ts": MODULE_DOC("Adds") + ADD, "extra.ts": MODULE_DOC("Doubles") + TWICE }),
    check({
      "mod.ts": MODULE_DOC("Adds") + ADD,
      "extra.ts": TWICE,
      "third.ts": "/**\n * Doubles.\n *\n * @module\n */\n" + TWICE,
    }),
    check({
      "mod.ts": MODULE_DOC("Adds") +
        "/** Adds. */\nexport function add(a: number, b: number) {\n  return a + b;\n}\n",
      "extra.ts": MODULE_DOC("Doubles") + TWICE + "export const limit: number = 3;\n",
    }),
  ]);

  assert.equal(clean.code, 0, clean.lines.join("\n"));
  assert.match(
    clean.lines[0],
    /^ok {4}deno publish --dry-run --no-check: no warnings, no slow types \(\d+ files\)$/,
  );
  assert.deepEqual(clean.lines.slice(1), [
    "ok    deno doc --lint ./mod.ts ./extra.ts: no problems",
    "ok    . (mod.ts): module doc with @example",
    "ok    ./extra (extra.ts): module doc with @example",
    "jsr:check: all 4 checks passed",
  ]);

  assert.equal(docs.code, 1, docs.lines.join("\n"));
  assert.deepEqual(docs.lines.slice(2), [
    "ok    . (mod.ts): module doc with @example",
    "MISS  ./extra (extra.ts): no module doc (a JSDoc block with @module at the top)",
    "MISS  ./third (third.ts): the module doc has no @example",
    "jsr:check: 2 of 5 checks missed",
  ]);

  assert.equal(types.code, 1, types.lines.join("\n"));
  const text = types.lines.join("\n");
  assert.match(types.lines[0], /^MISS {2}deno publish --dry-run --no-check: exit 1$/);
  assert.match(text, /missing-explicit-return-type/);
  assert.match(text, /^MISS {2}deno doc --lint \.\/mod\.ts \.\/extra\.ts: exit 1$/m);
  assert.match(text, /missing-jsdoc/);
  assert.equal(types.lines.at(-1), "jsr:check: 2 of 4 checks missed");
});

Deno.test("jsr_check: entry points come from deno.json exports; bad exports are named", () => {
  assert.deepEqual(entryPoints({ exports: "./mod.ts" }), [[".", "./mod.ts"]]);
  assert.deepEqual(entryPoints({ exports: { ".": "./mod.ts", "./sim": "./sim.ts" } }), [
    [".", "./mod.ts"],
    ["./sim", "./sim.ts"],
  ]);
  assert.throws(() => entryPoints({}), {
    name: "TypeError",
    message: "deno.json has no exports (a path or an object of paths)",
  });
  assert.throws(() => entryPoints({ exports: {} }), {
    name: "TypeError",
    message: "deno.json exports is empty",
  });
  assert.throws(() => entryPoints({ exports: { ".": 1 } }), {
    name: "TypeError",
    message: 'deno.json exports["."] is not a path',
  });
});

Deno.test("jsr_check: --root DIR, --root=DIR and --no-check; anything else is a usage error", () => {
  assert.deepEqual(parseArgs([]), { root: Deno.cwd(), typeCheck: true });
  assert.deepEqual(parseArgs(["--root", "/p", "--no-check"]), { root: "/p", typeCheck: false });
  assert.deepEqual(parseArgs(["--root=/p"]), { root: "/p", typeCheck: true });
  for (const args of [["--root"], ["--root="], ["--check"], ["--no-check=1"]]) {
    assert.throws(() => parseArgs(args), {
      name: "TypeError",
      message: `usage: jsr_check.ts [--root DIR] [--no-check] (received ${args.join(" ")})`,
    }, args.join(" "));
  }
});

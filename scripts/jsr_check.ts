/**
 * `deno task jsr:check`: what JSR scores, checked before publishing. For the
 * package in the current directory (or `--root DIR`):
 *
 * 1. `deno publish --dry-run` succeeds with no warning (slow types are
 *    errors there, so none either);
 * 2. `deno doc --lint` over every entry point of `exports` in deno.json
 *    reports no problem (all entry points in one run, as JSR judges the
 *    package: a type exported by any entry point is public);
 * 3. every entry point has a module doc (`@module`) with an `@example`.
 *
 * Prints one line per check and exits 1 when any fails. `--no-check` skips
 * the dry run's type check (slow types are still found), for callers that
 * type-check the package themselves.
 *
 * Run: deno run --allow-read --allow-run scripts/jsr_check.ts [--root DIR] [--no-check]
 */

/** One check's verdict and what it saw. */
interface Verdict {
  ok: boolean;
  check: string;
  detail: string;
}

/**
 * `deno doc` warns when it cannot resolve types that an npm dependency's own
 * `.d.ts` files reference (redis's `/// <reference types="node" />`): a
 * limitation of deno doc's resolver outside this package (`deno check`
 * resolves them), not a problem in its docs. Only these are set aside.
 */
const DEPENDENCY_TYPES_WARNING =
  /^Warning Failed resolving types\. .* from referrer '[^']*\/(?:npm\/registry\.npmjs\.org|node_modules)\/[^']*'/;

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
// deno-lint-ignore no-control-regex
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

async function deno(root: string, args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: plain(decode(stdout)), stderr: plain(decode(stderr)) };
}

/** The entry points of deno.json's `exports`: `[name, file]`, in declared order. */
export function entryPoints(config: unknown): Array<[string, string]> {
  const exports = (config as { exports?: unknown })?.exports;
  if (typeof exports === "string") return [[".", exports]];
  if (typeof exports !== "object" || exports === null || Array.isArray(exports)) {
    throw new TypeError("deno.json has no exports (a path or an object of paths)");
  }
  const entries = Object.entries(exports);
  if (entries.length === 0) throw new TypeError("deno.json exports is empty");
  for (const [name, file] of entries) {
    if (typeof file !== "string") throw new TypeError(`deno.json exports["${name}"] is not a path`);
  }
  return entries as Array<[string, string]>;
}

async function publishDryRun(root: string, typeCheck: boolean): Promise<Verdict> {
  const check = `deno publish --dry-run${typeCheck ? "" : " --no-check"}`;
  const run = await deno(root, [
    "publish",
    "--dry-run",
    "--allow-dirty",
    ...(typeCheck ? [] : ["--no-check"]),
  ]);
  const output = `${run.stdout}\n${run.stderr}`;
  const files = output.split("\n").filter((l) => /^\s+file:\/\//.test(l)).length;
  // Slow types and other publish problems are reported as `error[...]`.
  const problems = output.split("\n").filter((l) => /^(warning|error)/i.test(l.trim()));
  if (run.code !== 0 || problems.length > 0) {
    return {
      ok: false,
      check,
      detail: `exit ${run.code}\n${(problems.length > 0 ? problems : [output.trim()]).join("\n")}`,
    };
  }
  return { ok: true, check, detail: `no warnings, no slow types (${files} files)` };
}

async function docLint(root: string, files: string[]): Promise<Verdict> {
  const check = `deno doc --lint ${files.join(" ")}`;
  const run = await deno(root, ["doc", "--lint", ...files]);
  const lines = `${run.stdout}\n${run.stderr}`.split("\n");
  let setAside = 0;
  const problems: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (DEPENDENCY_TYPES_WARNING.test(line)) {
      setAside++;
      if (lines[i + 1]?.trim().startsWith("at ")) i++; // its location line
    } else if (line.trim() !== "" && !/^Checked \d+ files?$/.test(line.trim())) {
      problems.push(line);
    }
  }
  if (run.code !== 0 || problems.length > 0) {
    return { ok: false, check, detail: `exit ${run.code}\n${problems.join("\n")}` };
  }
  const note = setAside === 0 ? "" : ` (${setAside} warnings about types inside npm dependencies ` +
    'set aside: deno doc cannot resolve their `/// <reference types="node" />`)';
  return { ok: true, check, detail: `no problems${note}` };
}

interface DocJson {
  nodes: Record<string, { module_doc?: { doc?: string; tags?: Array<{ kind: string }> } }>;
}

async function moduleDoc(root: string, name: string, file: string): Promise<Verdict> {
  const check = `${name} (${file.replace(/^\.\//, "")})`;
  const run = await deno(root, ["doc", "--json", file]);
  if (run.code !== 0) return { ok: false, check, detail: `deno doc --json: ${run.stderr.trim()}` };
  const nodes = Object.values((JSON.parse(run.stdout) as DocJson).nodes);
  const doc = nodes[0]?.module_doc;
  if (doc === undefined || (doc.doc ?? "").trim() === "") {
    return { ok: false, check, detail: "no module doc (a JSDoc block with @module at the top)" };
  }
  if (!(doc.tags ?? []).some((tag) => tag.kind === "example")) {
    return { ok: false, check, detail: "the module doc has no @example" };
  }
  return { ok: true, check, detail: "module doc with @example" };
}

/** Runs every check for the package in `root`; the verdicts in the order printed. */
export async function jsrCheck(root: string, typeCheck = true): Promise<Verdict[]> {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
  const entries = entryPoints(config);
  const [publish, lint, ...docs] = await Promise.all([
    publishDryRun(root, typeCheck),
    docLint(root, entries.map(([, file]) => file)),
    ...entries.map(([name, file]) => moduleDoc(root, name, file)),
  ]);
  return [publish, lint, ...docs];
}

/** `--root DIR` (or `--root=DIR`, default the current directory) and `--no-check`. */
export function parseArgs(args: string[]): { root: string; typeCheck: boolean } {
  let root = Deno.cwd();
  let typeCheck = true;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const value = flag === "--root" ? inline ?? args[++i] : undefined;
    if (flag === "--no-check" && inline === undefined) typeCheck = false;
    else if (value !== undefined && value !== "") root = value;
    else {
      throw new TypeError(
        `usage: jsr_check.ts [--root DIR] [--no-check] (received ${args.join(" ")})`,
      );
    }
  }
  return { root, typeCheck };
}

if (import.meta.main) {
  let options: { root: string; typeCheck: boolean };
  try {
    options = parseArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const verdicts = await jsrCheck(options.root, options.typeCheck);
  for (const v of verdicts) {
    console.log(
      `${v.ok ? "ok  " : "MISS"}  ${v.check}: ${v.detail.replaceAll("\n", "\n        ")}`,
    );
  }
  const missed = verdicts.filter((v) => !v.ok).length;
  if (missed > 0) {
    console.log(`jsr:check: ${missed} of ${verdicts.length} checks missed`);
    Deno.exit(1);
  }
  console.log(`jsr:check: all ${verdicts.length} checks passed`);
}

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/**
 * Runs `path` (an example) in a child Deno from `cwd` (the repository root
 * unless given) with `permissions` and `args`; its exit code and output.
 */
export async function runExample(
  path: string,
  permissions: string[],
  args: string[] = [],
  cwd: string | URL = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, path, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/**
 * Copies the package as this working tree has it (deno.json, deno.lock, the
 * entry points and src/) into the directory `to`, with the given files of
 * examples/. Runs there resolve through the package's own config and
 * lockfile without changing this repository's (a run that reaches
 * `./fleet` adds node-redis to deno.lock; README.md, "Development").
 */
export async function copyPackage(to: string, examples: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("cp", {
    args: [
      "-r",
      "deno.json",
      "deno.lock",
      "mod.ts",
      "testing.ts",
      "sim.ts",
      "durable.ts",
      "fleet.ts",
      "src",
      to,
    ],
    cwd: ROOT,
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  await Deno.mkdir(`${to}/examples`);
  for (const file of examples) {
    await Deno.copyFile(new URL(`examples/${file}`, ROOT), `${to}/examples/${file}`);
  }
}

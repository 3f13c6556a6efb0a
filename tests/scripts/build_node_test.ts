import assert from "node:assert/strict";
import ts from "typescript";
import { outDirProblem } from "../../scripts/build_node.ts";

const SCRIPT = new URL("../../scripts/build_node.ts", import.meta.url).pathname;
const CONFIG = new URL("../../dev/deno.json", import.meta.url).pathname;
const ROOT = await Deno.realPath(new URL("../..", import.meta.url).pathname);
const NAME = "@bulwark/bulwark";
const NOT_A_BUILD = `it is not empty and not a previous build (no package.json named ${NAME}); ` +
  "the build empties its out dir: pass a missing or empty directory, or a previous build";

/** Runs `fn` with a fresh temp dir, removed after. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bulwark_build_node_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("build_node --out: a missing or empty dir, or a previous build, may be emptied", async () => {
  await inTempDir(async (dir) => {
    assert.equal(await outDirProblem(`${dir}/missing`, ROOT, NAME), undefined);
    assert.equal(await outDirProblem(dir, ROOT, NAME), undefined);
    await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify({ name: NAME }));
    await Deno.writeTextFile(`${dir}/mod.js`, "export {};\n");
    assert.equal(await outDirProblem(dir, ROOT, NAME), undefined);
  });
});

Deno.test("build_node --out: the repository, a dir containing it, a file and any other dir with files are refused, naming --out and the value", async () => {
  assert.equal(
    await outDirProblem(ROOT, ROOT, NAME),
    `refusing --out ${JSON.stringify(ROOT)}: it is the repository itself`,
  );
  const parent = ROOT.slice(0, ROOT.lastIndexOf("/")) || "/";
  assert.equal(
    await outDirProblem(parent, ROOT, NAME),
    `refusing --out ${JSON.stringify(parent)}: it contains the repository (${ROOT})`,
  );
  assert.equal(
    await outDirProblem("/", ROOT, NAME),
    `refusing --out "/": it contains the repository (${ROOT})`,
  );
  // The committed Node suite: its package.json is not a build of this package.
  const suite = `${ROOT}/node_tests`;
  assert.equal(
    await outDirProblem(suite, ROOT, NAME),
    `refusing --out ${JSON.stringify(suite)}: ${NOT_A_BUILD}`,
  );
  await inTempDir(async (dir) => {
    // A symlink to the repository is the repository.
    await Deno.symlink(ROOT, `${dir}/link`);
    assert.equal(
      await outDirProblem(`${dir}/link`, ROOT, NAME),
      `refusing --out ${JSON.stringify(`${dir}/link`)}: it is the repository itself`,
    );
    await Deno.remove(`${dir}/link`);
    await Deno.writeTextFile(`${dir}/notes.txt`, "mine\n");
    assert.equal(
      await outDirProblem(`${dir}/notes.txt`, ROOT, NAME),
      `refusing --out ${JSON.stringify(`${dir}/notes.txt`)}: it is not a directory`,
    );
    await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify({ name: "other" }));
    assert.equal(
      await outDirProblem(dir, ROOT, NAME),
      `refusing --out ${JSON.stringify(dir)}: ${NOT_A_BUILD}`,
    );
  });
});

Deno.test("build_node --out: the script exits 2 with the message and leaves the dir's files alone", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/notes.txt`, "mine\n");
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--config",
        CONFIG,
        "--allow-read",
        "--allow-write",
        "--allow-env",
        SCRIPT,
        "--out",
        dir,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    assert.equal(decode(stdout), "");
    assert.equal(
      decode(stderr),
      `refusing --out ${JSON.stringify(dir)}: ${NOT_A_BUILD}\n`,
    );
    assert.equal(code, 2);
    assert.equal(await Deno.readTextFile(`${dir}/notes.txt`), "mine\n");
  });
});

Deno.test("build_node: the package's npm dependencies are its pinned ones and no module keeps an npm: specifier; ProcessSupervisor's declarations type-check without Deno's types, and spawn() is not any", async () => {
  await inTempDir(async (dir) => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--config", CONFIG, "-A", SCRIPT, "--out", `${dir}/pkg`],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    // What npm installs with the package: the OTel API (deno.json's imports) and node-redis (the
    // pin in src/fleet/redis_store.ts, outside the import map), each at its exact version.
    const built = JSON.parse(await Deno.readTextFile(`${dir}/pkg/package.json`));
    assert.deepEqual(built.dependencies, { "@opentelemetry/api": "1.10.0", redis: "6.3.1" });
    const files = await emitted(`${dir}/pkg`);
    assert.ok(files.some((f) => f.endsWith("/src/fleet/redis_store.d.ts")), files.join(", "));
    const leftovers: string[] = [];
    for (const file of files) {
      if (/["']npm:/.test(await Deno.readTextFile(file))) leftovers.push(file.slice(dir.length));
    }
    assert.deepEqual(leftovers, []);
    assert.match(
      await Deno.readTextFile(`${dir}/pkg/src/fleet/redis_store.js`),
      /from "redis";/,
    );
    // A Node user's TypeScript with every .d.ts checked (skipLibCheck off)
    // and no Deno types: a declaration naming `Deno` fails here, and a
    // spawn() typed `any` lets the @ts-expect-error line go unflagged.
    await Deno.writeTextFile(
      `${dir}/user.ts`,
      `import { ProcessSupervisor, type SupervisedChild } from "./pkg/src/supervise/process_supervisor.js";
const supervisor = new ProcessSupervisor({ killSignal: "SIGINT" });
const child: SupervisedChild = supervisor.spawn("echo", ["hi"], { stdout: "piped", cwd: "/" });
export const text: Promise<string> = child.stdout.text();
export const code: Promise<number> = child.status.then((status) => status.code);
// @ts-expect-error a child is not a string
export const wrong: string = supervisor.spawn("true");
// @ts-expect-error not an option of spawn
supervisor.spawn("true", [], { stdio: "piped" });
`,
    );
    const program = ts.createProgram({
      rootNames: [`${dir}/user.ts`],
      options: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
        lib: [
          "lib.es2022.d.ts",
          "lib.esnext.disposable.d.ts",
          "lib.dom.d.ts",
          "lib.dom.asynciterable.d.ts",
        ],
      },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((diagnostic) =>
      `${diagnostic.file?.fileName.slice(dir.length + 1) ?? ""}: ${
        ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")
      }`
    );
    assert.deepEqual(diagnostics, []);
    assert.ok(program.getSourceFile(`${dir}/pkg/src/supervise/supervised_child.d.ts`));
  });
});

/** Every emitted `.js` and `.d.ts` file under `dir`. */
async function emitted(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await emitted(path));
    else if (/\.(js|d\.ts)$/.test(entry.name)) found.push(path);
  }
  return found;
}

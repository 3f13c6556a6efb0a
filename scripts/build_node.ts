/**
 * Builds the package for Node the way JSR serves it to npm users: one ESM
 * `.js` and one `.d.ts` per module reached from the entry points in
 * deno.json's `exports`, relative `.ts` specifiers rewritten to `.js`,
 * `npm:pkg@x` (and import-map names that point at npm packages) to the bare
 * `pkg`, and a `package.json` with `"type": "module"`, an `exports` entry per
 * entry point and the npm packages the modules import as `dependencies`.
 *
 * Run: deno task build:node [--out DIR]   (default dist/node; DIR is emptied)
 *
 * DIR must be missing, empty or a previous build (its package.json names
 * this package); the repository itself, a directory containing it, or any
 * other directory with files is refused, as emptying it would delete them.
 *
 * Each module's JavaScript is compiled on its own (`transpileModule`, types
 * stripped); the declarations come from one program over the whole graph.
 * The module graph is followed from the entry points, so tests, benchmarks
 * and scripts never enter the package.
 */
import ts from "typescript";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface DenoJson {
  name: string;
  version: string;
  license?: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
}

/** `npm:@scope/name@1.2.3/sub/path` -> name, version and the bare specifier. */
function parseNpm(specifier: string): { name: string; version: string; bare: string } {
  const match = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]+))?(\/.*)?$/.exec(specifier);
  if (match === null) throw new Error(`cannot read npm specifier ${specifier}`);
  const [, name, version = "*", sub = ""] = match;
  return { name, version, bare: name + (sub === "/" ? "" : sub) };
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  declaration: true,
  isolatedModules: true,
  // Deno's default: standard class fields.
  useDefineForClassFields: true,
};

/** A compiler diagnostic as "file:line:column: message". */
function describe(diagnostic: ts.Diagnostic): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
  if (diagnostic.file === undefined) return message;
  const at = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
  return `${relative(ROOT, diagnostic.file.fileName)}:${at.line + 1}:${
    at.character + 1
  }: ${message}`;
}

class Builder {
  readonly #config: DenoJson;
  readonly #out: string;
  /** npm package name -> version, for package.json's dependencies. */
  readonly dependencies = new Map<string, string>();
  readonly #done = new Set<string>();
  readonly #queue: string[] = [];
  readonly errors: string[] = [];

  constructor(config: DenoJson, out: string) {
    this.#config = config;
    this.#out = out;
  }

  /** Where `specifier`, imported by the module at `from`, points in the built package. */
  rewrite(specifier: string, from: string): string {
    if (specifier.startsWith("node:")) return specifier;
    if (specifier.startsWith("./") || specifier.startsWith("../")) {
      if (!specifier.endsWith(".ts")) return specifier;
      this.#queue.push(resolve(dirname(from), specifier));
      return specifier.slice(0, -3) + ".js";
    }
    if (specifier.startsWith("npm:")) return this.#npm(specifier);
    if (specifier.startsWith("jsr:")) {
      this.errors.push(`${relative(ROOT, from)}: jsr: imports cannot be built (${specifier})`);
      return specifier;
    }
    const mapped = this.#mapped(specifier);
    if (mapped === undefined) {
      this.errors.push(`${relative(ROOT, from)}: ${specifier} is not in deno.json's imports`);
      return specifier;
    }
    if (mapped.startsWith("npm:")) return this.#npm(mapped);
    // A name for a module of this package ("@bulwark/bulwark/testing").
    const target = resolve(ROOT, mapped);
    let path = relative(dirname(from), target);
    if (!path.startsWith(".")) path = `./${path}`;
    return this.rewrite(path, from);
  }

  #npm(specifier: string): string {
    const { name, version, bare } = parseNpm(specifier);
    this.dependencies.set(name, version);
    return bare;
  }

  /** The import map's target for `specifier`: an exact key, or the longest "prefix/" key. */
  #mapped(specifier: string): string | undefined {
    const imports = this.#config.imports;
    if (specifier in imports) return imports[specifier];
    let best = "";
    for (const key of Object.keys(imports)) {
      if (key.endsWith("/") && specifier.startsWith(key) && key.length > best.length) best = key;
    }
    return best === "" ? undefined : imports[best] + specifier.slice(best.length);
  }

  /** Builds every module reachable from `entries` (absolute .ts paths). */
  async build(entries: readonly string[]): Promise<number> {
    this.#queue.push(...entries);
    while (this.#queue.length > 0) {
      const file = this.#queue.pop()!;
      if (this.#done.has(file)) continue;
      this.#done.add(file);
      await this.#emit(file);
    }
    this.#declarations([...this.#done]);
    return this.#done.size;
  }

  /**
   * One `.d.ts` per module, from one program over all of them: a few
   * internal declarations (not the public API, which has no slow types)
   * rely on inference, which a module-by-module emit cannot do. npm
   * packages are not resolved: their types are imported by name, as written.
   */
  #declarations(files: readonly string[]): void {
    const options: ts.CompilerOptions = {
      ...COMPILER_OPTIONS,
      allowImportingTsExtensions: true,
      emitDeclarationOnly: true,
      skipLibCheck: true,
      types: [],
      lib: ["lib.esnext.d.ts", "lib.dom.d.ts"],
    };
    const program = ts.createProgram({ rootNames: files, options });
    const transformer = (context: ts.TransformationContext) => (node: ts.SourceFile | ts.Bundle) =>
      ts.isSourceFile(node) ? this.#specifiers(node.fileName)(context)(node) : node;
    const result = program.emit(
      undefined,
      (name, text) => {
        const target = join(this.#out, relative(ROOT, name));
        Deno.mkdirSync(dirname(target), { recursive: true });
        Deno.writeTextFileSync(target, text);
      },
      undefined,
      true,
      { afterDeclarations: [transformer] },
    );
    for (const diagnostic of result.diagnostics) this.errors.push(describe(diagnostic));
  }

  async #emit(file: string): Promise<void> {
    const source = await Deno.readTextFile(file);
    const fileName = relative(ROOT, file);
    const js = ts.transpileModule(source, {
      fileName,
      compilerOptions: COMPILER_OPTIONS,
      transformers: { before: [this.#specifiers(file)] },
      reportDiagnostics: true,
    });
    for (const diagnostic of js.diagnostics ?? []) this.errors.push(describe(diagnostic));
    const target = join(this.#out, fileName.slice(0, -3));
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeTextFile(`${target}.js`, js.outputText);
  }

  /** A transformer that rewrites the module specifiers of the module at `file`. */
  #specifiers(file: string): ts.TransformerFactory<ts.SourceFile> {
    return (context) => {
      const { factory } = context;
      const literal = (node: ts.Expression | undefined) =>
        node !== undefined && ts.isStringLiteral(node)
          ? factory.createStringLiteral(this.rewrite(node.text, file))
          : node;
      const visit = (node: ts.Node): ts.Node => {
        if (ts.isImportDeclaration(node)) {
          return factory.updateImportDeclaration(
            node,
            node.modifiers,
            node.importClause,
            literal(node.moduleSpecifier)!,
            node.attributes,
          );
        }
        if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
          return factory.updateExportDeclaration(
            node,
            node.modifiers,
            node.isTypeOnly,
            node.exportClause,
            literal(node.moduleSpecifier),
            node.attributes,
          );
        }
        if (
          ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
          node.arguments.length > 0 && ts.isStringLiteral(node.arguments[0])
        ) {
          return factory.updateCallExpression(node, node.expression, node.typeArguments, [
            literal(node.arguments[0])!,
            ...node.arguments.slice(1),
          ]);
        }
        if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
          const argument = node.argument.literal;
          if (ts.isStringLiteral(argument)) {
            return factory.updateImportTypeNode(
              node,
              factory.updateLiteralTypeNode(node.argument, literal(argument) as ts.StringLiteral),
              node.attributes,
              node.qualifier,
              node.typeArguments,
              node.isTypeOf,
            );
          }
        }
        return ts.visitEachChild(node, visit, context);
      };
      return (sourceFile) => ts.visitEachChild(sourceFile, visit, context);
    };
  }
}

/** `./mod.ts` -> `./mod`: the path of an entry point without its extension. */
function stem(path: string): string {
  return path.replace(/\.ts$/, "");
}

/**
 * Why `out` (as given, relative to the working directory) must not be
 * emptied by a build of the package at `root`, or `undefined` when it may:
 * it is missing, empty, or a previous build (a directory whose package.json
 * is named `name`). Paths are compared after symlinks are resolved.
 */
export async function outDirProblem(
  out: string,
  root: string,
  name: string,
): Promise<string | undefined> {
  const refuse = (why: string) => `refusing --out ${JSON.stringify(out)}: ${why}`;
  let real: string;
  try {
    real = await Deno.realPath(resolve(out));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const repo = await Deno.realPath(root);
  if (real === repo) return refuse("it is the repository itself");
  if (repo.startsWith(real.endsWith(sep) ? real : real + sep)) {
    return refuse(`it contains the repository (${repo})`);
  }
  if (!(await Deno.stat(real)).isDirectory) return refuse("it is not a directory");
  const entries = [];
  for await (const entry of Deno.readDir(real)) entries.push(entry.name);
  if (entries.length === 0) return undefined;
  let built: unknown;
  try {
    built = JSON.parse(await Deno.readTextFile(join(real, "package.json"))).name;
  } catch {
    built = undefined;
  }
  if (built === name) return undefined;
  return refuse(
    `it is not empty and not a previous build (no package.json named ${name}); ` +
      "the build empties its out dir: pass a missing or empty directory, or a previous build",
  );
}

async function main(args: string[]): Promise<void> {
  let out = join(ROOT, "dist/node");
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--out" && args[i + 1] !== undefined) out = args[++i];
    else throw new Error(`unknown argument ${args[i]} (usage: build_node.ts [--out DIR])`);
  }
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as DenoJson;
  const problem = await outDirProblem(out, ROOT, config.name);
  if (problem !== undefined) {
    console.error(problem);
    Deno.exit(2);
  }
  out = resolve(out);
  await Deno.remove(out, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const started = performance.now();
  const builder = new Builder(config, out);
  const modules = await builder.build(
    Object.values(config.exports).map((path) => resolve(ROOT, path)),
  );
  if (builder.errors.length > 0) {
    console.error(builder.errors.join("\n"));
    Deno.exit(1);
  }
  const exports: Record<string, { types: string; default: string }> = {};
  for (const [name, path] of Object.entries(config.exports)) {
    exports[name] = { types: `${stem(path)}.d.ts`, default: `${stem(path)}.js` };
  }
  const dependencies = Object.fromEntries([...builder.dependencies].sort());
  const packageJson = {
    name: config.name,
    version: config.version,
    license: config.license,
    type: "module",
    exports,
    dependencies,
  };
  await Deno.writeTextFile(join(out, "package.json"), JSON.stringify(packageJson, null, 2) + "\n");
  for (const file of ["README.md", "LICENSE"]) {
    await Deno.copyFile(join(ROOT, file), join(out, file));
  }
  const ms = Math.round(performance.now() - started);
  console.log(
    `built ${modules} modules into ${relative(Deno.cwd(), out) || "."} in ${ms} ms ` +
      `(dependencies: ${Object.keys(dependencies).join(", ") || "none"})`,
  );
}

if (import.meta.main) await main(Deno.args);

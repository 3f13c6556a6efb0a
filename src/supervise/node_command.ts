/**
 * Finding a command the way Deno does, for {@link NodeChild} on POSIX
 * systems: a bare name is looked up in the parent's PATH when the child's
 * environment has none (Node would fall back to a built-in default path),
 * and a command that did not start is diagnosed (Node reports no reason
 * synchronously) into an error named and coded as Deno's. Internal.
 *
 * @module
 */

/** The parts of `node:fs` used here. */
export interface NodeFsSync {
  statSync(
    path: string,
    options: { throwIfNoEntry: false },
  ): { isFile(): boolean; isDirectory(): boolean } | undefined;
  accessSync(path: string, mode: number): void;
  readonly constants: { readonly X_OK: number };
}

/** An error shaped like Deno's `Deno.errors.NotFound` / `PermissionDenied`: its name, `code`. */
export interface SpawnFailure extends Error {
  readonly code?: "ENOENT" | "EACCES";
}

/** A missing command or cwd: named and coded as Deno's `Deno.errors.NotFound`. */
class NotFound extends Error implements SpawnFailure {
  override readonly name = "NotFound";
  readonly code = "ENOENT";
}

/** A file the system will not run: named and coded as Deno's `Deno.errors.PermissionDenied`. */
class PermissionDenied extends Error implements SpawnFailure {
  override readonly name = "PermissionDenied";
  readonly code = "EACCES";
}

const isFile = (fs: NodeFsSync, path: string) =>
  fs.statSync(path, { throwIfNoEntry: false })?.isFile() === true;

function isExecutable(fs: NodeFsSync, path: string): boolean {
  try {
    fs.accessSync(path, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The files `command` may name: itself (relative to `dir`) when it has a "/", else one per PATH entry. */
function candidates(command: string, path: string | undefined, dir: string): string[] {
  if (command.includes("/")) return [command.startsWith("/") ? command : `${dir}/${command}`];
  if (path === undefined) return [];
  // An empty PATH entry is the working directory (POSIX).
  return path.split(":").map((entry) => `${entry === "" ? dir : entry}/${command}`);
}

/** The first executable file named `command` in `path` (a PATH value), or `undefined`. */
export function findOnPath(
  fs: NodeFsSync,
  command: string,
  path: string | undefined,
  dir: string,
): string | undefined {
  return candidates(command, path, dir).find((file) => isFile(fs, file) && isExecutable(fs, file));
}

/**
 * Why `command` did not start in `cwd` (`undefined`: this process's, `dir`)
 * with `path` as PATH: as Deno says it, a `NotFound` (`code` "ENOENT") for a
 * missing cwd or command, a `PermissionDenied` ("EACCES") for a file that
 * is not executable.
 */
export function spawnFailure(
  fs: NodeFsSync,
  command: string,
  cwd: string | undefined,
  path: string | undefined,
  dir: string,
): SpawnFailure {
  const message = (why: string, file = command) => `Failed to spawn '${file}': ${why}`;
  if (cwd !== undefined && fs.statSync(cwd, { throwIfNoEntry: false })?.isDirectory() !== true) {
    // Deno names the command it found.
    const file = findOnPath(fs, command, path, dir) ?? command;
    return new NotFound(message(`No such cwd '${cwd}'`, file));
  }
  const files = candidates(command, path, cwd ?? dir).filter((file) => isFile(fs, file));
  if (files.length === 0) return new NotFound(message("entity not found"));
  if (!files.some((file) => isExecutable(fs, file))) {
    return new PermissionDenied(message("Permission denied (os error 13)"));
  }
  return new Error(
    `Failed to spawn '${command}': it is an executable file, but did not start ` +
      "(a script's interpreter may be missing)",
  );
}

/**
 * `ProcessSupervisor`: spawns child processes, keeps track of them and
 * makes sure none outlives the program (or the test) that started it.
 *
 * @module
 */

import { type Clock, clockOption, type TimerId } from "../core/clock.ts";
import { ResilienceError } from "../core/errors.ts";
import { knownKeys, numberAtLeast, objectValue, typeError } from "../core/validate.ts";

/**
 * Subprocesses cannot be started here: the runtime has no `Deno.Command`
 * (Deno Deploy, a browser, another runtime) or permission to run them was
 * denied. `cause` is the runtime's own error, when there is one.
 *
 * @example
 * ```ts
 * import { ResilienceError, SubprocessUnavailableError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new SubprocessUnavailableError("no subprocesses") instanceof ResilienceError);
 * ```
 */
export class SubprocessUnavailableError extends ResilienceError {}

/** Options of {@link ProcessSupervisor}. */
export interface ProcessSupervisorOptions {
  /** Signal sent by `killOrphans()` and `close()`. Default `"SIGTERM"`. */
  killSignal?: Deno.Signal;
  /**
   * How long `close()` waits after `killSignal` before it sends `SIGKILL`
   * to children still running. Default 5,000.
   */
  killGraceMs?: number;
  /** Clock that times the grace period. Default the system clock. */
  clock?: Clock;
}

/** Options of {@link ProcessSupervisor.spawn}: `Deno.CommandOptions` without `args`. */
export type SupervisedSpawnOptions = Omit<Deno.CommandOptions, "args">;

const SUPERVISOR_KEYS: readonly string[] = ["killSignal", "killGraceMs", "clock"];

const UNAVAILABLE = "ProcessSupervisor needs subprocess support (Deno.Command)";

/** Why subprocesses cannot run here, or `undefined` when they can. */
function unavailableReason(): string | undefined {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno === undefined || typeof deno.Command !== "function") {
    return "this runtime has no Deno.Command";
  }
  if (isDenoDeploy(deno)) return "Deno Deploy does not allow subprocesses";
  return undefined;
}

function isDenoDeploy(deno: typeof Deno): boolean {
  try {
    // Ask only when already allowed: reading the variable must never prompt.
    const query = { name: "env", variable: "DENO_DEPLOYMENT_ID" } as const;
    if (deno.permissions?.querySync?.(query).state !== "granted") return false;
    return deno.env.get("DENO_DEPLOYMENT_ID") !== undefined;
  } catch {
    return false;
  }
}

function isPermissionError(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

/** One line of /proc/<pid>/stat, reduced to what the supervisor needs. */
interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly state: string;
}

/** Parses a /proc/<pid>/stat line: "pid (comm) state ppid ...". */
function parseStat(line: string): ProcStat | undefined {
  // comm may hold spaces and parentheses, so split after the last ")".
  const close = line.lastIndexOf(")");
  const pid = Number(line.slice(0, line.indexOf(" (")));
  if (close === -1 || !Number.isInteger(pid) || pid <= 0) return undefined;
  const fields = line.slice(close + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) ? { pid, ppid, state: fields[0] } : undefined;
}

/**
 * Every process in /proc. Deno 2.9 lets a program read /proc only under
 * `--allow-all`; without it the table is read by a short-lived `cat`
 * (through `/bin/sh`, for the glob), which needs permission to run it.
 */
async function processTable(): Promise<ProcStat[]> {
  try {
    const table: ProcStat[] = [];
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = parseStat(await Deno.readTextFile(`/proc/${entry.name}/stat`));
        if (stat !== undefined) table.push(stat);
      } catch (error) {
        if (isPermissionError(error)) throw error;
        // The process exited while we looked.
      }
    }
    return table;
  } catch (error) {
    if (!isPermissionError(error)) throw error;
  }
  let reader: Deno.ChildProcess;
  try {
    reader = new Deno.Command("/bin/sh", {
      args: ["-c", "exec cat /proc/[0-9]*/stat 2>/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (error) {
    if (!isPermissionError(error)) throw error;
    throw new SubprocessUnavailableError(
      "ProcessSupervisor.killOrphans needs to read /proc to find untracked child processes: " +
        "Deno allows that with --allow-all, or through a subprocess with permission to run " +
        "/bin/sh (--allow-run)",
      { cause: error },
    );
  }
  const { stdout } = await reader.output();
  const table: ProcStat[] = [];
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const stat = parseStat(line);
    if (stat !== undefined && stat.pid !== reader.pid) table.push(stat);
  }
  return table;
}

/** Living descendants of `root` (zombies excluded), deepest first. */
function descendantsOf(root: number, table: readonly ProcStat[]): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const stat of table) {
    // Zombies (Z) and dead (X) processes have exited already.
    if (stat.state === "Z" || stat.state === "X") continue;
    const siblings = byParent.get(stat.ppid);
    if (siblings === undefined) byParent.set(stat.ppid, [stat]);
    else siblings.push(stat);
  }
  const levels: ProcStat[][] = [];
  const seen = new Set<number>([root]);
  let level = byParent.get(root) ?? [];
  while (level.length > 0) {
    levels.push(level);
    const next: ProcStat[] = [];
    for (const stat of level) {
      seen.add(stat.pid);
      for (const child of byParent.get(stat.pid) ?? []) {
        if (!seen.has(child.pid)) next.push(child);
      }
    }
    level = next;
  }
  return levels.reverse().flat();
}

/**
 * Starts child processes with `Deno.Command`, tracks them until they exit,
 * and kills them on request: `killOrphans()` for every child still running
 * (on Linux including processes this program started some other way, found
 * in /proc), `close()` (or `await using`) for the tracked ones, waiting
 * until they have exited.
 *
 * Constructing one where subprocesses cannot run (Deno Deploy, or no
 * `Deno.Command`) throws a {@link SubprocessUnavailableError}; so does
 * `spawn()` when permission to run the command is denied.
 *
 * @example Nothing outlives the block
 * ```ts
 * import { ProcessSupervisor } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * let child: Deno.ChildProcess;
 * {
 *   await using supervisor = new ProcessSupervisor();
 *   child = supervisor.spawn("sleep", ["60"]);
 *   assert.equal(supervisor.children.length, 1);
 * } // disposed: the child got SIGTERM and has exited
 * assert.equal((await child.status).signal, "SIGTERM");
 * ```
 */
export class ProcessSupervisor implements AsyncDisposable {
  readonly #children = new Set<Deno.ChildProcess>();
  readonly #killSignal: Deno.Signal;
  readonly #killGraceMs: number;
  readonly #clock: Clock;
  #closing: Promise<void> | undefined;

  /** Validates `options`; throws {@link SubprocessUnavailableError} where subprocesses cannot run. */
  constructor(options: ProcessSupervisorOptions = {}) {
    objectValue("options", options);
    knownKeys("", options, SUPERVISOR_KEYS);
    const killSignal = options.killSignal ?? "SIGTERM";
    if (typeof killSignal !== "string" || !killSignal.startsWith("SIG")) {
      typeError("killSignal", 'a signal name such as "SIGTERM"', killSignal);
    }
    this.#killSignal = killSignal;
    this.#killGraceMs = numberAtLeast("killGraceMs", options.killGraceMs ?? 5_000, 0);
    const clock = clockOption(options.clock ?? undefined, ["now", "setTimer", "clearTimer"]);
    this.#clock = clock;
    const reason = unavailableReason();
    if (reason !== undefined) {
      throw new SubprocessUnavailableError(`${UNAVAILABLE}; it is not available here (${reason})`);
    }
  }

  /** Tracked children that have not exited yet, in spawn order. */
  get children(): readonly Deno.ChildProcess[] {
    return [...this.#children];
  }

  /** True once {@link ProcessSupervisor.close} has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Spawns `command` with `args` (`new Deno.Command(command, { ...options,
   * args }).spawn()`) and tracks the child until it exits. Returns the
   * `Deno.ChildProcess`; stdio defaults are Deno's (inherit), and piped
   * streams are the caller's to read or cancel.
   */
  spawn(
    command: string | URL,
    args: readonly string[] = [],
    options: SupervisedSpawnOptions = {},
  ): Deno.ChildProcess {
    if (this.#closing !== undefined) {
      throw new Error(
        `ProcessSupervisor is closed: cannot spawn ${JSON.stringify(String(command))}`,
      );
    }
    if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
      typeError("args", "an array of strings", args);
    }
    objectValue("options", options);
    if ("args" in options) {
      throw new TypeError(
        "options.args is not allowed: pass the arguments as spawn's second argument",
      );
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command, { ...options, args: [...args] }).spawn();
    } catch (error) {
      if (isPermissionError(error)) {
        throw new SubprocessUnavailableError(
          `${UNAVAILABLE}; permission to run ${
            JSON.stringify(String(command))
          } was denied (grant it with --allow-run)`,
          { cause: error },
        );
      }
      throw error;
    }
    this.#children.add(child);
    child.status.then(
      () => this.#children.delete(child),
      () => this.#children.delete(child),
    );
    return child;
  }

  /**
   * Sends `signal` (default the `killSignal` option) to every child still
   * running: the tracked ones and, on Linux, every other living descendant
   * of this process found in /proc (processes whose parent, or an
   * ancestor's parent, is `Deno.pid`), deepest first so that grandchildren
   * are not left behind when their parent dies. Resolves with the pids
   * signalled; it does not wait for them to exit (await a tracked child's
   * `status`, or {@link ProcessSupervisor.close}).
   *
   * Deno 2.9 lets a program read /proc only under `--allow-all`; without
   * it, `killOrphans` has a short-lived `cat` (started through `/bin/sh`)
   * print every `/proc/<pid>/stat`, which `--allow-run` permits.
   * Where neither is allowed it throws a {@link SubprocessUnavailableError}.
   */
  async killOrphans(signal: Deno.Signal = this.#killSignal): Promise<number[]> {
    const tracked = new Map<number, Deno.ChildProcess>();
    for (const child of this.#children) tracked.set(child.pid, child);
    const scan = Deno.build.os === "linux";
    const found = scan ? descendantsOf(Deno.pid, await processTable()) : [];
    const killed: number[] = [];
    for (const stat of found) {
      const child = tracked.get(stat.pid);
      if (child !== undefined) {
        tracked.delete(stat.pid);
        if (killChild(child, signal)) killed.push(stat.pid);
        continue;
      }
      try {
        Deno.kill(stat.pid, signal);
        killed.push(stat.pid);
      } catch (error) {
        if (isPermissionError(error)) throw error;
        // Exited in the meantime.
      }
    }
    // Without /proc, signal the tracked children directly. With it, a
    // tracked child the scan did not find has exited already.
    if (!scan) {
      for (const child of tracked.values()) {
        if (killChild(child, signal)) killed.push(child.pid);
      }
    }
    return killed;
  }

  /**
   * Stops accepting new children, sends `killSignal` to every tracked child
   * still running, and resolves once all of them have exited; children
   * still running after `killGraceMs` get `SIGKILL`. Calling it again
   * returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@link ProcessSupervisor.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    const children = [...this.#children];
    if (children.length === 0) return;
    for (const child of children) killChild(child, this.#killSignal);
    const exited = Promise.all(children.map((c) => c.status)).then(() => true);
    let timer: TimerId | undefined;
    const graceOver = new Promise<boolean>((resolve) => {
      timer = this.#clock.setTimer(() => resolve(false), this.#killGraceMs);
    });
    const inTime = await Promise.race([exited, graceOver]);
    this.#clock.clearTimer(timer!);
    if (!inTime) {
      for (const child of this.#children) killChild(child, "SIGKILL");
      await exited;
    }
  }
}

/** Signals a child; false when it had exited already. */
function killChild(child: Deno.ChildProcess, signal: Deno.Signal): boolean {
  try {
    child.kill(signal);
    return true;
  } catch (error) {
    if (isPermissionError(error)) throw error;
    return false;
  }
}

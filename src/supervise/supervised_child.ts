/**
 * The types of `ProcessSupervisor`'s children, written out member by member
 * so that the package's declarations name no `Deno` type: on Node there is
 * no global `Deno` namespace, and a declaration naming one is an error
 * (`skipLibCheck: false`) or silently `any` (`skipLibCheck: true`, tsc's
 * default). They mirror Deno's: a `Deno.ChildProcess` is a
 * {@link SupervisedChild} and a `SupervisedChild` a `Deno.ChildProcess`, so
 * Deno code may use either name.
 *
 * @module
 */

/** A signal's name, as `Deno.Signal` lists them. */
export type SupervisedSignal =
  | "SIGABRT"
  | "SIGALRM"
  | "SIGBREAK"
  | "SIGBUS"
  | "SIGCHLD"
  | "SIGCONT"
  | "SIGEMT"
  | "SIGFPE"
  | "SIGHUP"
  | "SIGILL"
  | "SIGINFO"
  | "SIGINT"
  | "SIGIO"
  | "SIGPOLL"
  | "SIGUNUSED"
  | "SIGKILL"
  | "SIGPIPE"
  | "SIGPROF"
  | "SIGPWR"
  | "SIGQUIT"
  | "SIGSEGV"
  | "SIGSTKFLT"
  | "SIGSTOP"
  | "SIGSYS"
  | "SIGTERM"
  | "SIGTRAP"
  | "SIGTSTP"
  | "SIGTTIN"
  | "SIGTTOU"
  | "SIGURG"
  | "SIGUSR1"
  | "SIGUSR2"
  | "SIGVTALRM"
  | "SIGWINCH"
  | "SIGXCPU"
  | "SIGXFSZ";

/** How a child ended (`Deno.CommandStatus`). */
export interface SupervisedStatus {
  /** The exit code was 0. */
  readonly success: boolean;
  /** The exit code; 128 + the signal's number when a signal ended the child. */
  readonly code: number;
  /** The signal that ended the child, or `null`. */
  readonly signal: SupervisedSignal | null;
}

/** How a child ended and what it wrote (`Deno.CommandOutput`). */
export interface SupervisedOutput extends SupervisedStatus {
  /** Everything on stdout; throws a `TypeError` when stdout was not piped. */
  readonly stdout: Uint8Array<ArrayBuffer>;
  /** Everything on stderr; throws a `TypeError` when stderr was not piped. */
  readonly stderr: Uint8Array<ArrayBuffer>;
}

/** A child's piped stdout or stderr (`Deno.SubprocessReadableStream`). */
export interface SupervisedReadableStream extends ReadableStream<Uint8Array<ArrayBuffer>> {
  /** Reads the stream to its end, into an `ArrayBuffer`. */
  arrayBuffer(): Promise<ArrayBuffer>;
  /** Reads the stream to its end, into one `Uint8Array`. */
  bytes(): Promise<Uint8Array<ArrayBuffer>>;
  /** Reads the stream to its end and parses it as JSON. */
  json(): Promise<unknown>;
  /** Reads the stream to its end and decodes it as UTF-8. */
  text(): Promise<string>;
}

/**
 * A running child, as `ProcessSupervisor.spawn` returns it: on Deno the
 * `Deno.ChildProcess` itself, on Node an object with the same members.
 *
 * @example Read what a child prints
 * ```ts
 * import { ProcessSupervisor, type SupervisedChild } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * await using supervisor = new ProcessSupervisor();
 * const child: SupervisedChild = supervisor.spawn("echo", ["42"], { stdout: "piped" });
 * assert.equal(await child.stdout.text(), "42\n");
 * assert.equal((await child.status).code, 0);
 * ```
 */
export interface SupervisedChild {
  /** The child's process id. */
  readonly pid: number;
  /** Settles once the child has exited: how it ended. */
  readonly status: Promise<SupervisedStatus>;
  /** Its stdin; throws a `TypeError` unless spawned with `stdin: "piped"`. */
  readonly stdin: WritableStream<Uint8Array>;
  /** Its stdout; throws a `TypeError` unless spawned with `stdout: "piped"`. */
  readonly stdout: SupervisedReadableStream;
  /** Its stderr; throws a `TypeError` unless spawned with `stderr: "piped"`. */
  readonly stderr: SupervisedReadableStream;
  /** Waits for the child to exit; its status and piped output, whole. */
  output(): Promise<SupervisedOutput>;
  /** Sends `signal` (default `"SIGTERM"`); throws once the child has exited. */
  kill(signal?: SupervisedSignal | number): void;
  /** Keeps this process alive until the child exits (the default). */
  ref(): void;
  /** Lets this process exit while the child runs. */
  unref(): void;
  /** Kills the child unless it has exited, and waits for its exit (`await using`). */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Options of `ProcessSupervisor.spawn`: `Deno.CommandOptions` without
 * `args` (the arguments are `spawn`'s second argument).
 *
 * @example A child with its own environment and working directory
 * ```ts
 * import { ProcessSupervisor, type SupervisedSpawnOptions } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * await using supervisor = new ProcessSupervisor();
 * const options: SupervisedSpawnOptions = {
 *   cwd: "/",
 *   env: { GREETING: "hi" },
 *   stdout: "piped",
 * };
 * const child = supervisor.spawn("sh", ["-c", 'echo "$GREETING from $PWD"'], options);
 * assert.equal(await child.stdout.text(), "hi from /\n");
 * ```
 */
export interface SupervisedSpawnOptions {
  /** The child's working directory. Default this process's. */
  cwd?: string | URL;
  /** Start from an empty environment instead of this process's. Default `false`. */
  clearEnv?: boolean;
  /** Variables added to (or, with `clearEnv`, making up) the child's environment. */
  env?: Record<string, string>;
  /** The child's user id (not on Windows). */
  uid?: number;
  /** The child's group id (not on Windows). */
  gid?: number;
  /** Aborting it kills the child. */
  signal?: AbortSignal;
  /** The child's stdin. Default `"inherit"`. */
  stdin?: "piped" | "inherit" | "null";
  /** The child's stdout. Default `"inherit"`. */
  stdout?: "piped" | "inherit" | "null";
  /** The child's stderr. Default `"inherit"`. */
  stderr?: "piped" | "inherit" | "null";
  /** Pass the arguments to the Windows process as they are, unquoted. */
  windowsRawArguments?: boolean;
  /**
   * Start the child in a session and process group of its own. The
   * supervisor's default outside Windows is `true`; pass `false` to keep
   * the child in this process's group.
   */
  detached?: boolean;
}

/**
 * Running OCI hooks synchronously from the calling thread, for both sides:
 * the runtime (prestart, createRuntime, poststart, poststop) and the init
 * (createContainer, startContainer), whose namespaces are those of its main
 * thread alone. runtime/model/hooks.ts says which kind runs where and what
 * its failure means.
 *
 * A hook is started with posix_spawn(3) (ffi/spawn.ts), which creates the
 * child from the calling thread, so it is born in that thread's namespaces,
 * and lets tinyo choose everything the spec asks for:
 * - argv is `args` as given, argv[0] included (runc: `exec.Cmd{Path, Args}`),
 *   and the program is `path`, never looked up in PATH;
 * - the environment is exactly `env` (none when absent), nothing of tinyo's;
 * - stdin is a memfd holding the state JSON (config.md: "The state of the
 *   container MUST be passed to hooks over stdin"), so there is no size
 *   limit and nothing to feed while the hook runs; stdout and stderr are
 *   memfds too, read back after it ended (the end of each, up to
 *   `outputLimit` bytes), so nothing reaches tinyo's own stdio, which may
 *   be a container's;
 * - no other descriptor of tinyo reaches the hook: the memfds are
 *   close-on-exec and only dup2'ed onto 0, 1 and 2 in the child, and the
 *   child closes every descriptor above those before it executes.
 *
 * The hook is waited for through a pidfd with poll(2), up to its `timeout`
 * (none: forever); a hook still running then gets SIGKILL through the pidfd
 * and is reaped. Only the hook itself is killed, as runc does: what it
 * started keeps running. A process it left behind cannot hold tinyo up
 * either, since its output is a file, not a pipe to drain.
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config.md#posix-platform-hooks
 * @module
 */

import { type ChildExit, isErrno, POLL, SIGNALS, spawnCalls } from "./syscalls.ts";
import { TinyoError } from "./errors.ts";
import {
  type Hook,
  hookArgv,
  hookFailureMessage,
  type HookKind,
  type HookState,
  hookTimeoutMs,
  lastLine,
} from "./model/hooks.ts";

/** How much of the end of a hook's stdout and of its stderr `runHook` keeps, by default. */
export const HOOK_OUTPUT_LIMIT = 4096;

/** Why a hook failed. */
export type HookFailure =
  /** It could not be started (`posix_spawn` failed: no such file, not executable, ...). */
  | { reason: "spawn" }
  /** It exited with a non-zero status, or a signal killed it. */
  | { reason: "exit"; exit: ChildExit }
  /** It was still running after its timeout, and was killed. */
  | { reason: "timeout"; seconds: number };

/**
 * A hook that failed. The message is one line, e.g. `Cannot run the
 * createRuntime hook "/usr/bin/x": exit status 3: <last line of its
 * stderr>` or `...: timed out after 2 s`.
 */
export class HookError extends TinyoError {
  override name = "HookError";
  /** The kind of the hook, when the caller gave it. */
  readonly kind: HookKind | undefined;
  /** The hook's program. */
  readonly path: string;
  /** What went wrong. */
  readonly failure: HookFailure;
  /** The end of the hook's stderr (empty when it did not run). */
  readonly stderr: string;

  constructor(
    init: { kind: HookKind | undefined; hook: Hook; failure: HookFailure; problem: string; stderr: string },
    options: { cause?: unknown } = {},
  ) {
    super(failureMessage(init.kind, init.hook, init.problem, init.stderr), options);
    this.kind = init.kind;
    this.path = init.hook.path;
    this.failure = init.failure;
    this.stderr = init.stderr;
  }
}

/** Options of `runHook`. */
export interface RunHookOptions {
  /** The kind of the hook, for the error message. */
  kind?: HookKind;
  /**
   * A descriptor of the hook's program (O_PATH is enough), to execute
   * instead of `hook.path`: it becomes the hook's descriptor 3 and is run
   * as `/proc/self/fd/3`. For createContainer, whose path resolves in the
   * runtime's mount namespace but which runs after the init's root moved.
   * A script then needs its interpreter, and any program its dynamic loader,
   * in the current root, and /proc mounted.
   */
  binaryFd?: number;
  /** How many bytes of the end of stdout and of stderr to keep; default `HOOK_OUTPUT_LIMIT`. */
  outputLimit?: number;
}

/** What a hook that succeeded wrote (the end of each stream, see `outputLimit`). */
export interface HookOutput {
  stdout: string;
  stderr: string;
}

/**
 * Runs one hook to its end, synchronously, from the calling thread (so in
 * its namespaces), with `state` as JSON on its stdin.
 *
 * Needs no Deno permission beyond FFI.
 *
 * @example Usage
 * ```ts ignore
 * const { stdout } = runHook({ path: "/usr/bin/x", args: ["x", "-v"], timeout: 5 }, state, {
 *   kind: "createRuntime",
 * });
 * ```
 *
 * @param hook The hook, as validated by runtime/model/spec.ts.
 * @param state The container's state (runtime/model/hooks.ts `hookState`).
 * @returns The end of what it wrote on stdout and stderr.
 * @throws {HookError} When it cannot be started, exits non-zero, is killed
 *   by a signal, or outlives its timeout.
 * @throws {SyscallError} When tinyo's own calls fail (memfd_create, pidfd_open, ...).
 */
export function runHook(hook: Hook, state: HookState, options: RunHookOptions = {}): HookOutput {
  return runProgram(hook, JSON.stringify(state), options);
}

/**
 * Runs a program the way a hook runs (`runHook`), with `input` on its
 * stdin: tinyo's own helper programs (iptables-restore reads its rules
 * there), born in the calling thread's namespaces.
 */
export function runProgram(hook: Hook, input: string, options: RunHookOptions = {}): HookOutput {
  const limit = options.outputLimit ?? HOOK_OUTPUT_LIMIT;
  const fds: number[] = [];
  try {
    for (const name of ["hook-stdin", "hook-stdout", "hook-stderr"]) fds.push(spawnCalls.memfdCreate(name));
    const [stdin, stdout, stderr] = fds as [number, number, number];
    spawnCalls.writeAll(stdin, new TextEncoder().encode(input));
    // The hook's descriptor 0 shares this open file, and so its offset.
    spawnCalls.seekTo(stdin, 0);
    const failed = runChild(hook, options, [stdin, stdout, stderr]);
    const output = { stdout: tail(stdout, limit), stderr: tail(stderr, limit) };
    if (failed !== undefined) {
      const { failure, problem, cause } = failed;
      throw new HookError({ kind: options.kind, hook, failure, problem, stderr: output.stderr }, { cause });
    }
    return output;
  } finally {
    for (const fd of fds) spawnCalls.close(fd);
  }
}

/**
 * Runs the hooks of one kind in order and stops at the first that fails:
 * for prestart, createRuntime, createContainer and startContainer, whose
 * failure fails the operation (runtime.md "Lifecycle"; `HOOK_RULES[kind].fatal`).
 *
 * @example Usage
 * ```ts ignore
 * runHooks("createRuntime", hooksOf(spec, "createRuntime"), state);
 * ```
 *
 * @throws {HookError} The first hook's failure.
 */
export function runHooks(kind: HookKind, hooks: readonly Hook[], state: HookState): void {
  for (const hook of hooks) runHook(hook, state, { kind });
}

/**
 * Runs every hook of one kind in order, even after failures, and returns
 * the failures: for poststart and poststop, whose failure the runtime only
 * logs as a warning while "the remaining hooks and lifecycle continue"
 * (runtime.md "Lifecycle", steps 9 and 13).
 *
 * @returns The failed hooks' errors, in order (empty when all succeeded).
 * @throws {SyscallError} When tinyo's own calls fail.
 */
export function runHooksWarn(kind: HookKind, hooks: readonly Hook[], state: HookState): HookError[] {
  const failures: HookError[] = [];
  for (const hook of hooks) {
    try {
      runHook(hook, state, { kind });
    } catch (err) {
      if (!(err instanceof HookError)) throw err;
      failures.push(err);
    }
  }
  return failures;
}

/** A failure and its wording for the message. */
interface Failed {
  failure: HookFailure;
  problem: string;
  cause?: unknown;
}

/** Spawns the hook on `stdio`, waits for it (up to its timeout), reaps it. */
function runChild(hook: Hook, options: RunHookOptions, stdio: [number, number, number]): Failed | undefined {
  const { argv0, args } = hookArgv(hook);
  const viaFd = options.binaryFd !== undefined;
  let pid: number;
  try {
    pid = spawnCalls.posixSpawn(viaFd ? "/proc/self/fd/3" : hook.path, [argv0, ...args], {
      env: hook.env ?? [],
      fds: viaFd ? [...stdio, options.binaryFd!] : stdio,
    });
  } catch (err) {
    return { failure: { reason: "spawn" }, problem: spawnProblem(err, viaFd), cause: err };
  }
  let pidfd: number;
  try {
    // Race-free: an unreaped child keeps its pid.
    pidfd = spawnCalls.pidfdOpen(pid);
  } catch (err) {
    spawnCalls.kill(pid, SIGNALS.SIGKILL);
    spawnCalls.waitPid(pid);
    throw err;
  }
  try {
    const timeoutMs = hookTimeoutMs(hook);
    // A pidfd polls readable once its process has exited.
    const ready = spawnCalls.pollOne(pidfd, POLL.IN, timeoutMs ?? -1);
    if (ready === 0) {
      spawnCalls.pidfdSendSignal(pidfd, SIGNALS.SIGKILL);
      spawnCalls.waitPidfd(pidfd);
      return {
        failure: { reason: "timeout", seconds: hook.timeout ?? 0 },
        problem: `timed out after ${hook.timeout} s`,
      };
    }
    const exit = spawnCalls.waitPidfd(pidfd);
    if (exit.exited && exit.code === 0) return undefined;
    return { failure: { reason: "exit", exit }, problem: exitProblem(exit) };
  } finally {
    spawnCalls.close(pidfd);
  }
}

/** `exit status 3`, `killed by signal SIGSEGV`. */
function exitProblem(exit: ChildExit): string {
  if (exit.exited) return `exit status ${exit.code}`;
  const name = Object.entries(SIGNALS).find(([, n]) => n === exit.signal)?.[0] ?? `${exit.signal}`;
  return `killed by signal ${name}${exit.coreDumped ? " (core dumped)" : ""}`;
}

/** Why posix_spawn failed, in the words of the other hook runners. */
function spawnProblem(err: unknown, viaFd: boolean): string {
  if (isErrno(err, "ENOENT")) {
    // Through a descriptor the program exists: its loader or interpreter, or /proc, is missing.
    return viaFd
      ? "no such file (its dynamic loader or interpreter is not in the root, or /proc is not mounted)"
      : "no such file";
  }
  if (isErrno(err, "EACCES")) return "permission denied";
  if (isErrno(err, "ENOEXEC")) return "not an executable (exec format error)";
  return err instanceof Error ? err.message : String(err);
}

/** The message: runtime/model/hooks.ts's wording, also without a kind. */
function failureMessage(kind: HookKind | undefined, hook: Hook, problem: string, stderr: string): string {
  if (kind !== undefined) return hookFailureMessage(kind, hook, problem, stderr);
  const detail = lastLine(stderr);
  return `Cannot run the hook "${hook.path}": ${problem}${detail === "" ? "" : `: ${detail}`}`;
}

/** The last `limit` bytes of a memfd, as text. */
function tail(fd: number, limit: number): string {
  const size = spawnCalls.fstat(fd).size;
  const start = Math.max(0, size - limit);
  const buf = new Uint8Array(size - start);
  spawnCalls.seekTo(fd, start);
  let off = 0;
  while (off < buf.length) {
    const n = spawnCalls.read(fd, buf.subarray(off));
    if (n === 0) break;
    off += n;
  }
  return new TextDecoder().decode(buf.subarray(0, off));
}

/**
 * Starting helper programs (OCI hooks) synchronously, from the calling
 * thread: posix_spawn(3), memfd_create(2) for their stdio, and waitid(2) on
 * a pidfd to reap them.
 *
 * Why posix_spawn and not `Deno.Command`: the container init lives in
 * per-thread namespaces on its main thread (shared/docs/PLATFORM.md), and a
 * hook run there must be created by that very thread. glibc's posix_spawn
 * clones the calling thread (clone(CLONE_VM|CLONE_VFORK), its own stack) and
 * the child only runs glibc's C code up to execve(2), so no JavaScript runs
 * in it (a fork into V8 would crash). With CLONE_VFORK the parent waits for
 * the exec, and glibc (2.24 and later) reports an exec failure as the call's
 * error number.
 *
 * The structures are x86_64 glibc's: posix_spawn_file_actions_t is 80 bytes
 * and posix_spawnattr_t 336 (spawn.h); both are allocated larger. siginfo_t
 * is 128 bytes with si_code at 8 and si_status at 24 (bits/types/siginfo_t.h).
 *
 * @module
 */

import { libc } from "./_libc.ts";
import { cString, CStringArray } from "./cstring.ts";
import { lastErrno, SyscallError } from "./errno.ts";

/** Generous sizes for glibc's opaque structures (80 and 336 bytes on x86_64). */
const FILE_ACTIONS_SIZE = 128;
const SPAWNATTR_SIZE = 512;
/** posix_spawnattr_setflags(3) flags (spawn.h). */
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/** memfd_create(2) flags (linux/memfd.h). */
const MFD_CLOEXEC = 0x1;
/** waitid(2): idtype P_PID and P_PIDFD, option WEXITED (sys/wait.h, linux/wait.h). */
const P_PID = 1;
const P_PIDFD = 3;
const WEXITED = 4;
/** siginfo_t si_code values for SIGCHLD (asm-generic/siginfo.h). */
const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;
const EINTR = 4;
const EPROTO = 71;

/** What the child runs with: its environment and its descriptors. */
export interface SpawnOptions {
  /** The whole environment, `KEY=VALUE` entries (none when absent: not the caller's). */
  env?: readonly string[];
  /**
   * The child's descriptors, in order: the caller's `fds[i]` becomes the
   * child's descriptor `i` (dup2 in the child, so without close-on-exec);
   * every other descriptor is closed in the child. Default `[0, 1, 2]`:
   * the caller's stdin, stdout and stderr.
   */
  fds?: readonly number[];
}

function check(call: string, ret: number, path: string): void {
  // The posix_spawn family returns the error number instead of setting errno.
  if (ret !== 0) throw new SyscallError({ syscall: call, errno: ret, path });
}

/** A sigset_t (128 bytes) with the given signals set. */
function sigset(signals: Iterable<number>): Uint8Array<ArrayBuffer> {
  const set = new Uint8Array(128);
  for (const sig of signals) set[(sig - 1) >> 3]! |= 1 << ((sig - 1) & 7);
  return set;
}

function allCatchableSignals(): number[] {
  const list: number[] = [];
  for (let sig = 1; sig <= 64; sig++) if (sig !== 9 && sig !== 19) list.push(sig);
  return list;
}

/**
 * Refuses a mapping that the dup2 actions (to 0, then 1, 2, ...) would
 * break: a source that an earlier dup2 already replaced.
 */
function checkFds(fds: readonly number[]): void {
  fds.forEach((source, target) => {
    if (!Number.isInteger(source) || source < 0) {
      throw new TypeError(`Cannot spawn: ${source} for descriptor ${target} is not a descriptor`);
    }
    if (source < target && fds[source] !== source) {
      throw new TypeError(
        `Cannot spawn: descriptor ${source} is replaced before it is copied to ${target}; pass a copy`,
      );
    }
  });
}

/**
 * posix_spawn(3) of `path` (not looked up in PATH) with `argv` as the
 * child's whole argv, argv[0] included, so the caller chooses argv[0].
 *
 * The child is created from the calling thread, so it inherits that
 * thread's namespaces, root, working directory and credentials. Its
 * descriptors are `options.fds` (by default 0, 1 and 2); every other
 * descriptor is closed in the child (posix_spawn_file_actions_addclosefrom_np),
 * whether close-on-exec or not. It starts with no signal blocked and every
 * signal at its default action (a SIG_IGN of the caller, such as Deno's
 * SIGPIPE, would survive execve otherwise).
 *
 * The child stays unreaped: wait for it with `waitPidfd` (after
 * `pidfdOpen`, race-free because an unreaped child keeps its pid) or
 * `waitPid`.
 *
 * @param path The program to execute.
 * @param argv Its argv; must not be empty.
 * @returns The child's pid.
 * @throws {SyscallError} `posix_spawn` with the exec's errno (ENOENT,
 *   EACCES, ENOEXEC, ...; EBADF for a descriptor in `fds` that is not
 *   open), or a file-action call that failed.
 * @throws {TypeError} For an empty argv, a NUL byte in a string, a bad
 *   `fds` mapping, or a glibc older than 2.34.
 * @see https://man7.org/linux/man-pages/man3/posix_spawn.3.html
 */
export function posixSpawn(path: string, argv: readonly string[], options: SpawnOptions = {}): number {
  if (argv.length === 0) throw new TypeError(`Cannot spawn "${path}": argv is empty (argv[0] is required)`);
  const fds = options.fds ?? [0, 1, 2];
  checkFds(fds);
  const closeFrom = libc.posix_spawn_file_actions_addclosefrom_np;
  if (closeFrom === null) {
    throw new TypeError(
      `Cannot spawn "${path}": glibc 2.34 or later is needed (posix_spawn_file_actions_addclosefrom_np)`,
    );
  }
  const file = cString(path, "path");
  const args = new CStringArray(argv, "argument");
  const envp = new CStringArray(options.env ?? [], "environment variable");
  const pid = new Int32Array(1);
  const actions = new Uint8Array(FILE_ACTIONS_SIZE);
  const attr = new Uint8Array(SPAWNATTR_SIZE);
  const noneBlocked = sigset([]);
  const allDefault = sigset(allCatchableSignals());

  check("posix_spawn_file_actions_init", libc.posix_spawn_file_actions_init(actions), path);
  try {
    check("posix_spawnattr_init", libc.posix_spawnattr_init(attr), path);
    try {
      fds.forEach((source, target) => {
        check(
          "posix_spawn_file_actions_adddup2",
          libc.posix_spawn_file_actions_adddup2(actions, source, target),
          `fd ${source} -> ${target}`,
        );
      });
      check("posix_spawn_file_actions_addclosefrom_np", closeFrom(actions, fds.length), `fd ${fds.length}..`);
      check(
        "posix_spawnattr_setflags",
        libc.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK),
        path,
      );
      check("posix_spawnattr_setsigmask", libc.posix_spawnattr_setsigmask(attr, noneBlocked), path);
      check("posix_spawnattr_setsigdefault", libc.posix_spawnattr_setsigdefault(attr, allDefault), path);
      const ret = libc.posix_spawn(
        new Uint8Array(pid.buffer),
        file,
        actions,
        attr,
        args.buffer,
        envp.buffer,
      );
      check("posix_spawn", ret, path);
      // The argv and envp arrays own the strings C read: used after the call.
      void args.length, envp.length, file.length;
      return pid[0]!;
    } finally {
      libc.posix_spawnattr_destroy(attr);
    }
  } finally {
    libc.posix_spawn_file_actions_destroy(actions);
  }
}

/**
 * memfd_create(2) with MFD_CLOEXEC: an anonymous in-memory file (no size
 * limit but memory) that no child inherits unless it is dup2'ed into it.
 *
 * @param name A label, shown as `/memfd:<name>` in /proc/PID/fd.
 * @returns The descriptor; close it with `close`.
 * @throws {SyscallError} EMFILE, ENOMEM, ...
 */
export function memfdCreate(name: string): number {
  const fd = libc.memfd_create(cString(name, "memfd name"), MFD_CLOEXEC);
  if (fd < 0) throw new SyscallError({ syscall: "memfd_create", errno: lastErrno(), path: name });
  return fd;
}

/** How a child ended. */
export type ChildExit =
  /** It called exit(2) (or returned from main) with `code`. */
  | { exited: true; code: number }
  /** A signal killed it (`coreDumped` when it left a core). */
  | { exited: false; signal: number; coreDumped: boolean };

function waitid(idtype: number, id: number, what: string): ChildExit {
  const info = new Uint8Array(128);
  for (;;) {
    if (libc.waitid(idtype, id, info, WEXITED) === 0) break;
    const errno = lastErrno();
    if (errno !== EINTR) throw new SyscallError({ syscall: "waitid", errno, path: what });
  }
  const view = new DataView(info.buffer);
  const code = view.getInt32(8, true);
  const status = view.getInt32(24, true);
  if (code === CLD_EXITED) return { exited: true, code: status };
  if (code === CLD_KILLED || code === CLD_DUMPED) {
    return { exited: false, signal: status, coreDumped: code === CLD_DUMPED };
  }
  // WEXITED alone reports nothing else; a stopped or continued child would be a kernel surprise.
  throw new SyscallError({ syscall: "waitid", errno: EPROTO, path: `${what}: si_code ${code}` });
}

/**
 * Waits for the child behind `pidfd` to end and reaps it (waitid(2)
 * P_PIDFD, WEXITED; Linux 5.4). Retries EINTR. The pidfd stays open.
 *
 * @throws {SyscallError} ECHILD when it is not a child of the caller (or
 *   was reaped already).
 */
export function waitPidfd(pidfd: number): ChildExit {
  return waitid(P_PIDFD, pidfd, `pidfd ${pidfd}`);
}

/**
 * Waits for child `pid` to end and reaps it (waitid(2) P_PID, WEXITED).
 * Prefer `waitPidfd`; this is for a child no pidfd could be opened for.
 *
 * @throws {SyscallError} ECHILD when it is not a child of the caller.
 */
export function waitPid(pid: number): ChildExit {
  return waitid(P_PID, pid, `pid ${pid}`);
}

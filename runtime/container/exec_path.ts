/**
 * Finding the command to execute inside the container, the way runc does:
 * with the container's own PATH (not the runtime's), after pivot_root (or
 * after joining the container, for exec), by descriptor.
 *
 * @module
 */

import { CannotExecuteError, CommandNotFoundError } from "../errors.ts";
import { fsCalls, isErrno, O, S_IF } from "../syscalls.ts";
import { IN_ROOT } from "../inroot.ts";
import { DEFAULT_PATH } from "../model/run_spec.ts";

/** The value of `name` in a `KEY=VALUE` list, or undefined. */
export function envValue(env: readonly string[], name: string): string | undefined {
  const prefix = `${name}=`;
  for (let i = env.length - 1; i >= 0; i--) {
    if (env[i]!.startsWith(prefix)) return env[i]!.slice(prefix.length);
  }
  return undefined;
}

/** The command to execute: its path in the container and a descriptor of it. */
export interface ResolvedCommand {
  /** The container path it was found at (for messages). */
  path: string;
  /** A readable descriptor of the file (close-on-exec), what execveat(2) runs. */
  fd: number;
}

/** How deep `#!` interpreters may nest (the kernel's own limit is 4). */
const MAX_INTERPRETERS = 4;

function opensInRoot(rootFd: number, path: string): number {
  // O_NONBLOCK: a FIFO planted at the path does not block the init.
  return fsCalls.openat2(rootFd, path.replace(/^\/+/, "") || ".", {
    flags: O.RDONLY | O.CLOEXEC | O.NOCTTY | O.NONBLOCK,
    resolve: IN_ROOT,
  });
}

/** True for errors that mean "this path leaves the root through /proc". */
function isMagicLink(err: unknown): boolean {
  return isErrno(err, "ELOOP") || isErrno(err, "EXDEV");
}

/**
 * Checks the `#!` line of the file behind `fd` (and of its interpreter, and
 * so on): the kernel resolves an interpreter's path while the init's other
 * threads still live, and some of them still have the host's root, so a
 * path through /proc/self/task/TID/root would run a host program. Such a
 * path is refused; a missing interpreter is left to the kernel to report.
 */
function checkInterpreters(rootFd: number, fd: number, shown: string, depth = 0): void {
  const head = new Uint8Array(256);
  let n: number;
  try {
    n = fsCalls.read(fd, head);
  } catch {
    return; // Not readable: execve decides.
  }
  if (n < 2 || head[0] !== 0x23 || head[1] !== 0x21) return;
  const line = new TextDecoder().decode(head.subarray(2, n)).split("\n")[0]!.trim();
  const interpreter = line.split(/[ \t]/)[0] ?? "";
  if (interpreter === "") return;
  if (depth >= MAX_INTERPRETERS) {
    throw new CannotExecuteError(`Cannot run "${shown}": too many nested #! interpreters`);
  }
  let ifd: number;
  try {
    ifd = opensInRoot(rootFd, interpreter);
  } catch (err) {
    if (isMagicLink(err)) {
      throw new CannotExecuteError(
        `Cannot run "${shown}": its interpreter "${interpreter}" leads out of the container (refused)`,
      );
    }
    return;
  }
  try {
    checkInterpreters(rootFd, ifd, shown, depth + 1);
  } finally {
    fsCalls.close(ifd);
  }
}

/**
 * Resolves `cmd` like execvp(3), inside the container's root: a name with a
 * slash is taken as is (relative to `cwd`), otherwise the first executable
 * regular file in PATH wins. Every candidate is opened with openat2
 * (RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) from `rootFd`, and the command is
 * later executed from that descriptor: nothing the container links through
 * /proc (a thread of the init whose root is still the host's) is followed,
 * and nothing can be swapped in between choosing and executing.
 *
 * @throws {CommandNotFoundError} when there is no such command (exit 127).
 * @throws {CannotExecuteError} when it leads out of the root (exit 126).
 */
export function resolveCommand(
  rootFd: number,
  cmd: string,
  pathEnv: string = DEFAULT_PATH,
  cwd = "/",
): ResolvedCommand {
  if (cmd === "") throw new CommandNotFoundError(`Cannot run "": the command is empty`);
  const absolute = (p: string): string => (p.startsWith("/") ? p : `${cwd.replace(/\/+$/, "")}/${p}`);
  const candidates = cmd.includes("/")
    ? [absolute(cmd)]
    : pathEnv.split(":").map((dir) => absolute(`${dir === "" ? "." : dir}/${cmd}`));
  let refused: unknown;
  for (const candidate of candidates) {
    let fd: number;
    try {
      fd = opensInRoot(rootFd, candidate);
    } catch (err) {
      if (isMagicLink(err)) refused = err;
      if (cmd.includes("/") && !isMagicLink(err)) throw execError(cmd, err);
      continue;
    }
    const st = fsCalls.fstat(fd);
    if (!cmd.includes("/") && ((st.mode & 0o170000) !== S_IF.REG || (st.mode & 0o111) === 0)) {
      fsCalls.close(fd);
      continue;
    }
    try {
      checkInterpreters(rootFd, fd, cmd);
    } catch (err) {
      fsCalls.close(fd);
      throw err;
    }
    return { path: candidate, fd };
  }
  if (refused !== undefined) {
    throw new CannotExecuteError(`Cannot run "${cmd}": its path leads out of the container (refused)`);
  }
  throw new CommandNotFoundError(`Cannot run "${cmd}": executable file not found in $PATH (${pathEnv})`);
}

/** Turns an execve(2) failure into the error with the right exit code (127 or 126). */
export function execError(path: string, err: unknown): Error {
  if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) {
    return new CommandNotFoundError(`Cannot run "${path}": no such file or directory in the container`);
  }
  if (isErrno(err, "EACCES")) return new CannotExecuteError(`Cannot run "${path}": permission denied`);
  if (isErrno(err, "ENOEXEC")) return new CannotExecuteError(`Cannot run "${path}": exec format error`);
  if (isErrno(err, "ETXTBSY")) return new CannotExecuteError(`Cannot run "${path}": text file busy`);
  return new CannotExecuteError(`Cannot run "${path}": ${(err as Error).message}`);
}

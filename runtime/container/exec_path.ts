/**
 * Finding the command to execute inside the container, the way runc does:
 * with the container's own PATH (not the runtime's), after pivot_root.
 *
 * @module
 */

import { CannotExecuteError, CommandNotFoundError } from "../errors.ts";
import { isErrno } from "../syscalls.ts";
import { DEFAULT_PATH } from "../model/run_spec.ts";

/** The value of `name` in a `KEY=VALUE` list, or undefined. */
export function envValue(env: readonly string[], name: string): string | undefined {
  const prefix = `${name}=`;
  for (let i = env.length - 1; i >= 0; i--) {
    if (env[i]!.startsWith(prefix)) return env[i]!.slice(prefix.length);
  }
  return undefined;
}

/**
 * Resolves `cmd` against `pathEnv` like execvp(3): a name with a slash is used
 * as is; otherwise the first executable regular file in PATH wins.
 *
 * @throws {CommandNotFoundError} when no directory in PATH has it (exit 127).
 */
export function lookPath(cmd: string, pathEnv: string = DEFAULT_PATH): string {
  if (cmd === "") throw new CommandNotFoundError(`Cannot run "": the command is empty`);
  if (cmd.includes("/")) return cmd;
  for (const dir of pathEnv.split(":")) {
    const candidate = `${dir === "" ? "." : dir}/${cmd}`;
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return candidate;
    } catch {
      // Not in this directory.
    }
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

/**
 * Domain errors. Each carries the exit code tinyo ends with when it is the
 * reason a command failed (documented in README, "Exit codes").
 *
 * @module
 */

/** Exit codes of tinyo itself, as docker and podman use them. */
export const EXIT = {
  /** tinyo's own error: bad flag, bad image, failed set-up. */
  RUNTIME: 125,
  /** The command exists but cannot be executed. */
  CANNOT_EXECUTE: 126,
  /** The command does not exist in the container. */
  NOT_FOUND: 127,
} as const;

/** Base class: an error with the exit code tinyo should end with. */
export class TinyoError extends Error {
  override name = "TinyoError";
  /** The process exit code for this error. */
  readonly exitCode: number;

  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options.exitCode ?? EXIT.RUNTIME;
  }
}

/** A bad command line: unknown option, missing value, wrong argument. */
export class UsageError extends TinyoError {
  override name = "UsageError";
}

/** An invalid container configuration (config.json or the flags that built it). */
export class ConfigError extends TinyoError {
  override name = "ConfigError";
}

/** A missing, unreadable, corrupt or hostile image or rootfs. */
export class ImageError extends TinyoError {
  override name = "ImageError";
}

/** No container matches the name or id given. */
export class ContainerNotFoundError extends TinyoError {
  override name = "ContainerNotFoundError";
}

/** The command to run does not exist in the container (exit 127). */
export class CommandNotFoundError extends TinyoError {
  override name = "CommandNotFoundError";
  constructor(message: string) {
    super(message, { exitCode: EXIT.NOT_FOUND });
  }
}

/** The command exists but cannot be executed (exit 126). */
export class CannotExecuteError extends TinyoError {
  override name = "CannotExecuteError";
  constructor(message: string) {
    super(message, { exitCode: EXIT.CANNOT_EXECUTE });
  }
}

/** The exit code for any error: its own for a `TinyoError`, else 125. */
export function exitCodeOf(err: unknown): number {
  return err instanceof TinyoError ? err.exitCode : EXIT.RUNTIME;
}

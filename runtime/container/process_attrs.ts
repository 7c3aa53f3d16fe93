/**
 * Attributes of the container's process that the init sets on itself, on
 * its main thread, before it executes the command: execve(2) keeps all of
 * them.
 *
 * Accepted values (runtime-spec config.md and config-linux.md):
 * - `process.oomScoreAdj`: an integer from -1000 to 1000, written to
 *   /proc/self/oom_score_adj (proc(5)). Lowering it below the current value
 *   needs CAP_SYS_RESOURCE, so it is set before capabilities are dropped.
 *   It belongs to the whole process.
 * - `process.ioPriority`: `{class, priority}`, class one of
 *   `IOPRIO_CLASS_RT`, `IOPRIO_CLASS_BE`, `IOPRIO_CLASS_IDLE`, priority an
 *   integer from 0 (highest) to 7 (lowest); ioprio_set(2) of the calling
 *   thread, `(class << 13) | priority`. IOPRIO_CLASS_RT needs CAP_SYS_ADMIN
 *   or CAP_SYS_NICE. The I/O priority is per thread: the thread that
 *   executes the command must be the one that sets it.
 * - `linux.personality`: `{domain, flags?}`, domain `LINUX` (PER_LINUX,
 *   0x0000) or `LINUX32` (PER_LINUX32, 0x0008, `uname -m` then says i686);
 *   personality(2) of the calling thread. The spec defines no flag values:
 *   `flags` is ignored and returned, so the caller can warn (runc warns
 *   and ignores them too). Set before the seccomp filter is installed (the
 *   default profile allows only these values anyway).
 * - `process.user.umask`: an integer from 0 to 0o777; umask(2).
 *
 * Each function checks its value first and throws a `ConfigError` naming
 * the field, in model/spec.ts's words (`Invalid container configuration:
 * process.oomScoreAdj: must be an integer from -1000 to 1000, got 2000`),
 * and also when the kernel refuses it (`Cannot apply process.ioPriority:
 * ioprio_set(...): EPERM (Operation not permitted)`).
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { IOPRIO_CLASS, processAttrCalls } from "../syscalls.ts";

/** process.ioPriority */
export interface IoPriority {
  class: "IOPRIO_CLASS_RT" | "IOPRIO_CLASS_BE" | "IOPRIO_CLASS_IDLE";
  /** 0 (highest) to 7 (lowest). */
  priority: number;
}

/** linux.personality */
export interface Personality {
  domain: "LINUX" | "LINUX32";
  /** No values are defined by the spec; ignored. */
  flags?: string[];
}

/** ioPriority class names to ioprio_set(2) classes. */
const IO_CLASSES: Readonly<Record<string, number>> = {
  IOPRIO_CLASS_RT: IOPRIO_CLASS.RT,
  IOPRIO_CLASS_BE: IOPRIO_CLASS.BE,
  IOPRIO_CLASS_IDLE: IOPRIO_CLASS.IDLE,
};

/** Execution domains to personality(2) values (linux/personality.h). */
const DOMAINS: Readonly<Record<string, number>> = {
  LINUX: 0x0000,
  LINUX32: 0x0008,
};

function invalid(field: string, problem: string): never {
  throw new ConfigError(`Invalid container configuration: ${field}: ${problem}`);
}

function refused(field: string, err: unknown): never {
  throw new ConfigError(`Cannot apply ${field}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

function checkInteger(
  value: unknown,
  field: string,
  min: number,
  max: number,
  show: (n: number) => string = String,
): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    invalid(field, `must be an integer from ${show(min)} to ${show(max)}, got ${JSON.stringify(value)}`);
  }
}

/**
 * Sets the OOM score adjustment of the calling process (process.oomScoreAdj).
 *
 * @throws {ConfigError} Out of range, or the write refused (EACCES without
 *   CAP_SYS_RESOURCE for a lower value).
 */
export function applyOomScoreAdj(value: number): void {
  checkInteger(value, "process.oomScoreAdj", -1000, 1000);
  try {
    Deno.writeTextFileSync("/proc/self/oom_score_adj", `${value}`);
  } catch (err) {
    refused("process.oomScoreAdj", err);
  }
}

/**
 * Sets the I/O scheduling class and priority of the calling thread
 * (process.ioPriority).
 *
 * @throws {ConfigError} Unknown class, priority out of range, or
 *   ioprio_set(2) refused.
 */
export function applyIoPriority(ioPriority: IoPriority): void {
  const ioClass = IO_CLASSES[ioPriority.class];
  if (ioClass === undefined) {
    invalid(
      "process.ioPriority.class",
      `must be one of ${Object.keys(IO_CLASSES).join(", ")}, got ${JSON.stringify(ioPriority.class)}`,
    );
  }
  checkInteger(ioPriority.priority, "process.ioPriority.priority", 0, 7);
  try {
    processAttrCalls.ioprioSet(ioClass, ioPriority.priority);
  } catch (err) {
    refused("process.ioPriority", err);
  }
}

/**
 * Sets the execution domain of the calling thread (linux.personality).
 *
 * @returns The flags that were ignored (the spec defines none), for a warning.
 * @throws {ConfigError} Unknown domain, or personality(2) refused.
 */
export function applyPersonality(personality: Personality): readonly string[] {
  const persona = DOMAINS[personality.domain];
  if (persona === undefined) {
    invalid(
      "linux.personality.domain",
      `must be one of ${Object.keys(DOMAINS).join(", ")}, got ${JSON.stringify(personality.domain)}`,
    );
  }
  try {
    processAttrCalls.personality(persona);
  } catch (err) {
    refused("linux.personality", err);
  }
  return personality.flags ?? [];
}

/**
 * Sets the file mode creation mask (process.user.umask).
 *
 * @throws {ConfigError} Not an integer from 0 to 0o777.
 */
export function applyUmask(mask: number): void {
  checkInteger(mask, "process.user.umask", 0, 0o777, (n: number) => `0o${n.toString(8)}`);
  processAttrCalls.umask(mask);
}

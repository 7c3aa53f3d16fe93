/**
 * Acting on a recorded process without trusting its pid: a pidfd opened
 * first, then the start time in /proc/PID/stat compared with the one
 * recorded. If they match, the pidfd is that very process (a pid cannot be
 * reused while its process lives, and the pidfd was taken before the check),
 * and every later signal or namespace join goes through the pidfd, so a
 * process that dies and whose pid is reused meanwhile is never touched.
 * A record without a start time proves nothing, and is never acted on.
 *
 * @module
 */

import { isErrno, pidCalls, POLL, type SignalName, SIGNALS } from "../syscalls.ts";
import { processStartTime } from "./proc.ts";

/**
 * Opens a pidfd for `pid` if it is still the process that started at
 * `startTime`; undefined when it is gone, reused, or `startTime` is unknown.
 * The caller closes the descriptor.
 */
export function openProcess(pid: number | undefined, startTime: number | undefined): number | undefined {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0 || startTime === undefined) return undefined;
  let fd: number;
  try {
    fd = pidCalls.pidfdOpen(pid);
  } catch (err) {
    if (isErrno(err, "ESRCH") || isErrno(err, "EINVAL")) return undefined;
    throw err;
  }
  if (processStartTime(pid) !== startTime) {
    pidCalls.close(fd);
    return undefined;
  }
  return fd;
}

/**
 * Sends `signal` to the recorded process if it is still the same one.
 * Returns false when it is gone (or cannot be proven to be it).
 */
export function signalProcess(
  pid: number | undefined,
  startTime: number | undefined,
  signal: SignalName | number,
): boolean {
  const fd = openProcess(pid, startTime);
  if (fd === undefined) return false;
  try {
    pidCalls.pidfdSendSignal(fd, typeof signal === "number" ? signal : SIGNALS[signal]);
    return true;
  } catch (err) {
    if (isErrno(err, "ESRCH")) return false;
    throw err;
  } finally {
    pidCalls.close(fd);
  }
}

/**
 * SIGKILLs the recorded process if it is still the same one, and waits (up
 * to `timeoutMs`) until it has died: a pidfd becomes readable when its
 * process exits. Returns false when there was nothing to kill.
 */
export function killAndWait(
  pid: number | undefined,
  startTime: number | undefined,
  timeoutMs = 2000,
): boolean {
  const fd = openProcess(pid, startTime);
  if (fd === undefined) return false;
  try {
    try {
      pidCalls.pidfdSendSignal(fd, SIGNALS.SIGKILL);
    } catch (err) {
      if (isErrno(err, "ESRCH")) return false;
      throw err;
    }
    pidCalls.pollOne(fd, POLL.IN, timeoutMs);
    return true;
  } finally {
    pidCalls.close(fd);
  }
}

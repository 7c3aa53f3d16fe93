/**
 * Process handles: pidfd_open(2) and pidfd_send_signal(2), so tinyo acts on
 * a process it checked, never on a number that might have been reused by
 * then; and poll(2), to learn whether the other end of a pipe is gone.
 *
 * @module
 */

import { libc } from "./_libc.ts";
import { lastErrno, SyscallError } from "./errno.ts";
import { SYS } from "./constants.ts";

/** pidfd_open(2): a descriptor for process `pid` (close-on-exec). */
export function pidfdOpen(pid: number): number {
  const fd = libc.pidfd_open(BigInt(SYS.pidfd_open), pid, 0);
  if (fd < 0n) throw new SyscallError({ syscall: "pidfd_open", errno: lastErrno(), path: `pid ${pid}` });
  return Number(fd);
}

/** pidfd_send_signal(2): signals the process behind `pidfd` (0 only checks it is alive). */
export function pidfdSendSignal(pidfd: number, signal: number): void {
  const ret = libc.pidfd_send_signal(BigInt(SYS.pidfd_send_signal), pidfd, signal, null, 0);
  if (ret !== 0n) {
    throw new SyscallError({ syscall: "pidfd_send_signal", errno: lastErrno(), path: `pidfd ${pidfd}` });
  }
}

/**
 * poll(2) on one descriptor: returns the `revents` bits (0 when nothing is
 * ready within `timeoutMs`; 0 waits not at all).
 */
export function pollOne(fd: number, events: number, timeoutMs = 0): number {
  // struct pollfd { int fd; short events; short revents; }
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  for (;;) {
    const n = libc.poll(pfd, 1n, timeoutMs);
    if (n >= 0) return n === 0 ? 0 : view.getUint16(6, true);
    const errno = lastErrno();
    if (errno !== 4) throw new SyscallError({ syscall: "poll", errno, path: `fd ${fd}` });
  }
}

/**
 * poll(2) on one descriptor, on another thread (the event loop keeps
 * running): resolves to the `revents` bits, 0 on timeout. errno belongs to
 * that other thread, so a failed poll (EINTR, in practice) resolves to 0
 * too: callers loop.
 */
export async function pollOneAsync(fd: number, events: number, timeoutMs: number): Promise<number> {
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  const n = await libc.poll_async(pfd, 1n, timeoutMs);
  return n > 0 ? view.getUint16(6, true) : 0;
}

/** getppid(2). */
export function getppid(): number {
  return libc.getppid();
}

/**
 * The init's side of an interactive terminal (runtime/host/tty.ts has the
 * runtime's): the pty slave becomes the session's controlling terminal and
 * the command's stdio.
 *
 * @module
 */

import { processCalls } from "../syscalls.ts";

/** Init side: makes `slave` the controlling terminal and stdin/stdout/stderr. */
export function attachTerminal(slave: string): void {
  const fd = processCalls.open(slave, 2 /* O_RDWR */);
  processCalls.setsid();
  processCalls.setControllingTerminal(fd);
  for (const target of [0, 1, 2]) processCalls.dup2(fd, target);
  if (fd > 2) processCalls.close(fd);
}

/** Init side: points stdin/stdout/stderr at the terminal opened as `fd` (through /dev/console). */
export function reattachTerminal(fd: number): void {
  for (const target of [0, 1, 2]) processCalls.dup2(fd, target);
}

/**
 * The init's end of the sync channel (runtime/host/channel.ts has the
 * runtime's end and the protocol): JSON lines on an inherited pipe.
 *
 * @module
 */

import { processCalls } from "../syscalls.ts";
import type { InitMessage } from "../model/bootstrap.ts";
import { TinyoError } from "../errors.ts";

const encoder = new TextEncoder();

/** Init side: sends one message (best effort: the runtime may be gone). */
export function sendToRuntime(fd: number, msg: InitMessage): void {
  try {
    processCalls.writeAll(fd, encoder.encode(JSON.stringify(msg) + "\n"));
  } catch {
    // The runtime died (EPIPE); the error is also printed on stderr by the init.
  }
}

/**
 * Init side of the hooks handshake: tells the runtime to run its prestart
 * and createRuntime hooks, and blocks until it says they passed (one byte
 * on `hooksFd`); end of file means they failed or the runtime is gone.
 */
export function awaitRuntimeHooks(syncFd: number, hooksFd: number): void {
  sendToRuntime(syncFd, { type: "hooks" });
  const buf = new Uint8Array(1);
  let n: number;
  try {
    n = processCalls.read(hooksFd, buf);
  } finally {
    processCalls.close(hooksFd);
  }
  if (n !== 1) throw new TinyoError("The runtime's prestart or createRuntime hooks failed");
}

/**
 * The init's end of the sync channel (runtime/host/channel.ts has the
 * runtime's end and the protocol): JSON lines on an inherited pipe.
 *
 * @module
 */

import { processCalls } from "../syscalls.ts";
import type { InitMessage } from "../model/bootstrap.ts";

const encoder = new TextEncoder();

/** Init side: sends one message (best effort: the runtime may be gone). */
export function sendToRuntime(fd: number, msg: InitMessage): void {
  try {
    processCalls.writeAll(fd, encoder.encode(JSON.stringify(msg) + "\n"));
  } catch {
    // The runtime died (EPIPE); the error is also printed on stderr by the init.
  }
}

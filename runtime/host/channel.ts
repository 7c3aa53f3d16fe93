/**
 * The init → runtime sync channel: one pipe, JSON lines.
 *
 * The runtime makes the pipe and hands its write end to the init (an
 * inherited fd whose number is in TINYO_SYNC_FD). The init marks it
 * close-on-exec at once, so:
 *
 * - sync 1 (init → runtime): `{"type":"exec"}` right before execve(2);
 * - sync 2 (init → runtime): `{"type":"error",...}` when set-up or exec fails;
 *   the init then exits with the error's exit code;
 * - in create mode, `{"type":"created"}` once set up, before it waits on
 *   the exec FIFO (the runtime stops reading there);
 * - `{"type":"hooks"}` when the runtime must run prestart and createRuntime
 *   hooks now (the init waits for a byte on its hooks pipe: bootstrap.ts);
 * - end of file: the init is gone, or execve succeeded (the pipe is
 *   close-on-exec). "exec" and no error means the command is running;
 *   no message at all means the init died before reaching exec.
 *
 * This is the runtime's end (waitForInit); the init's end is
 * runtime/container/channel.ts, and the messages are in
 * runtime/model/bootstrap.ts.
 *
 * @module
 */

import { processCalls } from "../syscalls.ts";
import { TinyoError } from "../errors.ts";
import type { InitMessage, InitOutcome } from "../model/bootstrap.ts";
import { mergeTally } from "../explain.ts";
import { mark, timelineState } from "../timeline.ts";

const decoder = new TextDecoder();

/**
 * Runtime side: blocks until the init either reports an error or execs the
 * command (end of file). Closes `fd`.
 */
export function waitForInit(fd: number, untilCreated = false, onHooks?: () => void): InitOutcome {
  const outcome: InitOutcome = { execed: false };
  const buf = new Uint8Array(4096);
  let pending = "";
  try {
    for (;;) {
      const n = processCalls.read(fd, buf);
      if (n === 0) break;
      pending += decoder.decode(buf.subarray(0, n), { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line === "") continue;
        let msg: InitMessage;
        try {
          msg = JSON.parse(line) as InitMessage;
        } catch {
          throw new TinyoError(
            `Container init sent an unreadable message: ${JSON.stringify(line.slice(0, 200))}`,
          );
        }
        if (msg.type === "exec") {
          outcome.execed = true;
          if (timelineState.on) mark("exec reported");
        } else if (msg.type === "explain") mergeTally(msg.tally);
        else if (msg.type === "created") outcome.created = true;
        else if (msg.type === "hooks") {
          if (onHooks === undefined) throw new TinyoError("Container init asked for hooks nobody runs");
          onHooks();
        } else if (msg.type === "error") {
          outcome.error = { message: String(msg.message), exitCode: Number(msg.exitCode) };
        }
      }
      // A created container keeps the pipe open while it waits: stop reading.
      if (untilCreated && (outcome.created || outcome.error)) break;
    }
  } finally {
    processCalls.close(fd);
  }
  return outcome;
}

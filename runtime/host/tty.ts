/**
 * Interactive terminals (`-t`): a pseudo-terminal between the user's
 * terminal and the container.
 *
 * The terminal is a pty of the container's own devpts instance: the init
 * opens the container's /dev/ptmx (after pivot_root, or after joining the
 * container for an exec), makes the slave its session's controlling
 * terminal (so the container's shell has job control: Ctrl-C, Ctrl-Z reach
 * its foreground process group, not tinyo) and its stdio, binds it on
 * /dev/console, and sends the master back over a socket pair
 * (runtime/container/console.ts, the OCI console-socket mechanism). Nothing
 * of the host's devpts reaches the container, and `tty` inside names the
 * container's own /dev/pts/N. The user's terminal is put in raw
 * mode for the relay and always restored; its size is copied to the pty at
 * the start and on every SIGWINCH. When the user's terminal goes away
 * (stdin ends, or SIGHUP), the container is sent SIGHUP and, a second later,
 * SIGKILL: like a login shell whose terminal hung up, it has no user left.
 *
 * @module
 */

import { pidCalls, POLL, processCalls } from "../syscalls.ts";
import { UsageError } from "../errors.ts";

/**
 * The runtime's end of a container's terminal: the pty master, and how to
 * read what the container writes.
 */
export interface Pty {
  masterFd: number;
  /** Reads the container's output; null once its last process closed the slave. */
  read(buf: Uint8Array<ArrayBuffer>): Promise<number | null>;
  close(): void;
}

/** Refuses -t when stdin is not a terminal. */
export function requireTerminal(command: string): void {
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError(
      `tinyo ${command}: -t needs a terminal on stdin (run it from a terminal, or drop -t)`,
    );
  }
}

/**
 * A pty master received as a raw descriptor (from the init, over a socket:
 * a pty of the container's own devpts). Deno cannot wrap a raw descriptor
 * in a file, so reading waits for it with poll(2) on another thread and
 * then reads it here.
 */
export function ptyFromMaster(masterFd: number): Pty {
  let closed = false;
  return {
    masterFd,
    async read(buf): Promise<number | null> {
      for (;;) {
        if (closed) return null;
        const events = await pidCalls.pollOneAsync(masterFd, POLL.IN, 500);
        if (closed) return null;
        if (events === 0) continue;
        try {
          const n = processCalls.read(masterFd, buf);
          return n === 0 ? null : n;
        } catch {
          // EIO: the last slave descriptor closed; the container is gone.
          return null;
        }
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      processCalls.close(masterFd);
    },
  };
}

/** A running relay between the user's terminal and a pty. */
export interface Relay {
  /** Resolves when the container side has closed (all its processes ended). */
  done: Promise<void>;
  /** Restores the user's terminal (idempotent). */
  restore(): void;
}

/**
 * Puts the user's terminal in raw mode and copies bytes both ways (stdin to
 * the pty only when `interactive`). The caller must call `restore()`.
 */
export function startRelay(pty: Pty, interactive: boolean, onHangup: () => void = () => {}): Relay {
  const copySize = (): void => {
    try {
      processCalls.setWindowSize(pty.masterFd, processCalls.getWindowSize(0));
    } catch {
      // Not a terminal any more: keep the old size.
    }
  };
  copySize();
  Deno.addSignalListener("SIGWINCH", copySize);
  Deno.stdin.setRaw(true);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    Deno.removeSignalListener("SIGWINCH", copySize);
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // stdin is gone.
    }
  };
  if (interactive) {
    (async () => {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await Deno.stdin.read(buf);
        if (n === null) break;
        // Not pty.master.write(): Deno serialises operations on one file, and
        // the pending read below would hold it. Keystrokes are small; a pty
        // master write blocks only when the container stops reading.
        processCalls.writeAll(pty.masterFd, buf.slice(0, n));
      }
    })().catch(() => {}).finally(() => {
      // stdin ended: in raw mode Ctrl-D is a byte, so this means the user's
      // terminal is gone (or stdin was closed). Nobody is left to type.
      if (!restored) onHangup();
    });
  }
  const done = (async () => {
    const buf = new Uint8Array(16384);
    try {
      for (;;) {
        const n = await pty.read(buf);
        if (n === null) break;
        let off = 0;
        while (off < n) off += Deno.stdout.writeSync(buf.subarray(off, n));
      }
    } catch {
      // EIO: the last slave descriptor closed; the container is gone.
    }
  })();
  return { done, restore };
}

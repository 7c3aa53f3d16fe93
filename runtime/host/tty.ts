/**
 * Interactive terminals (`-t`): a pseudo-terminal between the user's
 * terminal and the container.
 *
 * The runtime opens the master (/dev/ptmx) with Deno.open, so its bytes can
 * be relayed with ordinary async streams, and finds the new descriptor's
 * number in /proc/self/fd for the two ioctls Deno has no API for (unlockpt,
 * ptsname). The init opens the slave by path before it changes namespaces,
 * starts a new session and makes the slave its controlling terminal
 * (TIOCSCTTY), so the container's shell has job control: Ctrl-C, Ctrl-Z reach
 * its foreground process group, not tinyo. The user's terminal is put in raw
 * mode for the relay and always restored; its size is copied to the pty at
 * the start and on every SIGWINCH. When the user's terminal goes away
 * (stdin ends, or SIGHUP), the container is sent SIGHUP and, a second later,
 * SIGKILL: like a login shell whose terminal hung up, it has no user left.
 *
 * @module
 */

import { processCalls } from "../syscalls.ts";
import { UsageError } from "../errors.ts";

/** An open pty master and its slave's path. */
export interface Pty {
  master: Deno.FsFile;
  masterFd: number;
  slave: string;
}

function ptmxFds(): Set<number> {
  const fds = new Set<number>();
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (/ptmx$/.test(Deno.readLinkSync(`/proc/self/fd/${e.name}`))) fds.add(Number(e.name));
    } catch {
      // Closed meanwhile (the directory's own descriptor, for one).
    }
  }
  return fds;
}

/** Refuses -t when stdin is not a terminal. */
export function requireTerminal(command: string): void {
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError(
      `tinyo ${command}: -t needs a terminal on stdin (run it from a terminal, or drop -t)`,
    );
  }
}

/** Opens a new pty: the master here, the slave's path for the init. */
export function openPty(): Pty {
  const before = ptmxFds();
  const master = Deno.openSync("/dev/ptmx", { read: true, write: true });
  const fresh = [...ptmxFds()].filter((fd) => !before.has(fd));
  if (fresh.length !== 1) {
    master.close();
    throw new Error(`Cannot find the descriptor of the new pty master (${fresh.length} candidates)`);
  }
  const masterFd = fresh[0]!;
  return { master, masterFd, slave: processCalls.unlockPtySlave(masterFd) };
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
        const n = await pty.master.read(buf);
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

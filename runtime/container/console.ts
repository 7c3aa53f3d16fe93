/**
 * The OCI console (`process.terminal: true` with `--console-socket`): the
 * init makes a pseudo-terminal in the container's own devpts (opening its
 * /dev/ptmx after pivot_root), makes the slave the session's controlling
 * terminal and the command's stdin, stdout and stderr, binds it on
 * /dev/console, and sends the master to the caller over the console socket
 * in one sendmsg(2) with SCM_RIGHTS (what conmon and containerd's shim wait
 * for; runc's docs/terminals.md describes the same contract).
 *
 * @module
 */

import { fdPath, mountTargetInRoot } from "../inroot.ts";
import { fsCalls, MS, O, processCalls, type Syscalls } from "../syscalls.ts";

/**
 * Makes the console inside the container (already pivoted into, or joined
 * for an exec) and hands its master over `socket`, which is closed
 * afterwards.
 */
export function createConsole(sys: Syscalls, socket: number, bindConsole: boolean): void {
  // The container's own devpts multiplexer, by descriptor from its root, no
  // symlink followed, checked to be the ptmx device (5:2): /dev/ptmx is a
  // name the container controls (for an exec it is running, and could link
  // it through /proc to the host's devpts).
  const root = sys.openRoot("/");
  let master: number;
  try {
    master = sys.openDevice(root, "/dev/pts/ptmx", O.RDWR | O.NOCTTY, [5, 2]);
  } finally {
    fsCalls.close(root);
  }
  try {
    // unlockpt, then the slave of this very master (TIOCGPTPEER: no name to
    // resolve); ptsname only names it for the caller and for /dev/console.
    const name = processCalls.unlockPtySlave(master);
    const slave = processCalls.openPtyPeer(master, O.RDWR | O.NOCTTY | O.CLOEXEC);
    try {
      // /dev/console names the terminal too, as runc does (ttyname(3)); not
      // for an exec, whose mount would change the running container's /dev.
      const root = bindConsole ? sys.openRoot("/") : -1;
      if (root >= 0) {
        try {
          const target = mountTargetInRoot(root, "/dev/console", { file: true, noSymlinks: true });
          try {
            sys.mount(fdPath(slave), fdPath(target), { flags: MS.BIND });
          } finally {
            fsCalls.close(target);
          }
        } finally {
          fsCalls.close(root);
        }
      }
      // The init started its own session at its start: it may take a terminal.
      processCalls.setControllingTerminal(slave);
      for (const fd of [0, 1, 2]) processCalls.dup2(slave, fd);
    } finally {
      processCalls.close(slave);
    }
    processCalls.sendFd(socket, master, name);
  } finally {
    processCalls.close(master);
    processCalls.close(socket);
  }
}

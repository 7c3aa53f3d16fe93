/**
 * The `Syscalls` port: the privileged calls the container set-up makes.
 * Set-up code takes a `Syscalls` as its first argument; production passes
 * `linuxSyscalls` (the real libc through `ffi/`), tests pass a recording fake
 * (tests/helpers/fake_syscalls.ts). Unprivileged file operations (mkdir,
 * symlink, writing small files) use Deno's sync APIs directly on a path, so
 * tests run them on a temporary directory.
 *
 * This is the only file in `runtime/` that imports `ffi/`.
 *
 * @module
 */

import * as ffi from "../ffi/mod.ts";

export { CLONE, isErrno, MNT, MS, O, PR, RLIMIT, S_IF, SIGNALS, SyscallError } from "../ffi/mod.ts";
export type { MountOptions, SignalName } from "../ffi/mod.ts";

/** The privileged system calls of container set-up. */
export interface Syscalls {
  unshare(flags: number): void;
  setns(path: string, nstype: number): void;
  mount(source: string, target: string, options?: ffi.MountOptions): void;
  umount2(target: string, flags?: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  chdir(path: string): void;
  sethostname(name: string): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  lchown(path: string, uid: number, gid: number): void;
  linkUp(name: string): void;
  setrlimit(resource: number, soft: number, hard: number): void;
  setgroups(gids: readonly number[]): void;
  setgid(gid: number): void;
  setuid(uid: number): void;
  prctl(option: number, arg: number, arg3?: number): void;
  capset(effective: [number, number], permitted: [number, number], inheritable: [number, number]): void;
}

/** The real implementation: libc through `ffi/`. */
export const linuxSyscalls: Syscalls = {
  unshare: ffi.unshare,
  setns(path, nstype): void {
    const fd = ffi.open(path, ffi.O.RDONLY | ffi.O.CLOEXEC);
    try {
      ffi.setns(fd, nstype, path);
    } finally {
      ffi.close(fd);
    }
  },
  mount: ffi.mount,
  umount2: ffi.umount2,
  pivotRoot: ffi.pivotRoot,
  chdir: ffi.chdir,
  sethostname: ffi.sethostname,
  mknod: ffi.mknod,
  lchown: ffi.lchown,
  linkUp: ffi.linkUp,
  setrlimit: ffi.setrlimit,
  setgroups: ffi.setgroups,
  setgid: ffi.setgid,
  setuid: ffi.setuid,
  prctl: ffi.prctl,
  capset: ffi.capset,
};

/** Process-level calls used by the init just before exec and by the runtime. */
export const processCalls = {
  execve: ffi.execve,
  getpid: ffi.getpid,
  kill: ffi.kill,
  resetIgnoredSignals: ffi.resetIgnoredSignals,
  unblockAllSignals: ffi.unblockAllSignals,
  open: ffi.open,
  close: ffi.close,
  pipe2: ffi.pipe2,
  dup: ffi.dup,
  read: ffi.read,
  writeAll: ffi.writeAll,
  setCloexec: ffi.setCloexec,
  setns: ffi.setns,
  unshare: ffi.unshare,
  installSeccompFilter: ffi.installSeccompFilter,
  setsid: ffi.setsid,
  dup2: ffi.dup2,
  setControllingTerminal: ffi.setControllingTerminal,
  unlockPtySlave: ffi.unlockPtySlave,
  getWindowSize: ffi.getWindowSize,
  setWindowSize: ffi.setWindowSize,
} as const;

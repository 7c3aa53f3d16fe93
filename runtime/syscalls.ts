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
import { openCharInRoot } from "./inroot.ts";

export {
  AT,
  BPF_ATTACH_TYPE,
  BPF_F,
  BPF_PROG_TYPE,
  CLONE,
  isErrno,
  MNT,
  MOUNT_ATTR,
  MS,
  O,
  POLL,
  PR,
  RESOLVE,
  RLIMIT,
  S_IF,
  SIGNALS,
  SyscallError,
} from "../ffi/mod.ts";
export type { FileStat, MountOptions, OpenHow, SignalName } from "../ffi/mod.ts";
export { IOPRIO_CLASS } from "../ffi/mod.ts";
export type { ChildExit, SpawnOptions } from "../ffi/mod.ts";

/** The privileged system calls of container set-up. */
export interface Syscalls {
  unshare(flags: number): void;
  setns(path: string, nstype: number): void;
  mount(source: string, target: string, options?: ffi.MountOptions): void;
  /** mount_setattr(2) on the mount behind an O_PATH descriptor. */
  mountSetattr(fd: number, set: number, clear: number, recursive: boolean): void;
  umount2(target: string, flags?: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  chdir(path: string): void;
  fchdir(fd: number): void;
  /**
   * An O_PATH descriptor of a directory to resolve container paths from.
   * Only "/" after pivot_root differs in the fake (it stands for the rootfs).
   */
  openRoot(path: string): number;
  /**
   * A character device inside the root, by descriptor (runtime/inroot.ts
   * openCharInRoot): no symlink followed, the type (and `rdev`) checked.
   */
  openDevice(rootFd: number, path: string, flags: number, rdev?: [number, number]): number;
  /** setns(2) on a descriptor (a namespace file or a pidfd). */
  setnsFd(fd: number, nstype: number, what: string): void;
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
  mountSetattr: ffi.mountSetattr,
  umount2: ffi.umount2,
  pivotRoot: ffi.pivotRoot,
  chdir: ffi.chdir,
  fchdir: ffi.fchdir,
  openRoot: (path) => ffi.open(path, ffi.O.PATH | ffi.O.DIRECTORY | ffi.O.CLOEXEC),
  openDevice: (rootFd, path, flags, rdev) => openCharInRoot(rootFd, path, flags, rdev),
  setnsFd: ffi.setns,
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
  execveFd: ffi.execveFd,
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
  isCloexec: ffi.isCloexec,
  mount: ffi.mount,
  prctl: ffi.prctl,
  setns: ffi.setns,
  unshare: ffi.unshare,
  installSeccompFilter: ffi.installSeccompFilter,
  setsid: ffi.setsid,
  dup2: ffi.dup2,
  setControllingTerminal: ffi.setControllingTerminal,
  unlockPtySlave: ffi.unlockPtySlave,
  openPtyPeer: ffi.openPtyPeer,
  bindSpawnWindowCalls: ffi.bindSpawnWindowCalls,
  bindContainerCalls: ffi.bindContainerCalls,
  sendFd: ffi.sendFd,
  sendFds: ffi.sendFds,
  recvFd: ffi.recvFd,
  recvFds: ffi.recvFds,
  socketPair: ffi.socketPair,
  unixConnect: ffi.unixConnect,
  getWindowSize: ffi.getWindowSize,
  setWindowSize: ffi.setWindowSize,
} as const;

/**
 * Directory-relative file calls (openat2 and the *at family), for work inside
 * trees tinyo does not trust: a container's root, a volume.
 */
export const fsCalls = {
  openat2: ffi.openat2,
  openat: ffi.openat,
  mkdirat: ffi.mkdirat,
  mknodat: ffi.mknodat,
  symlinkat: ffi.symlinkat,
  linkat: ffi.linkat,
  unlinkat: ffi.unlinkat,
  fchmod: ffi.fchmod,
  fchmodPath: ffi.fchmodPath,
  fchown: ffi.fchown,
  lchownat: ffi.lchownat,
  utimesat: ffi.utimesat,
  fstat: ffi.fstat,
  fsType: ffi.fsType,
  lstatat: ffi.lstatat,
  fchdir: ffi.fchdir,
  readlinkat: ffi.readlinkat,
  read: ffi.read,
  close: ffi.close,
  open: ffi.open,
  mountSetattr: ffi.mountSetattr,
} as const;

/** Process handles: act on a checked process, never on a bare pid. */
export const pidCalls = {
  pidfdOpen: ffi.pidfdOpen,
  pidfdSendSignal: ffi.pidfdSendSignal,
  pollOne: ffi.pollOne,
  pollOneAsync: ffi.pollOneAsync,
  getppid: ffi.getppid,
  cloexecFrom: ffi.cloexecFrom,
  prctlGet: ffi.prctlGet,
  setns: ffi.setns,
  open: ffi.open,
  close: ffi.close,
} as const;

/**
 * Network set-up on the runtime side (runtime/host/network.ts): netlink
 * sockets, and moving the calling thread into a new network namespace and
 * back (namespaces are per thread: Deno's other threads never move).
 */
export const netCalls = {
  netlinkSocket: ffi.netlinkSocket,
  udpPortFree: ffi.udpPortFree,
  unshare: ffi.unshare,
  setns: ffi.setns,
  mount: ffi.mount,
  umount2: ffi.umount2,
  open: ffi.open,
  close: ffi.close,
  read: ffi.read,
  writeAll: ffi.writeAll,
} as const;

/** bpf(2): loading and attaching cgroup programs. */
export const bpfCalls = {
  progLoad: ffi.bpfProgLoad,
  progAttach: ffi.bpfProgAttach,
  progDetach: ffi.bpfProgDetach,
  progQuery: ffi.bpfProgQuery,
  open: ffi.open,
  close: ffi.close,
} as const;

/**
 * Running helper programs (OCI hooks) synchronously from the calling thread,
 * so they inherit its namespaces (runtime/hooks.ts): posix_spawn with chosen
 * stdio, memfds for that stdio, a pidfd to wait on with a timeout, and reaping.
 */
export const spawnCalls = {
  posixSpawn: ffi.posixSpawn,
  memfdCreate: ffi.memfdCreate,
  waitPidfd: ffi.waitPidfd,
  waitPid: ffi.waitPid,
  pidfdOpen: ffi.pidfdOpen,
  pidfdSendSignal: ffi.pidfdSendSignal,
  pollOne: ffi.pollOne,
  kill: ffi.kill,
  writeAll: ffi.writeAll,
  read: ffi.read,
  seekTo: ffi.seekTo,
  fstat: ffi.fstat,
  close: ffi.close,
} as const;

/**
 * Attributes of the calling thread that execve(2) keeps: I/O priority,
 * execution domain, umask (runtime/container/process_attrs.ts).
 */
export const processAttrCalls = {
  ioprioSet: ffi.ioprioSet,
  ioprioGet: ffi.ioprioGet,
  personality: ffi.personality,
  umask: ffi.umask,
} as const;

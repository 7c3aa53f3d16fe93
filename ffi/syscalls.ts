/**
 * One thin, typed wrapper per libc call tinyo makes. Each wrapper makes the
 * call, and when it fails reads errno as its very next action and throws a
 * `SyscallError` naming the call, the errno and the path involved. No
 * pointers cross this module's boundary: arguments are strings, numbers,
 * bigints and byte arrays; file descriptors are plain numbers.
 *
 * Policy (what to mount, in which order, what to retry) lives in `runtime/`.
 *
 * @module
 */

import { libc } from "./_libc.ts";
import { cString, CStringArray } from "./cstring.ts";
import { errnoNumber, lastErrno, SyscallError } from "./errno.ts";
import { AT, CLOSE_RANGE, F, NET, PR, SECCOMP_MODE_FILTER, SYS, TIOC } from "./constants.ts";
import { makedev } from "./at.ts";

const EBADF = errnoNumber("EBADF");

function fail(syscall: string, path?: string, dest?: string): never {
  const errno = lastErrno();
  throw new SyscallError({
    syscall,
    errno,
    ...(path === undefined ? {} : { path }),
    ...(dest === undefined ? {} : { dest }),
  });
}

/** unshare(2): moves the calling thread into new namespaces. */
export function unshare(flags: number): void {
  if (libc.unshare(flags) !== 0) fail("unshare", `0x${flags.toString(16)}`);
}

/** setns(2): joins the namespace behind `fd` (a /proc/PID/ns/* file). */
export function setns(fd: number, nstype: number, what = `fd ${fd}`): void {
  if (libc.setns(fd, nstype) !== 0) fail("setns", what);
}

/** open(2): returns a raw file descriptor (close it with `close`). */
export function open(path: string, flags: number, mode = 0): number {
  const fd = libc.open(cString(path, "path"), flags, mode);
  if (fd < 0) fail("open", path);
  return fd;
}

/** close(2). */
export function close(fd: number): void {
  if (libc.close(fd) !== 0) fail("close", `fd ${fd}`);
}

/** pipe2(2): returns `[readFd, writeFd]`. */
export function pipe2(flags: number): [number, number] {
  const fds = new Int32Array(2);
  if (libc.pipe2(new Uint8Array(fds.buffer), flags) !== 0) fail("pipe2");
  return [fds[0]!, fds[1]!];
}

/** dup(2): the copy has FD_CLOEXEC clear, so children inherit it. */
export function dup(fd: number): number {
  const copy = libc.dup(fd);
  if (copy < 0) fail("dup", `fd ${fd}`);
  return copy;
}

/** Sets or clears FD_CLOEXEC on `fd` (fcntl(2) F_SETFD). */
export function setCloexec(fd: number, on: boolean): void {
  if (libc.fcntl(fd, F.SETFD, on ? BigInt(F.FD_CLOEXEC) : 0n) !== 0) fail("fcntl", `fd ${fd}`);
}

/**
 * Binds now the libc functions that run between an unshare(CLONE_NEWPID) and
 * the setns back (runtime/host/spawn.ts): binding one (on first use,
 * _libc.ts) is a dlopen and code generation, not for a window in which the
 * thread must not create threads.
 */
export function bindSpawnWindowCalls(): void {
  void [libc.unshare, libc.mount, libc.setns, libc.write, libc.close, libc.fchdir];
}

/**
 * Binds now the libc functions the init calls once it is inside the
 * container (after pivot_root, or after joining a container's mount
 * namespace for exec): binding is a dlopen(3) by name, which should not
 * happen where the container's files are the filesystem. glibc finds the
 * loaded libc.so.6 by its name without looking (and tinyo runs with
 * --allow-all, so Deno passes the name unchanged), but nothing should
 * depend on that. Already bound ones cost nothing; the groups a container
 * does not need are left alone (this runs on every container start).
 */
export function bindContainerCalls(needs: { hooks: boolean; terminal: boolean; attributes: boolean }): void {
  void [
    libc.strerror,
    libc.read,
    libc.write,
    libc.close,
    libc.open,
    libc.openat,
    libc.openat2,
    libc.fstat,
    libc.fstatat,
    libc.fchdir,
    libc.mount,
    libc.umount2,
    libc.mount_setattr,
    libc.mkdirat,
    libc.prctl,
    libc.capset,
    libc.setgroups,
    libc.setgid,
    libc.setuid,
    libc.setrlimit,
    libc.seccomp,
    libc.rt_sigaction,
    libc.sigprocmask,
    libc.close_range,
    libc.execveat,
    libc.fcntl,
  ];
  // A terminal: the pty and its master sent back (runtime/container/console.ts).
  if (needs.terminal) void [libc.ioctl, libc.ioctl_value, libc.dup2, libc.sendmsg];
  // process.user.umask, linux.personality, process.ioPriority (process_attrs.ts).
  if (needs.attributes) void [libc.umask, libc.personality, libc.ioprio_set];
  // startContainer hooks: posix_spawn, the state on stdin, waiting with a timeout (hooks.ts).
  if (needs.hooks) {
    void [
      libc.posix_spawn,
      libc.posix_spawn_file_actions_init,
      libc.posix_spawn_file_actions_destroy,
      libc.posix_spawn_file_actions_adddup2,
      libc.posix_spawn_file_actions_addclose,
      libc.posix_spawn_file_actions_addclosefrom_np,
      libc.posix_spawnattr_init,
      libc.posix_spawnattr_destroy,
      libc.posix_spawnattr_setflags,
      libc.posix_spawnattr_setsigmask,
      libc.posix_spawnattr_setsigdefault,
      libc.memfd_create,
      libc.waitid,
      libc.pidfd_open,
      libc.pidfd_send_signal,
      libc.poll,
      libc.kill,
      libc.lseek,
      libc.getpid,
    ];
  }
}

/** Whether `fd` is close-on-exec (fcntl(2) F_GETFD); undefined when it is not open. */
export function isCloexec(fd: number): boolean | undefined {
  const flags = libc.fcntl(fd, F.GETFD, 0n);
  if (flags < 0) {
    // Not open: an answer, not an error (and no exception on the init's path).
    if (lastErrno() === EBADF) return undefined;
    fail("fcntl", `fd ${fd}`);
  }
  return (flags & F.FD_CLOEXEC) !== 0;
}

/** read(2) into `buf`; returns the byte count (0 at end of file). Retries EINTR. */
export function read(fd: number, buf: Uint8Array<ArrayBuffer>): number {
  for (;;) {
    const n = libc.read(fd, buf, BigInt(buf.byteLength));
    if (n >= 0) return Number(n);
    if (lastErrno() !== 4) fail("read", `fd ${fd}`);
  }
}

/** write(2) of all of `data`. Retries EINTR and short writes. */
export function writeAll(fd: number, data: Uint8Array<ArrayBuffer>): void {
  let off = 0;
  while (off < data.byteLength) {
    const part = data.subarray(off);
    const n = libc.write(fd, part, BigInt(part.byteLength));
    if (n < 0) {
      if (lastErrno() === 4) continue;
      fail("write", `fd ${fd}`);
    }
    off += Number(n);
  }
}

/** Options of `mount`: the filesystem type, flags and data string. */
export interface MountOptions {
  /** Filesystem type, e.g. `"proc"`; omit for bind, remount and propagation changes. */
  fstype?: string;
  /** `MS_*` flags. */
  flags?: number;
  /** Filesystem-specific options, e.g. `"mode=755,size=65536k"`. */
  data?: string;
}

/** mount(2) of `source` on `target`. */
export function mount(source: string, target: string, options: MountOptions = {}): void {
  const ret = libc.mount(
    cString(source, "mount source"),
    cString(target, "mount target"),
    options.fstype === undefined ? null : cString(options.fstype, "filesystem type"),
    BigInt(options.flags ?? 0),
    options.data === undefined || options.data === "" ? null : cString(options.data, "mount data"),
  );
  if (ret !== 0) fail("mount", source, target);
}

/** umount2(2). */
export function umount2(target: string, flags = 0): void {
  if (libc.umount2(cString(target, "path"), flags) !== 0) fail("umount2", target);
}

/** pivot_root(2): makes `newRoot` the root and moves the old root to `putOld`. */
export function pivotRoot(newRoot: string, putOld: string): void {
  const ret = libc.pivot_root(BigInt(SYS.pivot_root), cString(newRoot, "path"), cString(putOld, "path"));
  if (ret !== 0n) fail("pivot_root", newRoot, putOld);
}

/** sethostname(2). */
export function sethostname(name: string): void {
  const bytes = cString(name, "hostname");
  if (libc.sethostname(bytes, BigInt(bytes.byteLength - 1)) !== 0) fail("sethostname", name);
}

/** mknod(2): `mode` includes the file type bits (`S_IF.CHR`, ...). */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  if (libc.mknod(cString(path, "path"), mode, makedev(major, minor)) !== 0) fail("mknod", path);
}

/** chdir(2) for the calling thread's filesystem context. */
export function chdir(path: string): void {
  if (libc.chdir(cString(path, "path")) !== 0) fail("chdir", path);
}

/** lchown(2): changes ownership without following a final symlink. */
export function lchown(path: string, uid: number, gid: number): void {
  if (libc.lchown(cString(path, "path"), uid, gid) !== 0) fail("lchown", path);
}

/**
 * Sets access and modification times of `path` in whole seconds, without
 * following a final symlink (utimensat(2) with AT_SYMLINK_NOFOLLOW).
 */
export function lutimes(path: string, atime: number, mtime: number): void {
  const times = new BigInt64Array([BigInt(atime), 0n, BigInt(mtime), 0n]);
  const ret = libc.utimensat(
    AT.FDCWD,
    cString(path, "path"),
    new Uint8Array(times.buffer),
    AT.SYMLINK_NOFOLLOW,
  );
  if (ret !== 0) fail("utimensat", path);
}

/**
 * execve(2): replaces the process image. Only returns by throwing.
 *
 * @throws {SyscallError} ENOENT, EACCES, ENOEXEC, ...
 */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  const args = new CStringArray(argv, "argument");
  const envp = new CStringArray(env, "environment variable");
  libc.execve(cString(path, "path"), args.buffer, envp.buffer);
  fail("execve", path);
}

/** x86_64 syscall number of execveat(2). */
const SYS_EXECVEAT = 322;
/** AT_EMPTY_PATH: execveat(2) executes `dirfd` itself. */
const AT_EMPTY_PATH = 0x1000;

/**
 * execveat(fd, "", argv, envp, AT_EMPTY_PATH): executes the file behind
 * `fd` (an O_PATH descriptor is fine), so no path is resolved again between
 * choosing the file and executing it. For a `#!` script the kernel hands the
 * interpreter /dev/fd/N, so `fd` must then not be close-on-exec. Only
 * returns by throwing.
 *
 * @param what The file's name, for the error.
 */
export function execveFd(fd: number, argv: readonly string[], env: readonly string[], what: string): never {
  const args = new CStringArray(argv, "argument");
  const envp = new CStringArray(env, "environment variable");
  libc.execveat(BigInt(SYS_EXECVEAT), fd, cString("", "path"), args.buffer, envp.buffer, AT_EMPTY_PATH);
  fail("execveat", what);
}

/** prctl(2) with up to two arguments. */
export function prctl(option: number, arg: number, arg3 = 0): void {
  if (libc.prctl(option, BigInt(arg), BigInt(arg3), 0n, 0n) !== 0) fail("prctl", `${option}, ${arg}`);
}

/**
 * capset(2) for the calling thread: effective, permitted and inheritable
 * sets, each as `[low 32 bits, high 32 bits]` (_LINUX_CAPABILITY_VERSION_3).
 */
export function capset(
  effective: [number, number],
  permitted: [number, number],
  inheritable: [number, number],
): void {
  const header = new Uint32Array([0x20080522, 0]);
  const data = new Uint32Array([
    effective[0],
    permitted[0],
    inheritable[0],
    effective[1],
    permitted[1],
    inheritable[1],
  ]);
  if (libc.capset(new Uint8Array(header.buffer), new Uint8Array(data.buffer)) !== 0) fail("capset");
}

/**
 * Installs a seccomp BPF filter on the calling thread (prctl(2)
 * PR_SET_SECCOMP, SECCOMP_MODE_FILTER). `program` is an array of 8-byte
 * `struct sock_filter`. Needs no_new_privs or CAP_SYS_ADMIN.
 */
export function installSeccompFilter(program: Uint8Array<ArrayBuffer>, flags = 0): void {
  if (flags !== 0) return installSeccompFilterWithFlags(program, flags);
  if (program.byteLength % 8 !== 0 || program.byteLength === 0) {
    throw new TypeError(
      `Cannot install seccomp filter: ${program.byteLength} bytes is not a whole number of instructions`,
    );
  }
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = new Uint8Array(16);
  const view = new DataView(fprog.buffer);
  view.setUint16(0, program.byteLength / 8, true);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
  const fprogPtr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(fprog)));
  const ret = libc.prctl(PR.SET_SECCOMP, BigInt(SECCOMP_MODE_FILTER), fprogPtr, 0n, 0n);
  // `program` and `fprog` are used after the call, so neither is collected before it.
  if (ret !== 0 || program.byteLength === 0 || fprog.byteLength === 0) fail("prctl(PR_SET_SECCOMP)");
}

/** x86_64 syscall number of seccomp(2). */
const SYS_SECCOMP = 317;
/** seccomp(2) operation: install a classic BPF filter. */
const SECCOMP_SET_MODE_FILTER = 1;

/**
 * seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): a filter with filter flags
 * (SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW, ...), which prctl cannot pass.
 */
function installSeccompFilterWithFlags(program: Uint8Array<ArrayBuffer>, flags: number): void {
  if (program.byteLength % 8 !== 0 || program.byteLength === 0) {
    throw new TypeError(
      `Cannot install seccomp filter: ${program.byteLength} bytes is not a whole number of instructions`,
    );
  }
  const fprog = new Uint8Array(16);
  const view = new DataView(fprog.buffer);
  view.setUint16(0, program.byteLength / 8, true);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
  const ret = libc.seccomp(BigInt(SYS_SECCOMP), SECCOMP_SET_MODE_FILTER, flags, fprog);
  // `program` is used after the call, so it is not collected before it.
  if (ret !== 0n || program.byteLength === 0) fail("seccomp(SECCOMP_SET_MODE_FILTER)", `flags ${flags}`);
}

/** getpid(2). */
export function getpid(): number {
  return libc.getpid();
}

/** kill(2). */
export function kill(pid: number, signal: number): void {
  if (libc.kill(pid, signal) !== 0) fail("kill", `pid ${pid}`);
}

/**
 * Restores the default action of every signal that is ignored (SIG_IGN
 * survives execve(2); Deno ignores SIGPIPE and glibc signal 32). Raw
 * rt_sigaction(2), since glibc refuses its reserved signals.
 */
export function resetIgnoredSignals(): void {
  const old = new BigUint64Array(4);
  const dfl = new BigUint64Array(4);
  for (let sig = 1; sig <= 64; sig++) {
    if (sig === 9 || sig === 19) continue;
    if (
      libc.rt_sigaction(BigInt(SYS.rt_sigaction), BigInt(sig), null, new Uint8Array(old.buffer), 8n) !== 0n
    ) {
      continue;
    }
    if (old[0] !== 1n) continue; // SIG_IGN is 1
    if (
      libc.rt_sigaction(BigInt(SYS.rt_sigaction), BigInt(sig), new Uint8Array(dfl.buffer), null, 8n) !== 0n
    ) {
      fail("rt_sigaction", `${sig}`);
    }
  }
}

/** Unblocks every signal for the calling thread (sigprocmask(2) SIG_SETMASK, empty set). */
export function unblockAllSignals(): void {
  const empty = new Uint8Array(128);
  if (libc.sigprocmask(2, empty, null) !== 0) fail("sigprocmask");
}

/** setgroups(2). */
export function setgroups(gids: readonly number[]): void {
  const list = new Uint32Array(gids);
  if (libc.setgroups(BigInt(gids.length), new Uint8Array(list.buffer)) !== 0) {
    fail("setgroups", gids.join(","));
  }
}

/** setgid(2). */
export function setgid(gid: number): void {
  if (libc.setgid(gid) !== 0) fail("setgid", `${gid}`);
}

/** setuid(2). */
export function setuid(uid: number): void {
  if (libc.setuid(uid) !== 0) fail("setuid", `${uid}`);
}

/** setrlimit(2); `-1` stands for RLIM_INFINITY. */
export function setrlimit(resource: number, soft: number, hard: number): void {
  const lim = new BigUint64Array([
    soft < 0 ? 0xffffffffffffffffn : BigInt(soft),
    hard < 0 ? 0xffffffffffffffffn : BigInt(hard),
  ]);
  if (libc.setrlimit(resource, new Uint8Array(lim.buffer)) !== 0) fail("setrlimit", `${resource}`);
}

/**
 * Sets the IFF_UP flag of a network interface (ioctl SIOCGIFFLAGS and
 * SIOCSIFFLAGS on an AF_INET datagram socket), like `ip link set NAME up`.
 */
export function linkUp(name: string): void {
  const sock = libc.socket(NET.AF_INET, NET.SOCK_DGRAM | NET.SOCK_CLOEXEC, 0);
  if (sock < 0) fail("socket", "AF_INET");
  try {
    // struct ifreq: char ifr_name[16]; short ifr_flags; (padded to 40 bytes)
    const ifr = new Uint8Array(40);
    const name8 = cString(name, "interface name");
    if (name8.byteLength > 16) throw new TypeError(`Cannot bring up "${name}": interface name too long`);
    ifr.set(name8);
    if (libc.ioctl(sock, BigInt(NET.SIOCGIFFLAGS), ifr) !== 0) fail("ioctl(SIOCGIFFLAGS)", name);
    const view = new DataView(ifr.buffer);
    view.setInt16(16, view.getInt16(16, true) | NET.IFF_UP, true);
    if (libc.ioctl(sock, BigInt(NET.SIOCSIFFLAGS), ifr) !== 0) fail("ioctl(SIOCSIFFLAGS)", name);
  } finally {
    libc.close(sock);
  }
}

/** setsid(2): a new session with the caller as leader (and no controlling terminal). */
export function setsid(): void {
  if (libc.setsid() < 0) fail("setsid");
}

/** dup2(2). */
export function dup2(fd: number, target: number): void {
  if (libc.dup2(fd, target) < 0) fail("dup2", `fd ${fd} -> ${target}`);
}

/** Makes `fd` (a terminal) the controlling terminal of the caller's session (TIOCSCTTY). */
export function setControllingTerminal(fd: number): void {
  if (libc.ioctl(fd, BigInt(TIOC.SCTTY), null) !== 0) fail("ioctl(TIOCSCTTY)", `fd ${fd}`);
}

/**
 * For a pty master opened from /dev/ptmx: unlocks its slave (unlockpt(3),
 * TIOCSPTLCK) and returns the slave's path (ptsname(3), TIOCGPTN).
 */
export function unlockPtySlave(masterFd: number): string {
  const zero = new Int32Array([0]);
  if (libc.ioctl(masterFd, BigInt(TIOC.SPTLCK), new Uint8Array(zero.buffer)) !== 0) {
    fail("ioctl(TIOCSPTLCK)", `fd ${masterFd}`);
  }
  const n = new Uint32Array(1);
  if (libc.ioctl(masterFd, BigInt(TIOC.GPTN), new Uint8Array(n.buffer)) !== 0) {
    fail("ioctl(TIOCGPTN)", `fd ${masterFd}`);
  }
  return `/dev/pts/${n[0]}`;
}

/**
 * Opens the slave of the pty master `masterFd` (TIOCGPTPEER): the slave of
 * this very master, with no path to resolve (a name in /dev/pts could be
 * something else by the time it is opened).
 */
export function openPtyPeer(masterFd: number, flags: number): number {
  const fd = libc.ioctl_value(masterFd, BigInt(TIOC.GPTPEER), BigInt(flags));
  if (fd < 0) fail("ioctl(TIOCGPTPEER)", `fd ${masterFd}`);
  return fd;
}

/** A terminal's size in rows and columns. */
export interface WindowSize {
  rows: number;
  cols: number;
}

/** The size of the terminal on `fd` (TIOCGWINSZ). */
export function getWindowSize(fd: number): WindowSize {
  const ws = new Uint16Array(4);
  if (libc.ioctl(fd, BigInt(TIOC.GWINSZ), new Uint8Array(ws.buffer)) !== 0) {
    fail("ioctl(TIOCGWINSZ)", `fd ${fd}`);
  }
  return { rows: ws[0]!, cols: ws[1]! };
}

/** Sets the size of the terminal on `fd` (TIOCSWINSZ; its foreground group gets SIGWINCH). */
export function setWindowSize(fd: number, size: WindowSize): void {
  const ws = new Uint16Array([size.rows, size.cols, 0, 0]);
  if (libc.ioctl(fd, BigInt(TIOC.SWINSZ), new Uint8Array(ws.buffer)) !== 0) {
    fail("ioctl(TIOCSWINSZ)", `fd ${fd}`);
  }
}

/**
 * close_range(2) with CLOSE_RANGE_CLOEXEC: marks every descriptor from
 * `first` up close-on-exec, so execve(2) closes them all (the defence
 * against leaked descriptors, CVE-2024-21626's class).
 */
export function cloexecFrom(first: number): void {
  const ret = libc.close_range(BigInt(SYS.close_range), first, 0xffffffff, CLOSE_RANGE.CLOEXEC);
  if (ret !== 0n) fail("close_range", `${first}..~0`);
}

/**
 * mount_setattr(2) on the mount behind `fd` (an O_PATH descriptor of the
 * mount point): sets and clears `MOUNT_ATTR_*` bits, on the whole tree
 * below it when `recursive`.
 */
export function mountSetattr(fd: number, set: number, clear = 0, recursive = true): void {
  const attr = new BigUint64Array([BigInt(set), BigInt(clear), 0n, 0n]);
  const ret = libc.mount_setattr(
    BigInt(SYS.mount_setattr),
    fd,
    cString("", "path"),
    AT.EMPTY_PATH | (recursive ? AT.RECURSIVE : 0),
    new Uint8Array(attr.buffer),
    32n,
  );
  if (ret !== 0n) fail("mount_setattr", `fd ${fd}`);
}

/** prctl(2) returning its result (for the GET_* options). */
export function prctlGet(option: number): number {
  const ret = libc.prctl(option, 0n, 0n, 0n, 0n);
  if (ret < 0) fail("prctl", `${option}`);
  return ret;
}

/** ioprio_set(2) classes (linux/ioprio.h); levels are 0 (highest) to 7. */
export const IOPRIO_CLASS = {
  NONE: 0,
  RT: 1,
  BE: 2,
  IDLE: 3,
} as const;

/** ioprio_set(2) and ioprio_get(2) `which`: a thread, by tid (0: the caller). */
const IOPRIO_WHO_PROCESS = 1;
/** x86_64 system call numbers of ioprio_set(2) and ioprio_get(2). */
const SYS_IOPRIO_SET = 251;
const SYS_IOPRIO_GET = 252;

/**
 * ioprio_set(2) for the calling thread (IOPRIO_WHO_PROCESS, who 0): I/O
 * scheduling class and level, `(class << 13) | level`. The I/O priority is
 * per thread; children and execve(2) keep it. IOPRIO_CLASS.RT needs
 * CAP_SYS_ADMIN or CAP_SYS_NICE.
 *
 * @throws {SyscallError} EINVAL (bad class or level), EPERM.
 */
export function ioprioSet(ioClass: number, level: number): void {
  const ioprio = (ioClass << 13) | level;
  const ret = libc.ioprio_set(BigInt(SYS_IOPRIO_SET), IOPRIO_WHO_PROCESS, 0, ioprio);
  if (ret !== 0n) fail("ioprio_set", `class ${ioClass}, level ${level}`);
}

/** ioprio_get(2) for the calling thread: its I/O scheduling class and level. */
export function ioprioGet(): { ioClass: number; level: number } {
  const ret = libc.ioprio_get(BigInt(SYS_IOPRIO_GET), IOPRIO_WHO_PROCESS, 0);
  if (ret < 0n) fail("ioprio_get", "self");
  const ioprio = Number(ret);
  return { ioClass: ioprio >> 13, level: ioprio & 0x1fff };
}

/**
 * personality(2) of the calling thread: sets the execution domain and
 * returns the previous one. `0xffffffff` only queries. execve(2) keeps it,
 * so the init sets it just before executing the container's program.
 *
 * @throws {SyscallError} EINVAL for an unknown domain.
 */
export function personality(persona: number): number {
  const ret = libc.personality(BigInt(persona >>> 0));
  if (ret < 0) fail("personality", `0x${(persona >>> 0).toString(16)}`);
  return ret;
}

/**
 * umask(2): sets the file mode creation mask of the caller's filesystem
 * context (shared by the threads that share its fs_struct) and returns the
 * previous mask. Never fails.
 */
export function umask(mask: number): number {
  if (!Number.isInteger(mask) || mask < 0 || mask > 0o777) {
    throw new TypeError(`Cannot set umask ${mask}: must be an integer from 0 to 0o777`);
  }
  return libc.umask(mask);
}

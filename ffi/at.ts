/**
 * Directory-relative file calls: the `*at` family and openat2(2).
 *
 * Everything tinyo does inside a tree it does not trust (an image being
 * unpacked, a container's root) goes through a directory descriptor, so the
 * kernel resolves each name where it stands instead of tinyo checking a path
 * string and then using it again (the race behind CVE-2021-30465 and its
 * kin). openat2's RESOLVE_IN_ROOT makes the kernel treat a directory as "/":
 * symlinks and ".." stay inside it; RESOLVE_NO_MAGICLINKS refuses the /proc
 * links that lead anywhere.
 *
 * @module
 */

import { libc } from "./_libc.ts";
import { cString } from "./cstring.ts";
import { lastErrno, SyscallError } from "./errno.ts";
import { AT, SYS } from "./constants.ts";

function fail(syscall: string, path?: string, dest?: string): never {
  const errno = lastErrno();
  throw new SyscallError({
    syscall,
    errno,
    ...(path === undefined ? {} : { path }),
    ...(dest === undefined ? {} : { dest }),
  });
}

/** How openat2(2) resolves and opens a path (struct open_how). */
export interface OpenHow {
  /** `O_*` flags. */
  flags: number;
  /** Permission bits when creating. */
  mode?: number;
  /** `RESOLVE_*` flags. */
  resolve: number;
}

/**
 * openat2(2): opens `path` relative to `dirFd` with the kernel enforcing
 * `how.resolve` on every component. Returns a raw descriptor.
 *
 * @throws {SyscallError} ELOOP/EXDEV when the resolution rules are broken.
 */
export function openat2(dirFd: number, path: string, how: OpenHow): number {
  const openHow = new BigUint64Array([BigInt(how.flags), BigInt(how.mode ?? 0), BigInt(how.resolve)]);
  const fd = libc.openat2(
    BigInt(SYS.openat2),
    dirFd,
    cString(path, "path"),
    new Uint8Array(openHow.buffer),
    24n,
  );
  if (fd < 0n) fail("openat2", path);
  return Number(fd);
}

/** openat(2): opens `name` relative to `dirFd`. */
export function openat(dirFd: number, name: string, flags: number, mode = 0): number {
  const fd = libc.openat(dirFd, cString(name, "path"), flags, mode);
  if (fd < 0) fail("openat", name);
  return fd;
}

/** mkdirat(2). */
export function mkdirat(dirFd: number, name: string, mode: number): void {
  if (libc.mkdirat(dirFd, cString(name, "path"), mode) !== 0) fail("mkdirat", name);
}

/** The kernel's dev_t encoding of a major and minor number. */
export function makedev(major: number, minor: number): bigint {
  return (BigInt(major & 0xfff) << 8n) | BigInt(minor & 0xff) |
    (BigInt(minor & ~0xff) << 12n) | (BigInt(major & ~0xfff) << 32n);
}

/** mknodat(2): `mode` includes the file type bits. */
export function mknodat(dirFd: number, name: string, mode: number, major = 0, minor = 0): void {
  if (libc.mknodat(dirFd, cString(name, "path"), mode, makedev(major, minor)) !== 0) fail("mknodat", name);
}

/** symlinkat(2): creates `name` in `dirFd` pointing at `target` (never resolved here). */
export function symlinkat(target: string, dirFd: number, name: string): void {
  if (libc.symlinkat(cString(target, "symlink target"), dirFd, cString(name, "path")) !== 0) {
    fail("symlinkat", name, target);
  }
}

/** linkat(2) without following a symlink at the old path. */
export function linkat(oldDirFd: number, oldName: string, newDirFd: number, newName: string): void {
  if (libc.linkat(oldDirFd, cString(oldName, "path"), newDirFd, cString(newName, "path"), 0) !== 0) {
    fail("linkat", oldName, newName);
  }
}

/** unlinkat(2); `dir` removes an (empty) directory. */
export function unlinkat(dirFd: number, name: string, dir = false): void {
  if (libc.unlinkat(dirFd, cString(name, "path"), dir ? AT.REMOVEDIR : 0) !== 0) fail("unlinkat", name);
}

/** fchmod(2). */
export function fchmod(fd: number, mode: number): void {
  if (libc.fchmod(fd, mode) !== 0) fail("fchmod", `fd ${fd}`);
}

/**
 * Changes the mode of the file behind an `O_PATH` descriptor (device nodes
 * and FIFOs, which tinyo never opens for real) through its /proc/self/fd
 * link: the kernel follows that link to the very inode, not to a name.
 */
export function fchmodPath(fd: number, mode: number): void {
  const path = `/proc/self/fd/${fd}`;
  if (libc.fchmodat(AT.FDCWD, cString(path, "path"), mode, 0) !== 0) fail("fchmodat", path);
}

/** fchown(2). */
export function fchown(fd: number, uid: number, gid: number): void {
  if (libc.fchown(fd, uid, gid) !== 0) fail("fchown", `fd ${fd}`);
}

/** fchownat(2) with AT_SYMLINK_NOFOLLOW: changes a symlink itself, never its target. */
export function lchownat(dirFd: number, name: string, uid: number, gid: number): void {
  if (libc.fchownat(dirFd, cString(name, "path"), uid, gid, AT.SYMLINK_NOFOLLOW) !== 0) {
    fail("fchownat", name);
  }
}

/**
 * Sets access and modification times (whole seconds) of `name` in `dirFd`
 * without following a symlink there (utimensat(2), AT_SYMLINK_NOFOLLOW);
 * an empty `name` means `dirFd` itself (futimens(3)).
 */
export function utimesat(dirFd: number, name: string, atime: number, mtime: number): void {
  const times = new BigInt64Array([BigInt(atime), 0n, BigInt(mtime), 0n]);
  const ret = name === ""
    ? libc.futimens(dirFd, new Uint8Array(times.buffer))
    : libc.utimensat(dirFd, cString(name, "path"), new Uint8Array(times.buffer), AT.SYMLINK_NOFOLLOW);
  if (ret !== 0) fail("utimensat", name === "" ? `fd ${dirFd}` : name);
}

/** What tinyo reads of struct stat. */
export interface FileStat {
  /** st_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: bigint;
  ino: bigint;
  /** st_rdev: the device number of a device node. */
  rdev: bigint;
}

function parseStat(buf: Uint8Array<ArrayBuffer>): FileStat {
  // struct stat on x86_64 (asm/stat.h): dev 0, ino 8, nlink 16, mode 24,
  // uid 28, gid 32, rdev 40, size 48.
  const v = new DataView(buf.buffer);
  return {
    dev: v.getBigUint64(0, true),
    ino: v.getBigUint64(8, true),
    mode: v.getUint32(24, true),
    uid: v.getUint32(28, true),
    gid: v.getUint32(32, true),
    rdev: v.getBigUint64(40, true),
    size: Number(v.getBigInt64(48, true)),
  };
}

/** fstatfs(2): the filesystem type (f_type, the first field of struct statfs) of what `fd` is on. */
export function fsType(fd: number): number {
  const buf = new Uint8Array(120);
  if (libc.fstatfs(fd, buf) !== 0) fail("fstatfs", `fd ${fd}`);
  return Number(new DataView(buf.buffer).getBigInt64(0, true));
}

/** fstat(2). */
export function fstat(fd: number): FileStat {
  const buf = new Uint8Array(144);
  if (libc.fstat(fd, buf) !== 0) fail("fstat", `fd ${fd}`);
  return parseStat(buf);
}

/** fstatat(2) with AT_SYMLINK_NOFOLLOW: a symlink is described, not followed. */
export function lstatat(dirFd: number, name: string): FileStat {
  const buf = new Uint8Array(144);
  if (libc.fstatat(dirFd, cString(name, "path"), buf, AT.SYMLINK_NOFOLLOW) !== 0) fail("fstatat", name);
  return parseStat(buf);
}

/** fchdir(2): makes the directory behind `fd` the calling thread's working directory. */
export function fchdir(fd: number): void {
  if (libc.fchdir(fd) !== 0) fail("fchdir", `fd ${fd}`);
}

/** readlinkat(2): the target of the symlink `name` in `dirFd`. */
export function readlinkat(dirFd: number, name: string): string {
  const buf = new Uint8Array(4096);
  const n = libc.readlinkat(dirFd, cString(name, "path"), buf, BigInt(buf.byteLength));
  if (n < 0) fail("readlinkat", name);
  return new TextDecoder().decode(buf.subarray(0, Number(n)));
}

/** lseek(2) to an absolute offset. */
export function seekTo(fd: number, offset: number): void {
  if (libc.lseek(fd, BigInt(offset), 0) < 0n) fail("lseek", `fd ${fd}`);
}

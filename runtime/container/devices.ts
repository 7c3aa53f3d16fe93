/**
 * The container's /dev: a private tmpfs holding only the safe device nodes
 * every container gets (the OCI runtime-spec "default devices"), plus the
 * conventional links. Runs before pivot_root, on the rootfs path.
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#default-devices
 * @module
 */

import type { Device } from "../model/spec.ts";
import { fsCalls, isErrno, O, S_IF, type Syscalls } from "../syscalls.ts";
import { fdPath, mkdirAllInRoot } from "../inroot.ts";

/** The default device nodes: null, zero, full, random, urandom, tty. */
export const DEFAULT_DEVICES: readonly Device[] = [
  { type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/zero", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/full", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/random", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/urandom", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/tty", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

/** The links in /dev: name → target. */
export const DEV_SYMLINKS: Readonly<Record<string, string>> = {
  "/dev/fd": "/proc/self/fd",
  "/dev/stdin": "/proc/self/fd/0",
  "/dev/stdout": "/proc/self/fd/1",
  "/dev/stderr": "/proc/self/fd/2",
  "/dev/ptmx": "pts/ptmx",
};

const TYPE_BITS: Record<Device["type"], number> = { c: S_IF.CHR, u: S_IF.CHR, b: S_IF.BLK, p: S_IF.FIFO };

/** Removes `name` in the directory `dirFd` when it is there (not a directory). */
function removeIfThere(dirFd: number, name: string): void {
  try {
    fsCalls.unlinkat(dirFd, name);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
}

/**
 * Creates `devices` (defaults first, then the spec's own, which win on the
 * same path) and the /dev links in the root behind `rootFd`, each name
 * relative to a descriptor of its directory opened inside the root.
 */
export function createDevices(sys: Syscalls, rootFd: number, extra: readonly Device[] = []): void {
  const byPath = new Map<string, Device>();
  for (const d of [...DEFAULT_DEVICES, ...extra]) byPath.set(d.path, d);
  const inDir = (path: string, fn: (dirFd: number, name: string) => void): void => {
    const slash = path.lastIndexOf("/");
    const dirFd = mkdirAllInRoot(rootFd, path.slice(0, slash) || "/");
    try {
      fn(dirFd, path.slice(slash + 1));
    } finally {
      fsCalls.close(dirFd);
    }
  };
  for (const d of byPath.values()) {
    inDir(d.path, (dirFd, name) => {
      removeIfThere(dirFd, name);
      const mode = d.fileMode ?? 0o666;
      sys.mknod(`${fdPath(dirFd)}/${name}`, TYPE_BITS[d.type] | (mode & 0o7777), d.major ?? 0, d.minor ?? 0);
      // mknod(2) applies the umask: set the mode the spec asked for on the
      // node itself (an O_PATH descriptor: a device is never opened here).
      const fd = fsCalls.openat(dirFd, name, O.PATH | O.NOFOLLOW | O.CLOEXEC);
      try {
        fsCalls.fchmodPath(fd, mode & 0o7777);
      } finally {
        fsCalls.close(fd);
      }
      sys.lchown(`${fdPath(dirFd)}/${name}`, d.uid ?? 0, d.gid ?? 0);
    });
  }
  for (const [link, target] of Object.entries(DEV_SYMLINKS)) {
    inDir(link, (dirFd, name) => {
      removeIfThere(dirFd, name);
      fsCalls.symlinkat(target, dirFd, name);
    });
  }
}

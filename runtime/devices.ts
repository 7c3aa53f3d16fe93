/**
 * The container's /dev: a private tmpfs holding only the safe device nodes
 * every container gets (the OCI runtime-spec "default devices"), plus the
 * conventional links. Runs before pivot_root, on the rootfs path.
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#default-devices
 * @module
 */

import type { Device } from "./spec.ts";
import { S_IF, type Syscalls } from "./syscalls.ts";
import { secureJoin } from "./securejoin.ts";

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

/**
 * Creates `devices` (defaults first, then the spec's own, which win on the
 * same path) and the /dev links under `rootfs`.
 */
export function createDevices(sys: Syscalls, rootfs: string, extra: readonly Device[] = []): void {
  const byPath = new Map<string, Device>();
  for (const d of [...DEFAULT_DEVICES, ...extra]) byPath.set(d.path, d);
  for (const d of byPath.values()) {
    const path = secureJoin(rootfs, d.path);
    const parent = path.slice(0, path.lastIndexOf("/"));
    Deno.mkdirSync(parent, { recursive: true, mode: 0o755 });
    try {
      Deno.removeSync(path);
    } catch {
      // Nothing there yet: the usual case on a fresh tmpfs.
    }
    const mode = d.fileMode ?? 0o666;
    sys.mknod(path, TYPE_BITS[d.type] | (mode & 0o7777), d.major ?? 0, d.minor ?? 0);
    // mknod(2) applies the umask; chmod sets the mode the spec asked for.
    Deno.chmodSync(path, mode & 0o7777);
    sys.lchown(path, d.uid ?? 0, d.gid ?? 0);
  }
  for (const [link, target] of Object.entries(DEV_SYMLINKS)) {
    const path = secureJoin(rootfs, link);
    try {
      Deno.removeSync(path);
    } catch {
      // Not there: fine.
    }
    Deno.symlinkSync(target, path);
  }
}

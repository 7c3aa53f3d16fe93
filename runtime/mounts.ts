/**
 * Mounts inside the container: the option-name table (crun's
 * mount_flags.perf idea), turning spec mounts into flag/data pairs, and
 * applying them under the rootfs.
 *
 * @module
 */

import type { Mount } from "./spec.ts";
import { MS, type Syscalls } from "./syscalls.ts";
import { ensureMountTarget } from "./securejoin.ts";
import { ConfigError } from "./errors.ts";

interface OptionEffect {
  /** Flags this option sets (or clears, when `clear`). */
  flags: number;
  clear?: boolean;
  /** A propagation flag applied in a second mount(2) call. */
  propagation?: boolean;
}

/** Mount option names and what they do; anything else goes to the data string. */
const OPTIONS: Readonly<Record<string, OptionEffect>> = {
  defaults: { flags: 0 },
  ro: { flags: MS.RDONLY },
  rw: { flags: MS.RDONLY, clear: true },
  suid: { flags: MS.NOSUID, clear: true },
  nosuid: { flags: MS.NOSUID },
  dev: { flags: MS.NODEV, clear: true },
  nodev: { flags: MS.NODEV },
  exec: { flags: MS.NOEXEC, clear: true },
  noexec: { flags: MS.NOEXEC },
  sync: { flags: MS.SYNCHRONOUS },
  async: { flags: MS.SYNCHRONOUS, clear: true },
  dirsync: { flags: MS.DIRSYNC },
  remount: { flags: MS.REMOUNT },
  mand: { flags: MS.MANDLOCK },
  nomand: { flags: MS.MANDLOCK, clear: true },
  atime: { flags: MS.NOATIME, clear: true },
  noatime: { flags: MS.NOATIME },
  diratime: { flags: MS.NODIRATIME, clear: true },
  nodiratime: { flags: MS.NODIRATIME },
  relatime: { flags: MS.RELATIME },
  norelatime: { flags: MS.RELATIME, clear: true },
  strictatime: { flags: MS.STRICTATIME },
  nostrictatime: { flags: MS.STRICTATIME, clear: true },
  bind: { flags: MS.BIND },
  rbind: { flags: MS.BIND | MS.REC },
  private: { flags: MS.PRIVATE, propagation: true },
  rprivate: { flags: MS.PRIVATE | MS.REC, propagation: true },
  shared: { flags: MS.SHARED, propagation: true },
  rshared: { flags: MS.SHARED | MS.REC, propagation: true },
  slave: { flags: MS.SLAVE, propagation: true },
  rslave: { flags: MS.SLAVE | MS.REC, propagation: true },
  unbindable: { flags: MS.UNBINDABLE, propagation: true },
  runbindable: { flags: MS.UNBINDABLE | MS.REC, propagation: true },
};

/** A spec mount's options, split into what mount(2) takes. */
export interface ParsedMountOptions {
  /** `MS_*` flags for the mount itself. */
  flags: number;
  /** Propagation flags for a follow-up mount(2) call, 0 if none. */
  propagation: number;
  /** Filesystem-specific options joined with commas. */
  data: string;
  /** Whether this is a bind mount. */
  bind: boolean;
}

/** Splits mount options into flags, propagation flags and the data string. */
export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const opt of options) {
    const effect = OPTIONS[opt];
    if (effect === undefined) data.push(opt);
    else if (effect.propagation) propagation |= effect.flags;
    else if (effect.clear) flags &= ~effect.flags;
    else flags |= effect.flags;
  }
  return { flags, propagation, data: data.join(","), bind: (flags & MS.BIND) !== 0 };
}

/** Flags that a read-only/nosuid/... remount of a bind mount must carry. */
const REMOUNT_FLAGS = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.NODIRATIME |
  MS.RELATIME | MS.STRICTATIME;

/**
 * Mounts one spec mount under `rootfs`. The destination is resolved inside
 * the rootfs (symlinks cannot lead out of it) and created when missing; a
 * bind mount of a file gets a file as its target.
 */
export function applyMount(sys: Syscalls, rootfs: string, m: Mount): string {
  const opts = parseMountOptions(m.options);
  const type = m.type ?? (opts.bind ? "bind" : "");
  const bind = opts.bind || type === "bind";
  let sourceIsFile = false;
  if (bind) {
    const source = m.source ?? "";
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(source);
    } catch (err) {
      throw new ConfigError(
        `Cannot bind-mount "${source}" on "${m.destination}": ${
          err instanceof Deno.errors.NotFound
            ? "no such file or directory on the host"
            : (err as Error).message
        }`,
        { cause: err },
      );
    }
    sourceIsFile = !info.isDirectory;
  }
  const target = ensureMountTarget(rootfs, m.destination, sourceIsFile);
  if (bind) {
    sys.mount(m.source ?? "", target, { flags: MS.BIND | (opts.flags & MS.REC) });
    // A bind mount ignores most flags on creation; they need a remount.
    const extra = opts.flags & REMOUNT_FLAGS;
    if (extra !== 0) sys.mount("", target, { flags: MS.BIND | MS.REMOUNT | extra });
  } else {
    if (type === "") throw new ConfigError(`Cannot mount on "${m.destination}": the mount has no type`);
    sys.mount(m.source ?? type, target, { fstype: type, flags: opts.flags, data: opts.data });
  }
  if (opts.propagation !== 0) sys.mount("", target, { flags: opts.propagation });
  return target;
}

/**
 * Hides `path` (masked paths): /dev/null over a file, an empty read-only
 * tmpfs over a directory. Missing paths are skipped. Runs after pivot_root.
 */
export function maskPath(sys: Syscalls, path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return;
  }
  if (info.isDirectory) sys.mount("tmpfs", path, { fstype: "tmpfs", flags: MS.RDONLY, data: "size=0k" });
  else sys.mount("/dev/null", path, { flags: MS.BIND });
}

/** Makes `path` read-only (bind it on itself, then remount). Missing paths are skipped. */
export function readonlyPath(sys: Syscalls, path: string): void {
  try {
    Deno.statSync(path);
  } catch {
    return;
  }
  sys.mount(path, path, { flags: MS.BIND | MS.REC });
  sys.mount(path, path, { flags: MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC });
}

/** Escapes a path for an overlayfs option string (`,` `:` and `\` are special). */
export function overlayEscape(path: string): string {
  return path.replace(/[\\,:]/g, (c) => `\\${c}`);
}

/** Where the rootfs comes from, prepared by the init inside its mount namespace. */
export interface RootfsSource {
  /** Read-only image layers (lowest last), or a directory to bind when `upper` is absent. */
  lower: string[];
  /** The container's writable layer; absent to bind `lower[0]` itself. */
  upper?: string;
  /** overlayfs work directory, on the same filesystem as `upper`. */
  work?: string;
}

/**
 * Makes `target` the container's root mount: an overlay of the image with the
 * container's writable layer, or the rootfs directory bound onto itself
 * (pivot_root needs the new root to be a mount point).
 */
export function mountRootfs(sys: Syscalls, target: string, source: RootfsSource | undefined): void {
  if (source?.upper !== undefined && source.work !== undefined) {
    const data = `lowerdir=${source.lower.map(overlayEscape).join(":")},upperdir=${
      overlayEscape(source.upper)
    },workdir=${overlayEscape(source.work)}`;
    sys.mount("overlay", target, { fstype: "overlay", data });
    return;
  }
  const dir = source?.lower[0] ?? target;
  sys.mount(dir, target, { flags: MS.BIND | MS.REC });
}

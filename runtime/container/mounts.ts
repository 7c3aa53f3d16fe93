/**
 * Mounts inside the container: the option-name table (crun's
 * mount_flags.perf idea), turning spec mounts into flag/data pairs, and
 * applying them under the rootfs.
 *
 * @module
 */

import type { Mount } from "../model/spec.ts";
import type { RootfsSource } from "../model/bootstrap.ts";
import { fsCalls, isErrno, MOUNT_ATTR, MS, O, S_IF, type Syscalls } from "../syscalls.ts";
import { copyUp } from "./copy_up.ts";
import { fdPath, fileType, mountTargetInRoot, openInRoot } from "../inroot.ts";
import { ConfigError } from "../errors.ts";
import { type CgroupHost, mountCgroup } from "./cgroup_mount.ts";

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

/** `MS_*` flags of a bind mount that become `MOUNT_ATTR_*` bits (mount_setattr(2)). */
const BIND_ATTRS: readonly [number, number][] = [
  [MS.RDONLY, MOUNT_ATTR.RDONLY],
  [MS.NOSUID, MOUNT_ATTR.NOSUID],
  [MS.NODEV, MOUNT_ATTR.NODEV],
  [MS.NOEXEC, MOUNT_ATTR.NOEXEC],
];

/** The mount_setattr bits for a bind mount's flags. */
export function bindAttrs(flags: number): number {
  let attrs = 0;
  for (const [ms, attr] of BIND_ATTRS) if ((flags & ms) !== 0) attrs |= attr;
  return attrs;
}

/** Runs `fn` with an O_PATH descriptor, closed afterwards. */
function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    fsCalls.close(fd);
  }
}

/** What `applyMount` needs besides the mount itself. */
export interface ApplyMountOptions {
  /**
   * The container has a cgroup namespace (created or joined): a `cgroup`
   * mount is then a fresh mount of each hierarchy rather than binds of the
   * container's cgroups (runtime/container/cgroup_mount.ts).
   */
  cgroupns?: boolean;
  /** The host's mount table and the init's cgroups, for tests (default: read from /proc/self). */
  cgroupHost?: CgroupHost;
}

/**
 * Mounts one spec mount in the root behind `rootFd`. The destination is
 * opened once inside the root (openat2 RESOLVE_IN_ROOT|NO_MAGICLINKS,
 * created when missing; a bind mount of a file gets a file to land on) and
 * the mount goes onto that descriptor, so a symlink swapped into the path
 * meanwhile changes nothing. procfs and sysfs refuse a destination that goes
 * through any symlink. A bind mount's flags (ro, nosuid, ...) are applied
 * with mount_setattr(2), recursively for rbind: a `:ro` volume is read-only
 * all the way down, submounts included. `cgroup` and `cgroup2` mounts show
 * the container's own cgroups (runtime/container/cgroup_mount.ts); any
 * other type goes to mount(2) as it is, as runc does (mqueue, devpts,
 * overlay, whatever the kernel has), and a type the kernel does not know
 * is reported with the mount it belongs to.
 */
export function applyMount(sys: Syscalls, rootFd: number, m: Mount, options: ApplyMountOptions = {}): void {
  const opts = parseMountOptions(m.options);
  const type = m.type ?? (opts.bind ? "bind" : "");
  const bind = opts.bind || type === "bind";
  if (!bind && (type === "cgroup" || type === "cgroup2")) {
    mountCgroup(sys, rootFd, {
      destination: m.destination,
      type,
      flags: opts.flags,
      data: opts.data,
      cgroupns: options.cgroupns ?? false,
      ...(options.cgroupHost !== undefined ? { host: options.cgroupHost } : {}),
    });
    if (opts.propagation !== 0) {
      withFd(
        mountTargetInRoot(rootFd, m.destination, { noSymlinks: true }),
        (fd) => sys.mount("", fdPath(fd), { flags: opts.propagation }),
      );
    }
    return;
  }
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
  } else if (type === "") {
    throw new ConfigError(`Cannot mount on "${m.destination}": the mount has no type`);
  }
  // Kernel filesystems and /dev must land exactly where they are named: a
  // symlink on the way would put them elsewhere (outside the masked paths,
  // or over a volume shared with others).
  const special = ["proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"].includes(type) ||
    /^\/dev(\/|$)/.test(m.destination.replace(/\/+$/, ""));
  const target = (): number =>
    mountTargetInRoot(rootFd, m.destination, { file: sourceIsFile, noSymlinks: special });
  // tmpfs: `tmpcopyup` (podman's) copies what the image has there into the
  // new tmpfs; without a mode= the tmpfs root takes the mode the directory
  // had (runc does the same: /tmp stays 1777, /run 755).
  const data = opts.data.split(",").filter((o) => o !== "" && o !== "tmpcopyup");
  const tmpfs = !bind && type === "tmpfs";
  const copy = tmpfs && opts.data.split(",").includes("tmpcopyup");
  let original: { fd: number; mode: number } | undefined;
  withFd(target(), (fd) => {
    if (tmpfs) {
      // The directory the tmpfs is about to cover, readable, kept open.
      const dir = fsCalls.openat(fd, ".", O.RDONLY | O.DIRECTORY | O.CLOEXEC);
      original = { fd: dir, mode: fsCalls.fstat(dir).mode & 0o7777 };
    }
    if (bind) sys.mount(m.source ?? "", fdPath(fd), { flags: MS.BIND | (opts.flags & MS.REC) });
    else {
      try {
        sys.mount(m.source ?? type, fdPath(fd), { fstype: type, flags: opts.flags, data: data.join(",") });
      } catch (err) {
        // mount(2) says ENODEV for a filesystem type the kernel does not have.
        if (isErrno(err, "ENODEV")) {
          throw new ConfigError(
            `Cannot mount "${type}" on "${m.destination}": unknown filesystem type (not in /proc/filesystems)`,
            { cause: err },
          );
        }
        throw err;
      }
    }
  });
  if (original !== undefined) {
    try {
      // Opened again: the mount itself this time.
      withFd(target(), (fd) => {
        // Only the image's own files are copied: a destination an image's
        // symlink led elsewhere (into /sys or /proc, before the masks, or a
        // volume) is covered but not copied from.
        if (copy && fsCalls.fstat(original!.fd).dev === fsCalls.fstat(rootFd).dev) {
          copyUp(original!.fd, fd, m.destination);
        }
        if (!data.some((o) => o.startsWith("mode="))) fsCalls.fchmodPath(fd, original!.mode);
      });
    } finally {
      fsCalls.close(original.fd);
    }
  }
  // The descriptor above is the directory under the new mount: opening the
  // destination again gives the mount itself.
  const attrs = bind ? bindAttrs(opts.flags) : 0;
  if (attrs !== 0) withFd(target(), (fd) => sys.mountSetattr(fd, attrs, 0, (opts.flags & MS.REC) !== 0));
  if (opts.propagation !== 0) {
    withFd(target(), (fd) => sys.mount("", fdPath(fd), { flags: opts.propagation }));
  }
}

/** Opens an existing path in the root, or undefined when it does not exist (anything else throws). */
function openExisting(rootFd: number, path: string): number | undefined {
  try {
    return openInRoot(rootFd, path);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
}

/**
 * Hides `path` (masked paths): the null device over a file (`devNull`: the
 * init passes a descriptor of the one it made, checked, never a name a
 * container could have swapped), an empty read-only tmpfs over a directory.
 * A path that does not exist is skipped; any other failure is an error (a
 * mask that silently did not happen is a hole). Runs after pivot_root, with
 * `rootFd` the container's "/".
 */
export function maskPath(sys: Syscalls, rootFd: number, path: string, devNull = "/dev/null"): void {
  const fd = openExisting(rootFd, path);
  if (fd === undefined) return;
  withFd(fd, (fd) => {
    if (fileType(fd) === S_IF.DIR) {
      sys.mount("tmpfs", fdPath(fd), { fstype: "tmpfs", flags: MS.RDONLY, data: "size=0k" });
    } else sys.mount(devNull, fdPath(fd), { flags: MS.BIND });
  });
}

/**
 * Makes `path` read-only, with whatever is mounted below it: bound onto
 * itself, then MOUNT_ATTR_RDONLY|NOSUID|NODEV|NOEXEC on the whole tree. A
 * path that does not exist is skipped; any other failure is an error.
 */
export function readonlyPath(sys: Syscalls, rootFd: number, path: string): void {
  const fd = openExisting(rootFd, path);
  if (fd === undefined) return;
  withFd(fd, (fd) => sys.mount(fdPath(fd), fdPath(fd), { flags: MS.BIND | MS.REC }));
  withFd(openInRoot(rootFd, path), (fd) =>
    sys.mountSetattr(
      fd,
      MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC,
      0,
      true,
    ));
}

/** Escapes a path for an overlayfs option string (`,` `:` and `\` are special). */
export function overlayEscape(path: string): string {
  return path.replace(/[\\,:]/g, (c) => `\\${c}`);
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

/**
 * `tinyo cp`: files and directories between the host and a running
 * container, every container path resolved inside the container's root.
 *
 * The root is the container's PID 1's `/proc/PID/root`, opened once, after
 * a pidfd proved the pid is that process (and checked again afterwards, so a
 * reused pid cannot lend its root). Each container path is then resolved by
 * the kernel from that descriptor (openat2 RESOLVE_IN_ROOT|NO_MAGICLINKS:
 * runtime/inroot.ts): an absolute symlink the container planted means the
 * container's "/", ".." stops at its root (docker's CVE-2018-15664 class),
 * and everything below the first step is done with *at calls on
 * descriptors, names never resolved twice:
 *
 * - out of the container: a file is read through the descriptor it was
 *   resolved to; a directory is walked with O_NOFOLLOW, symlinks copied as
 *   symlinks, devices, FIFOs and sockets skipped; setuid, setgid and sticky
 *   bits are dropped (a container cannot hand the host a setuid-root file);
 * - into the container: the destination's parent is resolved inside the
 *   root and the file made with O_CREAT|O_EXCL|O_NOFOLLOW relative to it; a
 *   symlink in the destination's place is replaced, never followed.
 *
 * @module
 */

import { fsCalls, isErrno, O, pidCalls, processCalls, S_IF } from "../syscalls.ts";
import { openInRoot } from "../inroot.ts";
import { TinyoError } from "../errors.ts";
import { openProcess } from "./handle.ts";

const TYPE = 0o170000;
const PERM = 0o777;

/**
 * Kernel filesystems never copied out (linux/magic.h): read as the host's
 * root they would give what the container itself may not read (the kernel
 * log, symbol addresses) or trigger actions.
 */
const KERNEL_FS: Readonly<Record<number, string>> = {
  0x9fa0: "proc",
  0x62656572: "sysfs",
  0x64626720: "debugfs",
  0x73636673: "securityfs",
  0x74726163: "tracefs",
  0x27e0eb: "cgroup",
  0x63677270: "cgroup2",
  0xcafe4a11: "bpf",
  0x6e736673: "nsfs",
};

/** Runs `fn` with a descriptor of the root of process `pid` (checked against `startTime`). */
export function withContainerRoot<T>(
  pid: number,
  startTime: number,
  what: string,
  fn: (root: number) => T,
): T {
  const pidfd = openProcess(pid, startTime);
  if (pidfd === undefined) throw new TinyoError(`Cannot copy: container ${what} is not running`);
  let root = -1;
  try {
    root = fsCalls.open(`/proc/${pid}/root`, O.PATH | O.DIRECTORY | O.CLOEXEC);
    // Still that process: the root opened is its root, not a newcomer's.
    pidCalls.pidfdSendSignal(pidfd, 0);
  } catch (err) {
    if (root >= 0) fsCalls.close(root);
    pidCalls.close(pidfd);
    throw new TinyoError(`Cannot copy: container ${what} is not running (${(err as Error).message})`);
  }
  pidCalls.close(pidfd);
  try {
    return fn(root);
  } finally {
    fsCalls.close(root);
  }
}

function baseName(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return parts.at(-1) ?? "";
}

function parentOf(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return "/" + parts.slice(0, -1).join("/");
}

function hostIsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Copies `src` (a path in the container behind `root`) to `dst` on the host. Returns the files copied. */
export function copyOut(root: number, src: string, dst: string): number {
  let fd: number;
  try {
    fd = openInRoot(root, src);
  } catch (err) {
    throw new TinyoError(`Cannot copy "${src}" out of the container: ${(err as Error).message}`);
  }
  try {
    // The host path is the caller's own, resolved as given; every name below
    // it comes from the container and is made relative to a descriptor.
    const intoDir = hostIsDir(dst);
    const dir = intoDir ? dst : parentOf(dst.startsWith("/") ? dst : `${Deno.cwd()}/${dst}`);
    const name = intoDir ? baseName(src) : baseName(dst);
    if (name === "") throw new TinyoError(`Cannot copy "${src}" to "${dst}": no file name`);
    const hostDir = fsCalls.open(dir, O.PATH | O.DIRECTORY | O.CLOEXEC);
    try {
      return copyOutFd(fd, hostDir, name);
    } finally {
      fsCalls.close(hostDir);
    }
  } finally {
    fsCalls.close(fd);
  }
}

/** Copies the data of `from` to `to` in pieces (a huge or sparse file never sits in memory). */
function copyData(from: number, to: number, size = Infinity): void {
  const buf = new Uint8Array(1 << 20);
  // At most the size it had when looked at: a file the container keeps
  // growing (sparse, for free) cannot fill the host's disk.
  let left = size;
  while (left > 0) {
    const n = processCalls.read(from, left < buf.length ? buf.subarray(0, left) : buf);
    if (n === 0) return;
    processCalls.writeAll(to, buf.subarray(0, n));
    left -= n;
  }
}

/**
 * Makes room for `name` in host directory `dir`: whatever is there that is
 * not a directory goes (a link the container planted by an earlier copy is
 * replaced, never followed). Returns whether a directory is there.
 */
function hostPlace(dir: number, name: string): "dir" | "free" {
  try {
    const st = fsCalls.lstatat(dir, name);
    if ((st.mode & TYPE) === S_IF.DIR) return "dir";
    fsCalls.unlinkat(dir, name);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  return "free";
}

/**
 * Copies what the O_PATH descriptor `fd` is (file, directory, link) to
 * `name` in the host directory `hostDir`, every step on descriptors with
 * O_NOFOLLOW: names chosen by the container never lead elsewhere on the host.
 */
function copyOutFd(fd: number, hostDir: number, name: string): number {
  const st = fsCalls.fstat(fd);
  const mode = st.mode & PERM; // no setuid, setgid or sticky bit on the host
  const kernel = KERNEL_FS[fsCalls.fsType(fd)];
  if (kernel !== undefined) {
    throw new TinyoError(`Cannot copy "${name}": it is on ${kernel}, a kernel filesystem (not copied out)`);
  }
  switch (st.mode & TYPE) {
    case S_IF.REG: {
      if (hostPlace(hostDir, name) === "dir") {
        throw new TinyoError(`Cannot copy over the directory "${name}" with a file`);
      }
      // Read through the descriptor itself (reopened by its /proc link: the same file).
      const input = processCalls.open(`/proc/self/fd/${fd}`, O.RDONLY | O.CLOEXEC | O.NONBLOCK);
      try {
        const out = fsCalls.openat(hostDir, name, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, mode);
        try {
          copyData(input, out, st.size);
          fsCalls.fchmod(out, mode);
        } finally {
          fsCalls.close(out);
        }
      } finally {
        processCalls.close(input);
      }
      return 1;
    }
    case S_IF.DIR: {
      if (hostPlace(hostDir, name) === "free") fsCalls.mkdirat(hostDir, name, 0o700);
      const sub = fsCalls.openat(hostDir, name, O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC | O.RDONLY);
      let n = 0;
      try {
        for (const e of Deno.readDirSync(`/proc/self/fd/${fd}`)) {
          const type = fsCalls.lstatat(fd, e.name).mode & TYPE;
          if (type === S_IF.LNK) {
            const link = fsCalls.readlinkat(fd, e.name);
            if (hostPlace(sub, e.name) === "dir") continue;
            fsCalls.symlinkat(link, sub, e.name);
            n++;
            continue;
          }
          if (type !== S_IF.REG && type !== S_IF.DIR) continue; // devices, FIFOs, sockets
          const child = fsCalls.openat(fd, e.name, O.PATH | O.NOFOLLOW | O.CLOEXEC);
          // A kernel filesystem mounted below (the container's /proc, /sys) is skipped.
          if (KERNEL_FS[fsCalls.fsType(child)] !== undefined) {
            fsCalls.close(child);
            continue;
          }
          try {
            n += copyOutFd(child, sub, e.name);
          } finally {
            fsCalls.close(child);
          }
        }
        fsCalls.fchmod(sub, mode);
      } finally {
        fsCalls.close(sub);
      }
      return n;
    }
    default:
      throw new TinyoError(`Cannot copy "${name}": only files, directories and symlinks are copied`);
  }
}

/** Copies host path `src` into the container behind `root` at `dst`. Returns the files copied. */
export function copyIn(root: number, src: string, dst: string): number {
  // The source, held by descriptor (O_NOFOLLOW below it): a host tree the
  // container can write to (a volume) cannot swap a link in between a look
  // and a read and have host files copied in.
  let from: number;
  try {
    from = fsCalls.open(src, O.PATH | O.NOFOLLOW | O.CLOEXEC);
  } catch (err) {
    throw new TinyoError(`Cannot copy "${src}": ${(err as Error).message}`);
  }
  try {
    // Into an existing directory: under its own name; else as `dst` itself.
    let parent: number;
    let name: string;
    const existing = tryOpen(root, dst);
    if (existing !== undefined && (fsCalls.fstat(existing).mode & TYPE) === S_IF.DIR) {
      parent = existing;
      name = baseName(src);
    } else {
      if (existing !== undefined) fsCalls.close(existing);
      name = baseName(dst);
      if (name === "") throw new TinyoError(`Cannot copy to "${dst}": no file name`);
      try {
        parent = openInRoot(root, parentOf(dst), O.DIRECTORY);
      } catch (err) {
        throw new TinyoError(`Cannot copy into the container: "${parentOf(dst)}": ${(err as Error).message}`);
      }
    }
    try {
      return copyInFd(from, parent, name);
    } finally {
      fsCalls.close(parent);
    }
  } finally {
    fsCalls.close(from);
  }
}

function tryOpen(root: number, path: string): number | undefined {
  try {
    return openInRoot(root, path);
  } catch {
    return undefined;
  }
}

/** Removes `name` in `dir` when it is anything but a directory (a planted link is replaced, not followed). */
function clearPlace(dir: number, name: string): void {
  try {
    const st = fsCalls.lstatat(dir, name);
    if ((st.mode & TYPE) !== S_IF.DIR) fsCalls.unlinkat(dir, name);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
}

/** Copies what the host O_PATH descriptor `from` is to `name` in the container directory `dir`. */
function copyInFd(from: number, dir: number, name: string): number {
  const st = fsCalls.fstat(from);
  const mode = st.mode & PERM;
  switch (st.mode & TYPE) {
    case S_IF.LNK: {
      clearPlace(dir, name);
      fsCalls.symlinkat(fsCalls.readlinkat(from, ""), dir, name);
      return 1;
    }
    case S_IF.REG: {
      clearPlace(dir, name);
      const fd = fsCalls.openat(dir, name, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, mode);
      try {
        // The very file looked at (its /proc link reopens the same inode).
        const input = processCalls.open(`/proc/self/fd/${from}`, O.RDONLY | O.CLOEXEC | O.NONBLOCK);
        try {
          copyData(input, fd, st.size);
        } finally {
          processCalls.close(input);
        }
        fsCalls.fchmod(fd, mode);
      } finally {
        fsCalls.close(fd);
      }
      return 1;
    }
    case S_IF.DIR: {
      try {
        fsCalls.mkdirat(dir, name, mode);
      } catch (err) {
        if (!isErrno(err, "EEXIST")) throw err;
      }
      // O_NOFOLLOW|O_DIRECTORY: a symlink in its place fails here, it is never entered.
      const sub = fsCalls.openat(dir, name, O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC | O.PATH);
      try {
        let n = 0;
        for (const e of Deno.readDirSync(`/proc/self/fd/${from}`)) {
          const child = fsCalls.openat(from, e.name, O.PATH | O.NOFOLLOW | O.CLOEXEC);
          try {
            n += copyInFd(child, sub, e.name);
          } finally {
            fsCalls.close(child);
          }
        }
        return n;
      } finally {
        fsCalls.close(sub);
      }
    }
    default:
      return 0; // devices, FIFOs, sockets
  }
}

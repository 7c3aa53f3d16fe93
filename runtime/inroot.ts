/**
 * Paths inside a root tinyo does not trust (a container's rootfs, a running
 * container's /proc/PID/root, an image), resolved by the kernel.
 *
 * Every function takes a descriptor of the root and hands the path to
 * openat2(2) with RESOLVE_IN_ROOT (symlinks and ".." stay inside: an absolute
 * symlink means the root's "/") and RESOLVE_NO_MAGICLINKS (the /proc links
 * that lead anywhere, like /proc/self/task/N/root, are refused). What comes
 * back is a descriptor: mount(2) then targets `/proc/self/fd/N`, chdir
 * becomes fchdir, reading reads that very file. Nothing is resolved twice,
 * so a container racing a symlink into the path between a check and a use
 * (CVE-2021-30465, CVE-2024-21626) has nothing to race.
 *
 * @module
 */

import { ConfigError } from "./errors.ts";
import { fsCalls, isErrno, O, RESOLVE, S_IF } from "./syscalls.ts";

/** Resolution inside the root: symlinks followed within it, magic links refused. */
export const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;

/** Opens a root directory (trusted host path) for the functions below. */
export function openRoot(path: string): number {
  return fsCalls.open(path, O.PATH | O.DIRECTORY | O.CLOEXEC);
}

/** The path of a descriptor for calls that take paths (mount(2)). */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** Splits a container path into its components ("." and "" dropped). */
function components(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

/**
 * Opens `path` inside the root, as an O_PATH descriptor unless `flags` ask
 * for reading and writing (O_RDWR, O_WRONLY); the caller closes it.
 *
 * @param noSymlinks Refuse symlinks anywhere on the way (for /proc and /sys).
 */
export function openInRoot(rootFd: number, path: string, flags = 0, noSymlinks = false): number {
  // O_PATH unless the caller asks to read or write (then flags hold O_RDWR/O_WRONLY).
  const access = (flags & (O.WRONLY | O.RDWR)) !== 0 ? 0 : O.PATH;
  return fsCalls.openat2(rootFd, components(path).join("/") || ".", {
    flags: access | O.CLOEXEC | flags,
    resolve: IN_ROOT | (noSymlinks ? RESOLVE.NO_SYMLINKS : 0),
  });
}

/** The file type bits of what `fd` refers to. */
export function fileType(fd: number): number {
  return fsCalls.fstat(fd).mode & 0o170000;
}

/** How many symlinks a path may go through before it is a loop (the kernel's limit). */
const MAX_SYMLINKS = 40;

/**
 * Makes sure the directory `path` exists inside the root, creating missing
 * components (mode `mode`), and returns an O_PATH descriptor of it.
 *
 * The walk goes one component at a time from the root's descriptor: a
 * symlink met on the way (even a dangling one, which the kernel cannot
 * resolve for us) is read and spliced into the rest of the path, an
 * absolute one restarting at the root, ".." never climbing above it; each
 * step is opened with O_NOFOLLOW|O_DIRECTORY on the previous step's
 * descriptor, so a component swapped for a symlink meanwhile fails the walk
 * instead of leading out.
 *
 * @throws {ConfigError} when a component exists and is not a directory, or
 *   the path loops.
 */
export function mkdirAllInRoot(rootFd: number, path: string, mode = 0o755): number {
  let pending = components(path);
  let done: string[] = [];
  let hops = 0;
  let cur = fsCalls.openat(rootFd, ".", O.PATH | O.DIRECTORY | O.CLOEXEC);
  const reopen = (): void => {
    fsCalls.close(cur);
    cur = done.length === 0
      ? fsCalls.openat(rootFd, ".", O.PATH | O.DIRECTORY | O.CLOEXEC)
      : openInRoot(rootFd, done.join("/"), O.DIRECTORY, true);
  };
  try {
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === "..") {
        done.pop();
        reopen();
        continue;
      }
      let mode_: number;
      try {
        mode_ = fsCalls.lstatat(cur, part).mode & 0o170000;
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
        try {
          fsCalls.mkdirat(cur, part, mode);
        } catch (e) {
          if (!isErrno(e, "EEXIST")) throw e;
        }
        mode_ = fsCalls.lstatat(cur, part).mode & 0o170000;
      }
      if (mode_ === S_IF.LNK) {
        if (++hops > MAX_SYMLINKS) {
          throw new ConfigError(`Cannot create directory "${path}" in the container: too many symlinks`);
        }
        const target = fsCalls.readlinkat(cur, part);
        if (target.startsWith("/")) done = [];
        pending = [...components(target), ...pending];
        reopen();
        continue;
      }
      if (mode_ !== S_IF.DIR) {
        throw new ConfigError(
          `Cannot create directory "${path}" in the container: "/${
            [...done, part].join("/")
          }" is not a directory`,
        );
      }
      const next = fsCalls.openat(cur, part, O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC);
      fsCalls.close(cur);
      cur = next;
      done.push(part);
    }
    return cur;
  } catch (err) {
    fsCalls.close(cur);
    throw err;
  }
}

/**
 * Makes sure a mount target exists inside the root, a directory or (for a
 * bind mount of a file) an empty file, and returns an O_PATH descriptor of
 * it, opened by the kernel inside the root: mount onto `fdPath(fd)`.
 *
 * @param noSymlinks Refuse a symlink anywhere in the target (procfs and
 *   sysfs destinations: mounted elsewhere through a link, they would escape
 *   the masked and read-only paths, CVE-2019-16884 and CVE-2019-19921).
 */
export function mountTargetInRoot(
  rootFd: number,
  path: string,
  options: { file?: boolean; noSymlinks?: boolean } = {},
): number {
  const noSymlinks = options.noSymlinks ?? false;
  let target = path;
  for (let hops = 0;; hops++) {
    try {
      return openInRoot(rootFd, target, 0, noSymlinks);
    } catch (err) {
      if (isErrno(err, "ELOOP") && noSymlinks) {
        throw new ConfigError(`Cannot mount on "${path}": the path goes through a symlink in the container`);
      }
      if (!isErrno(err, "ENOENT") || hops > MAX_SYMLINKS) throw err;
    }
    // Missing: create the parents, then the target itself. If its name is a
    // dangling symlink, create what it points at (inside the root) instead.
    const parts = components(target);
    const name = parts.pop();
    if (name === undefined) throw new ConfigError(`Cannot mount on "${path}": no such directory`);
    const parent = mkdirAllInRoot(rootFd, parts.join("/"));
    try {
      let existing: number | undefined;
      try {
        existing = fsCalls.lstatat(parent, name).mode & 0o170000;
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
      }
      if (existing === S_IF.LNK) {
        const link = fsCalls.readlinkat(parent, name);
        target = link.startsWith("/") ? link : `/${[...parts, link].join("/")}`;
        continue;
      }
      if (existing === undefined) {
        if (options.file) {
          fsCalls.close(
            fsCalls.openat(parent, name, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o644),
          );
        } else fsCalls.mkdirat(parent, name, 0o755);
      }
    } finally {
      fsCalls.close(parent);
    }
  }
}

/**
 * Opens a character device inside the root without following any symlink,
 * refusing anything else (and, with `rdev`, another device): the container's
 * own devices are used by descriptor, never looked up again by name.
 */
export function openCharInRoot(rootFd: number, path: string, flags: number, rdev?: [number, number]): number {
  const fd = openInRoot(rootFd, path, O.NOFOLLOW | (flags & ~O.PATH), true);
  const st = fsCalls.fstat(fd);
  const major = Number((st.rdev >> 8n) & 0xfffn);
  const minor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & 0xfff00n));
  if ((st.mode & 0o170000) !== S_IF.CHR || (rdev !== undefined && (major !== rdev[0] || minor !== rdev[1]))) {
    fsCalls.close(fd);
    throw new ConfigError(`Cannot use "${path}" in the container: not the character device it must be`);
  }
  return fd;
}

/** Why a file inside a container cannot be read. */
export class ContainerFileError extends ConfigError {
  override name = "ContainerFileError";
}

/**
 * Reads a small regular file inside the root: opened with openat2
 * (RESOLVE_IN_ROOT|NO_MAGICLINKS, O_NOFOLLOW|O_NONBLOCK|O_NOCTTY, so a FIFO
 * cannot block and a final symlink is not followed out), required to be a
 * regular file, and read up to `maxBytes` (larger is an error). Returns
 * undefined when it does not exist.
 *
 * @throws {ContainerFileError} for anything but a readable regular file.
 */
export function readFileInRoot(rootFd: number, path: string, maxBytes = 4 * 1024 * 1024): string | undefined {
  // First a handle that opens nothing (O_PATH): a device node planted there
  // must not be opened by host root outside any device cgroup (opening a
  // watchdog arms it); only a regular file is then opened for reading.
  let handle: number;
  try {
    handle = fsCalls.openat2(rootFd, components(path).join("/"), {
      flags: O.PATH | O.NOFOLLOW | O.CLOEXEC,
      resolve: IN_ROOT,
    });
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    if (isErrno(err, "ELOOP")) {
      throw new ContainerFileError(`Cannot read "${path}": it goes through a symlink`);
    }
    throw new ContainerFileError(`Cannot read "${path}": ${(err as Error).message}`);
  }
  let fd: number;
  try {
    const st = fsCalls.fstat(handle);
    if ((st.mode & 0o170000) !== S_IF.REG) {
      throw new ContainerFileError(`Cannot read "${path}": not a regular file`);
    }
    if (st.size > maxBytes) {
      throw new ContainerFileError(`Cannot read "${path}": ${st.size} bytes is more than ${maxBytes}`);
    }
    fd = fsCalls.open(fdPath(handle), O.RDONLY | O.NONBLOCK | O.NOCTTY | O.CLOEXEC);
  } finally {
    fsCalls.close(handle);
  }
  try {
    const buf = new Uint8Array(maxBytes + 1);
    let n = 0;
    for (;;) {
      const got = fsCalls.read(fd, buf.subarray(n) as Uint8Array<ArrayBuffer>);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw new ContainerFileError(`Cannot read "${path}": more than ${maxBytes} bytes`);
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    fsCalls.close(fd);
  }
}

/** Runs `fn` with a descriptor of the root at `path`, closed afterwards. */
export function withRoot<T>(path: string, fn: (rootFd: number) => T): T {
  const fd = openRoot(path);
  try {
    return fn(fd);
  } finally {
    fsCalls.close(fd);
  }
}

/**
 * `tmpcopyup` (a tmpfs mount option podman and CRI-O use, which runc and
 * crun implement): the tmpfs starts with a copy of what the image has at
 * its destination, so `--read-only` containers keep their /run, /tmp and
 * /var/tmp contents.
 *
 * The image is hostile: everything is copied through directory descriptors
 * with `*at` calls, nothing followed: symlinks are copied as symlinks,
 * regular files opened O_NOFOLLOW, device nodes, FIFOs and sockets skipped
 * (a tmpfs is nodev for the container anyway, and a FIFO opened here would
 * block the init). Owners and modes are kept; setuid and setgid bits of
 * regular files are kept as in the image (the image could have them at that
 * path anyway). Depth is bounded.
 *
 * @module
 */

import { fsCalls, O, processCalls, S_IF } from "../syscalls.ts";
import { ConfigError } from "../errors.ts";

/** Deeper trees are refused: an image gains nothing from more. */
const MAX_DEPTH = 64;

function names(dirFd: number): string[] {
  return [...Deno.readDirSync(`/proc/self/fd/${dirFd}`)].map((e) => e.name);
}

function copyFile(src: number, dst: number, name: string, mode: number): void {
  const from = fsCalls.openat(src, name, O.RDONLY | O.NOFOLLOW | O.CLOEXEC | O.NONBLOCK);
  try {
    const to = fsCalls.openat(dst, name, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, mode & 0o777);
    try {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = fsCalls.read(from, buf);
        if (n === 0) break;
        processCalls.writeAll(to, buf.subarray(0, n));
      }
      const st = fsCalls.fstat(from);
      fsCalls.fchown(to, st.uid, st.gid);
      fsCalls.fchmod(to, mode & 0o7777);
    } finally {
      fsCalls.close(to);
    }
  } finally {
    fsCalls.close(from);
  }
}

function copyDir(src: number, dst: number, depth: number): void {
  if (depth > MAX_DEPTH) throw new ConfigError(`tmpcopyup: the directory tree is deeper than ${MAX_DEPTH}`);
  for (const name of names(src)) {
    const st = fsCalls.lstatat(src, name);
    const type = st.mode & 0o170000;
    if (type === S_IF.DIR) {
      fsCalls.mkdirat(dst, name, 0o700);
      const from = fsCalls.openat(src, name, O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC);
      try {
        const to = fsCalls.openat(dst, name, O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC);
        try {
          copyDir(from, to, depth + 1);
          fsCalls.fchown(to, st.uid, st.gid);
          fsCalls.fchmod(to, st.mode & 0o7777);
        } finally {
          fsCalls.close(to);
        }
      } finally {
        fsCalls.close(from);
      }
    } else if (type === S_IF.REG) {
      copyFile(src, dst, name, st.mode);
    } else if (type === S_IF.LNK) {
      fsCalls.symlinkat(fsCalls.readlinkat(src, name), dst, name);
      fsCalls.lchownat(dst, name, st.uid, st.gid);
    }
    // Device nodes, FIFOs and sockets: not copied.
  }
}

/**
 * Copies the tree under directory `src` (a readable descriptor of the
 * directory the tmpfs now covers) into `dst` (the tmpfs's root).
 */
export function copyUp(src: number, dst: number, destination: string): void {
  try {
    copyDir(src, dst, 0);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `Cannot copy the image's "${destination}" into its tmpfs: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

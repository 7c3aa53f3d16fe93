/**
 * Resolving a path inside a root directory as if that directory were `/`,
 * following symlinks without ever leaving it (the idea of runc's
 * filepath-securejoin). A rootfs is untrusted: `/proc` in it might be a
 * symlink to `/etc` of the host, and a mount on the naive `rootfs + "/proc"`
 * would land there.
 *
 * @module
 */

import { ConfigError } from "./errors.ts";

const MAX_SYMLINKS = 255;

/**
 * Joins `unsafePath` to `root`, resolving `..` and every symlink met on the
 * way relative to `root`, so the result always lies inside `root`. Parts that
 * do not exist yet are appended as they are.
 *
 * @param root An absolute host path, trusted.
 * @param unsafePath A path inside the container, untrusted.
 * @returns The host path, `root` itself or below it.
 * @throws {ConfigError} when more than 255 symlinks are met (a loop).
 */
export function secureJoin(root: string, unsafePath: string): string {
  const base = root.endsWith("/") && root !== "/" ? root.slice(0, -1) : root;
  const resolved: string[] = [];
  let pending = unsafePath.split("/").filter((p) => p !== "" && p !== ".");
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = `${base}/${[...resolved, part].join("/")}`;
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(candidate);
    } catch {
      info = undefined;
    }
    if (info?.isSymlink) {
      if (++links > MAX_SYMLINKS) {
        throw new ConfigError(
          `Cannot resolve "${unsafePath}" in "${root}": too many levels of symbolic links`,
        );
      }
      const target = Deno.readLinkSync(candidate);
      if (target.startsWith("/")) resolved.length = 0;
      pending = [...target.split("/").filter((p) => p !== "" && p !== "."), ...pending];
      continue;
    }
    resolved.push(part);
  }
  return resolved.length === 0 ? base : `${base}/${resolved.join("/")}`;
}

/**
 * Creates the directory `unsafePath` inside `root` (and missing parents),
 * resolving symlinks inside `root`. Returns the host path.
 */
export function mkdirInRoot(root: string, unsafePath: string, mode = 0o755): string {
  const path = secureJoin(root, unsafePath);
  Deno.mkdirSync(path, { recursive: true, mode });
  return path;
}

/**
 * Makes sure a mount target exists inside `root`: a directory, or an empty
 * file when `file` is true (bind mounts of a file need a file to land on).
 * Returns the host path.
 */
export function ensureMountTarget(root: string, unsafePath: string, file: boolean): string {
  const path = secureJoin(root, unsafePath);
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(path);
  } catch {
    info = undefined;
  }
  if (info !== undefined) return path;
  if (!file) {
    Deno.mkdirSync(path, { recursive: true, mode: 0o755 });
    return path;
  }
  const parent = path.slice(0, path.lastIndexOf("/")) || "/";
  Deno.mkdirSync(parent, { recursive: true, mode: 0o755 });
  Deno.writeFileSync(path, new Uint8Array(), { mode: 0o644 });
  return path;
}

/**
 * Turning what the user named (a tarball or a directory) into a root
 * filesystem directory. The one entry point `runtime/` uses.
 *
 * @module
 */

import { cleanTemporaryImages, ensureImage } from "./cache.ts";
import { UntarError, type UntarOptions } from "./untar.ts";

export { untar, UntarError } from "./untar.ts";
export type { UntarOptions, UntarResult } from "./untar.ts";
export { ensureImage, sha256File } from "./cache.ts";

/** A rootfs problem: what the user named is missing, unreadable or not a rootfs. */
export class RootfsError extends Error {
  override name = "RootfsError";
}

/** A resolved rootfs. */
export type ResolvedRootfs =
  | { kind: "image"; rootfs: string; sha256: string; source: string; unpacked: boolean }
  | { kind: "directory"; rootfs: string; source: string };

/** Directories at least one of which a Linux root filesystem has. */
const ROOTFS_MARKERS = ["bin", "sbin", "usr", "etc", "lib"];

/** Checks that `dir` looks like a root filesystem. */
export function checkRootfsDirectory(dir: string): void {
  const found = ROOTFS_MARKERS.some((m) => {
    try {
      return Deno.statSync(`${dir}/${m}`).isDirectory;
    } catch {
      return false;
    }
  });
  if (!found) {
    throw new RootfsError(
      `"${dir}" is not a root filesystem: it has none of /${ROOTFS_MARKERS.join(", /")}`,
    );
  }
}

/**
 * Resolves `ref` (a path to a .tar, .tar.gz or directory) to a rootfs,
 * unpacking a tarball into the cache at `imagesDir` when it is not there yet.
 *
 * @throws {RootfsError} naming the path and the cause.
 */
export async function resolveRootfs(
  ref: string,
  imagesDir: string,
  options: UntarOptions = {},
): Promise<ResolvedRootfs> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(ref);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file or directory"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (err as Error).message;
    throw new RootfsError(`Cannot use image "${ref}": ${why}`);
  }
  const source = await Deno.realPath(ref);
  if (info.isDirectory) {
    checkRootfsDirectory(source);
    return { kind: "directory", rootfs: source, source };
  }
  if (!info.isFile) throw new RootfsError(`Cannot use image "${ref}": not a tarball or a directory`);
  cleanTemporaryImages(imagesDir);
  try {
    const image = await ensureImage(imagesDir, source, options);
    try {
      checkRootfsDirectory(image.rootfs);
    } catch (err) {
      // Do not keep something that is not a rootfs in the image cache.
      Deno.removeSync(image.rootfs.slice(0, -"/rootfs".length), { recursive: true });
      throw err;
    }
    return { kind: "image", ...image, source };
  } catch (err) {
    if (err instanceof UntarError || err instanceof RootfsError) {
      throw new RootfsError(
        err instanceof UntarError
          ? `Cannot unpack image "${ref}": ${err.message}`
          : err.message.replace(/^".*?"/, `"${ref}"`),
      );
    }
    throw err;
  }
}

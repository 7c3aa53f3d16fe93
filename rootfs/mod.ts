/**
 * Turning what the user named (a tarball or a directory) into a root
 * filesystem directory. The one entry point `runtime/` uses.
 *
 * @module
 */

import { cleanTemporaryImages, ensureImage, sha256Of } from "./cache.ts";
import { UntarError, type UntarOptions } from "./untar.ts";
import { DEFAULT_MIRROR, formatRef, hostArch, type ImageRef, looksLikeRef, parseRef } from "./alpine.ts";
import { pullAlpine, type PullProgress } from "./pull.ts";
import { readRef, type RefRecord, saveRef } from "./refs.ts";
import { close, fstat, O, open, openat2, read, RESOLVE, S_IF } from "../ffi/fs.ts";

export { untar, UntarError } from "./untar.ts";
export type { UntarOptions, UntarResult } from "./untar.ts";
export { ensureImage, sha256File } from "./cache.ts";
export { DEFAULT_MIRROR, formatRef, looksLikeRef, parseRef, RefError } from "./alpine.ts";
export type { ImageRef } from "./alpine.ts";
export { pullAlpine, PullError } from "./pull.ts";
export type { PullProgress, PullResult } from "./pull.ts";
export { listImageDigests, listRefs, readRef, removeImage, removeRef } from "./refs.ts";
export type { RefRecord } from "./refs.ts";

/**
 * The Alpine version an unpacked image says it is (`etc/alpine-release`), or
 * undefined. The file comes from an untrusted archive: it is opened below
 * the image's root with no symlink followed (an `alpine-release` pointing at
 * a host file must not become the "version" shown by `tinyo images`), non-
 * blocking (a FIFO must not hang tinyo), and only a short regular file whose
 * text looks like a version is believed.
 */
export function imageVersion(rootfs: string): string | undefined {
  let root: number;
  try {
    root = open(rootfs, O.PATH | O.DIRECTORY | O.CLOEXEC);
  } catch {
    return undefined;
  }
  try {
    // A handle that opens nothing first: a device node there must not be
    // opened by root (a watchdog arms on open); then only a regular file.
    const handle = openat2(root, "etc/alpine-release", {
      flags: O.PATH | O.NOFOLLOW | O.CLOEXEC,
      resolve: RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS,
    });
    let fd: number;
    try {
      if ((fstat(handle).mode & 0o170000) !== S_IF.REG) return undefined;
      fd = open(`/proc/self/fd/${handle}`, O.RDONLY | O.NONBLOCK | O.NOCTTY | O.CLOEXEC);
    } finally {
      close(handle);
    }
    try {
      const buf = new Uint8Array(64);
      const n = read(fd, buf);
      const text = new TextDecoder().decode(buf.subarray(0, n)).trim();
      return /^[0-9A-Za-z._+-]{1,40}$/.test(text) ? text : undefined;
    } finally {
      close(fd);
    }
  } catch {
    return undefined;
  } finally {
    close(root);
  }
}

/** A rootfs problem: what the user named is missing, unreadable or not a rootfs. */
export class RootfsError extends Error {
  override name = "RootfsError";
}

/** A resolved rootfs. */
export type ResolvedRootfs =
  | { kind: "image"; rootfs: string; sha256: string; source: string; unpacked: boolean }
  | { kind: "directory"; rootfs: string; source: string };

/** When to pull an image reference: never, when missing (default), always. */
export type PullPolicy = "never" | "missing" | "always";

/** How `resolveRootfs` treats image references. */
export interface ResolveOptions extends UntarOptions {
  pull?: PullPolicy;
  mirror?: string;
  /** Accept a plain-http mirror. */
  allowHttp?: boolean;
  onProgress?: (p: PullProgress) => void;
}

function imageExists(imagesDir: string, sha256: string): boolean {
  try {
    Deno.statSync(`${imagesDir}/${sha256}/image.json`);
    return true;
  } catch {
    return false;
  }
}

/** Resolves an image reference to a cached image, pulling per the policy. */
async function resolveRef(
  ref: ImageRef,
  imagesDir: string,
  options: ResolveOptions,
): Promise<ResolvedRootfs> {
  const pull = options.pull ?? "missing";
  let rec = readRef(imagesDir, ref.name, ref.tag);
  const present = rec !== undefined && imageExists(imagesDir, rec.sha256);
  const pullable = ref.name === "alpine";
  let unpacked = false;
  if (pullable && (pull === "always" || (pull === "missing" && !present))) {
    try {
      const result = await pullAlpine(imagesDir, ref, {
        mirror: options.mirror ?? DEFAULT_MIRROR,
        allowHttp: options.allowHttp ?? false,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        unpack: options,
      });
      rec = result.ref;
      unpacked = result.downloaded;
    } catch (err) {
      if (err instanceof UntarError) {
        throw new RootfsError(`Cannot unpack image "${formatRef(ref)}": ${err.message}`);
      }
      throw err;
    }
  } else if (!present) {
    throw new RootfsError(
      pullable
        ? `Image "${formatRef(ref)}" is not in the cache and --pull is never (run 'tinyo pull ${
          formatRef(ref)
        }')`
        : `No such image "${formatRef(ref)}" (only alpine is pulled; add others with 'tinyo import TARBALL ${
          formatRef(ref)
        }')`,
    );
  }
  return {
    kind: "image",
    rootfs: `${imagesDir}/${rec!.sha256}/rootfs`,
    sha256: rec!.sha256,
    source: formatRef(ref),
    unpacked,
  };
}

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
 * Resolves `ref` to a rootfs: a path to a .tar, .tar.gz or directory (a
 * tarball is unpacked into the cache at `imagesDir` when it is not there
 * yet), or else an image reference such as `alpine:3.20` (pulled per the
 * policy). A path that exists wins over a reference of the same name.
 *
 * @throws {RootfsError} naming the path and the cause.
 */
export async function resolveRootfs(
  ref: string,
  imagesDir: string,
  options: ResolveOptions = {},
): Promise<ResolvedRootfs> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(ref);
  } catch (err) {
    // Not a path: an image reference such as alpine:3.20.
    if (err instanceof Deno.errors.NotFound && looksLikeRef(ref)) {
      cleanTemporaryImages(imagesDir);
      return await resolveRef(parseRef(ref), imagesDir, options);
    }
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
    const what = source.split("/").pop() ?? source;
    const total = info.size;
    const image = await ensureImage(imagesDir, source, {
      ...options,
      ...(options.onProgress
        ? { onInput: (done: number) => options.onProgress!({ phase: "unpack", done, total, what }) }
        : {}),
    });
    if (image.unpacked) options.onProgress?.({ phase: "unpack", done: total, total, what, finished: true });
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

/** The default reference for an imported tarball: alpine:VERSION from Alpine's file name, else NAME:latest. */
export function defaultImportRef(path: string): ImageRef {
  const base = path.split("/").pop() ?? path;
  const m = /^alpine-minirootfs-(\d+\.\d+\.\d+)-[a-z0-9_]+\.tar(\.gz)?$/.exec(base);
  if (m !== null) return { name: "alpine", tag: m[1]! };
  const name = base.replace(/\.(tar\.gz|tgz|tar)$/, "").toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(
    /^[^a-z0-9]+/,
    "",
  );
  return { name: name === "" ? "image" : name, tag: "latest" };
}

/**
 * `import`: registers a local tarball as an image reference, checking its
 * sha256 first when `expectedSha256` is given.
 */
export async function importTarball(
  imagesDir: string,
  path: string,
  ref: ImageRef,
  options: UntarOptions & { expectedSha256?: string; onInput?: (done: number) => void } = {},
): Promise<RefRecord> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new RootfsError(`Cannot import "${path}": no such file`);
  }
  if (!info.isFile) throw new RootfsError(`Cannot import "${path}": not a file`);
  const source = await Deno.realPath(path);
  // One open file for the checksum and the unpacking: the bytes checked are
  // the bytes unpacked, whatever happens to the path meanwhile.
  const file = await Deno.open(source, { read: true });
  let sha256: string | undefined;
  if (options.expectedSha256 !== undefined) {
    const want = options.expectedSha256.toLowerCase();
    try {
      if (!/^[0-9a-f]{64}$/.test(want)) {
        throw new RootfsError(`Invalid --sha256 "${options.expectedSha256}": expected 64 hex digits`);
      }
      sha256 = await sha256Of(file);
      if (sha256 !== want) {
        throw new RootfsError(`Checksum mismatch for "${path}": expected sha256 ${want}, got ${sha256}`);
      }
    } catch (err) {
      file.close();
      throw err;
    }
  }
  cleanTemporaryImages(imagesDir);
  let image;
  try {
    image = await ensureImage(imagesDir, file, {
      ...options,
      source,
      ...(sha256 ? { sha256 } : {}),
    });
    checkRootfsDirectory(image.rootfs);
  } catch (err) {
    if (image !== undefined && image.unpacked) {
      Deno.removeSync(image.rootfs.slice(0, -"/rootfs".length), { recursive: true });
    }
    if (err instanceof UntarError || err instanceof RootfsError) {
      throw new RootfsError(`Cannot import "${path}": ${err.message}`);
    }
    throw err;
  }
  const version = imageVersion(image.rootfs);
  const meta = JSON.parse(Deno.readTextFileSync(`${image.rootfs.slice(0, -"/rootfs".length)}/image.json`));
  const arch = /-(x86_64|aarch64|armv7|armhf|x86|ppc64le|s390x|riscv64)\.tar/.exec(path)?.[1] ?? hostArch();
  const rec: RefRecord = {
    name: ref.name,
    tag: ref.tag,
    sha256: image.sha256,
    ...(version ? { version } : {}),
    arch,
    size: info.size,
    unpackedBytes: meta.bytes,
    source,
    created: new Date().toISOString(),
  };
  saveRef(imagesDir, rec);
  return rec;
}

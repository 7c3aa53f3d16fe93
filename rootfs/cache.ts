/**
 * The image cache: unpacked rootfs trees keyed by the sha256 of the tarball
 * they came from, so the same tarball is unpacked once whatever its path.
 *
 *     <imagesDir>/<sha256>/rootfs      the unpacked tree (never written to:
 *                                      containers get an overlay on top)
 *     <imagesDir>/<sha256>/image.json  where it came from, sizes, when
 *
 * Unpacking goes to `<imagesDir>/.tmp-<pid>-<random>` and is renamed into
 * place only when complete; a failed unpack removes its temporary directory.
 * Two processes unpacking the same tarball at once both finish, and the
 * second rename loses harmlessly: no lock needed, never a half tree.
 *
 * Hashing a tarball on every run would cost a full read (and loading
 * node:crypto, ~20 ms of start-up): each tarball's digest is remembered in
 * `<imagesDir>/.digests/<dev>-<ino>-<size>-<mtime>-<ctime>`, so an unchanged
 * file (same inode, size, modification and change times) is not read again.
 * Any write, rename or chmod of the file changes its ctime and so the key; a
 * file changed in the last 2 seconds is always hashed (git's racy rule).
 *
 * @module
 */

import { untar, UntarError, type UntarOptions } from "./untar.ts";

/** An image in the cache. */
export interface CachedImage {
  sha256: string;
  /** The unpacked root filesystem. */
  rootfs: string;
  /** True when this call unpacked it (false: it was cached). */
  unpacked: boolean;
  /** Unpacked data bytes. */
  bytes?: number;
}

/** Options of `ensureImage`. */
export interface EnsureImageOptions extends UntarOptions {
  /** The tarball's sha256 when already known and verified (skips hashing). */
  sha256?: string;
  /** What to record as the image's source (default: the tarball path). */
  source?: string;
  /** Called with the number of tarball bytes read so far while unpacking. */
  onInput?: (done: number) => void;
}

/** Metadata stored beside an unpacked image. */
export interface ImageMeta {
  sha256: string;
  source: string;
  /** Tarball size in bytes. */
  size: number;
  entries: number;
  bytes: number;
  unpackedAt: string;
}

/** The sha256 of a file, hex, read in a stream. */
export async function sha256File(path: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Files changed more recently than this are never memoised. */
const RACY_MS = 2000;

/** A tarball's digest, and how to remember it once the image is cached. */
interface Digest {
  sha256: string;
  /** Records the digest in the memo (no-op when it came from there). */
  remember(): void;
}

/** The sha256 of `path`, from the digest memo when the file is unchanged. */
async function tarballDigest(imagesDir: string, path: string): Promise<Digest> {
  const info = Deno.statSync(path);
  const key = [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()].join("-");
  const memo = `${imagesDir}/.digests/${key}`;
  // Timestamps have millisecond precision here: a file changed within the
  // last moments could change again unseen under the same key. Like git's
  // "racy" index entries, such a file is hashed and not remembered.
  const changed = Math.max(info.mtime?.getTime() ?? 0, info.ctime?.getTime() ?? 0);
  if (Date.now() - changed < RACY_MS) return { sha256: await sha256File(path), remember: () => {} };
  try {
    const sha256 = Deno.readTextFileSync(memo).trim();
    if (/^[0-9a-f]{64}$/.test(sha256)) return { sha256, remember: () => {} };
  } catch {
    // Not remembered yet.
  }
  const sha256 = await sha256File(path);
  return {
    sha256,
    remember(): void {
      Deno.mkdirSync(`${imagesDir}/.digests`, { recursive: true, mode: 0o700 });
      const tmp = `${memo}.${Deno.pid}.tmp`;
      Deno.writeTextFileSync(tmp, `${sha256}\n`);
      Deno.renameSync(tmp, memo);
    },
  };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns the cached rootfs of `tarball`, unpacking it first if needed.
 *
 * @throws {UntarError} for a corrupt or hostile tarball (nothing is cached).
 */
export async function ensureImage(
  imagesDir: string,
  tarball: string,
  options: EnsureImageOptions = {},
): Promise<CachedImage> {
  const digest: Digest = options.sha256 !== undefined
    ? { sha256: options.sha256, remember: () => {} }
    : await tarballDigest(imagesDir, tarball);
  const sha256 = digest.sha256;
  const dir = `${imagesDir}/${sha256}`;
  if (exists(`${dir}/image.json`)) {
    digest.remember();
    return { sha256, rootfs: `${dir}/rootfs`, unpacked: false };
  }
  Deno.mkdirSync(imagesDir, { recursive: true, mode: 0o700 });
  const tmp = `${imagesDir}/.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(`${tmp}/rootfs`, { recursive: true, mode: 0o755 });
  try {
    const file = await Deno.open(tarball, { read: true });
    const size = (await file.stat()).size;
    let input: ReadableStream<Uint8Array> = file.readable;
    if (options.onInput !== undefined) {
      const onInput = options.onInput;
      let done = 0;
      input = input.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller): void {
            done += chunk.length;
            onInput(done);
            controller.enqueue(chunk);
          },
        }),
      );
    }
    const result = await untar(input, `${tmp}/rootfs`, options);
    const meta: ImageMeta = {
      sha256,
      source: options.source ?? tarball,
      size,
      entries: result.entries,
      bytes: result.bytes,
      unpackedAt: new Date().toISOString(),
    };
    Deno.writeTextFileSync(`${tmp}/image.json`, JSON.stringify(meta, null, 2) + "\n");
    try {
      Deno.renameSync(tmp, dir);
    } catch (err) {
      // Another process finished the same image first: use theirs.
      if (!exists(`${dir}/image.json`)) throw err;
      Deno.removeSync(tmp, { recursive: true });
      digest.remember();
      return { sha256, rootfs: `${dir}/rootfs`, unpacked: false };
    }
    digest.remember();
    return { sha256, rootfs: `${dir}/rootfs`, unpacked: true, bytes: result.bytes };
  } catch (err) {
    Deno.removeSync(tmp, { recursive: true });
    throw err;
  }
}

/** Removes temporary unpack directories whose process is gone. */
export function cleanTemporaryImages(imagesDir: string): void {
  let names: string[];
  try {
    names = [...Deno.readDirSync(imagesDir)].map((e) => e.name);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\.tmp-(\d+)-/.exec(name);
    if (m === null) continue;
    let alive = true;
    try {
      Deno.statSync(`/proc/${m[1]}`);
    } catch {
      alive = false;
    }
    if (!alive) Deno.removeSync(`${imagesDir}/${name}`, { recursive: true });
  }
}

export { UntarError };

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
  /** Refuse the tarball unless its sha256 is this (it is hashed, never taken from the memo). */
  expectedSha256?: string;
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
  using file = await Deno.open(path, { read: true });
  return await sha256Of(file);
}

/**
 * The sha256 of an open file from its start, hex. Leaves the file at its
 * start again, so the very bytes hashed can be unpacked next.
 */
export async function sha256Of(file: Deno.FsFile): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  await file.seek(0, Deno.SeekMode.Start);
  const buf = new Uint8Array(1024 * 1024);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  await file.seek(0, Deno.SeekMode.Start);
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

/** The sha256 of the open tarball, from the digest memo when the file is unchanged. */
async function tarballDigest(imagesDir: string, file: Deno.FsFile): Promise<Digest> {
  const info = file.statSync();
  const key = [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()].join("-");
  const memo = `${imagesDir}/.digests/${key}`;
  // Timestamps have millisecond precision here: a file changed within the
  // last moments could change again unseen under the same key. Like git's
  // "racy" index entries, such a file is hashed and not remembered.
  const changed = Math.max(info.mtime?.getTime() ?? 0, info.ctime?.getTime() ?? 0);
  if (Date.now() - changed < RACY_MS) return { sha256: await sha256Of(file), remember: () => {} };
  try {
    const sha256 = Deno.readTextFileSync(memo).trim();
    if (/^[0-9a-f]{64}$/.test(sha256)) return { sha256, remember: () => {} };
  } catch {
    // Not remembered yet.
  }
  const sha256 = await sha256Of(file);
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
 * Returns the cached rootfs of `tarball` (a path, or a file already open at
 * its start), unpacking it first if needed. The tarball is opened once:
 * what is hashed and what is unpacked are the same bytes of the same open
 * file, never a path looked up twice.
 *
 * @throws {UntarError} for a corrupt or hostile tarball (nothing is cached).
 */
export async function ensureImage(
  imagesDir: string,
  tarball: string | Deno.FsFile,
  options: EnsureImageOptions = {},
): Promise<CachedImage> {
  const file = typeof tarball === "string" ? await Deno.open(tarball, { read: true }) : tarball;
  let streaming = false;
  try {
    let digest: Digest;
    if (options.expectedSha256 !== undefined) {
      const got = await sha256Of(file);
      if (got !== options.expectedSha256) {
        throw new UntarError(`checksum mismatch: expected sha256 ${options.expectedSha256}, got ${got}`);
      }
      digest = { sha256: got, remember: () => {} };
    } else if (options.sha256 !== undefined) digest = { sha256: options.sha256, remember: () => {} };
    else digest = await tarballDigest(imagesDir, file);
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
      await file.seek(0, Deno.SeekMode.Start);
      const size = file.statSync().size;
      // From here the stream owns the file and closes it.
      streaming = true;
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
        source: options.source ?? (typeof tarball === "string" ? tarball : "(stream)"),
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
  } finally {
    if (!streaming) {
      try {
        file.close();
      } catch {
        // Closed already.
      }
    }
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

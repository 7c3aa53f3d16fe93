/**
 * `pull`: fetching an Alpine minirootfs from a mirror into the image cache.
 *
 * The release index gives the file and its sha256; the tarball is streamed
 * to a temporary file while it is hashed (nothing held in memory), its size
 * and digest are checked, and only then is it unpacked into the cache
 * (rootfs/cache.ts, which renames a complete tree into place). A lock per
 * image name serialises concurrent pulls, so the second one finds the image
 * there and downloads nothing. Every failure leaves the cache as it was.
 *
 * @module
 */

import {
  type AlpineRelease,
  branchForTag,
  checkMirror,
  findMinirootfs,
  formatRef,
  hostArch,
  type ImageRef,
  minirootfsFile,
  parseReleaseIndex,
  RefError,
  releasesUrl,
} from "./alpine.ts";
import { ensureImage, type EnsureImageOptions } from "./cache.ts";
import { type RefRecord, saveRef } from "./refs.ts";

/** Progress of a pull: downloading, then unpacking. */
export interface PullProgress {
  phase: "download" | "unpack";
  /** Bytes done (downloaded, or read from the tarball while unpacking). */
  done: number;
  /** Total bytes when known. */
  total?: number;
  /** What is being fetched, e.g. `alpine:3.20 (3.20.3)`. */
  what: string;
  /** Set on the last event of a phase. */
  finished?: boolean;
}

/** How to pull. */
export interface PullOptions {
  mirror: string;
  /** Accept a plain-http mirror (the user said so). */
  allowHttp?: boolean;
  arch?: string;
  onProgress?: (p: PullProgress) => void;
  /** Extraction limits. */
  unpack?: EnsureImageOptions;
}

/** A failed download (network, HTTP, size or checksum). */
export class PullError extends Error {
  override name = "PullError";
}

async function get(url: string, mirror: string, allowHttp: boolean): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    // The reason (refused, DNS, TLS) sits in the cause chain; the top says "fetch failed".
    const reasons: string[] = [];
    for (let e: unknown = err; e instanceof Error && reasons.length < 4; e = e.cause) reasons.push(e.message);
    const reason = reasons.filter((r) => r !== "fetch failed").at(-1) ?? reasons[0] ?? String(err);
    throw new PullError(
      `Cannot reach mirror "${mirror}": ${reason.replace(/^error sending request for url \([^)]*\): /, "")}`,
    );
  }
  // A redirect must not take an https mirror down to plain http.
  if (res.url !== "" && new URL(res.url).protocol !== "https:" && !allowHttp) {
    await res.body?.cancel();
    throw new PullError(`Refusing the mirror's redirect to ${res.url}: not https (see --allow-http)`);
  }
  return res;
}

async function getText(
  url: string,
  mirror: string,
  allowHttp: boolean,
  notFound: () => Error,
): Promise<string> {
  const res = await get(url, mirror, allowHttp);
  if (res.status === 404) {
    await res.body?.cancel();
    throw notFound();
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new PullError(`Download failed: HTTP ${res.status} ${res.statusText} for ${url}`);
  }
  // An index is a few kilobytes: a mirror that sends more is not one.
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > MAX_INDEX_BYTES) {
      throw new PullError(
        `The mirror sent more than ${MAX_INDEX_BYTES} bytes for ${url}: not a release index`,
      );
    }
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

/** The most an index or checksum file may be. */
const MAX_INDEX_BYTES = 1024 * 1024;
/** The most a minirootfs download may be when the index gives no size (they are about 3.5 MB). */
const MAX_DOWNLOAD_BYTES = 1024 ** 3;

/** Looks up which file a tag means on the mirror. */
export async function resolveRelease(
  ref: ImageRef,
  mirror: string,
  arch: string,
  allowHttp = false,
): Promise<AlpineRelease> {
  checkMirror(mirror, allowHttp);
  if (ref.name !== "alpine") {
    throw new RefError(
      `Cannot pull "${formatRef(ref)}": only alpine images can be pulled (use 'tinyo import' for others)`,
    );
  }
  const { branch, version } = branchForTag(ref.tag);
  const base = releasesUrl(mirror, branch, arch);
  const index = await getText(
    `${base}/latest-releases.yaml`,
    mirror,
    allowHttp,
    () =>
      new RefError(
        `Unknown alpine tag "${ref.tag}": the mirror has no release branch "${branch}" for ${arch}`,
      ),
  );
  const latest = findMinirootfs(parseReleaseIndex(index), arch, base);
  if (latest === undefined) {
    throw new PullError(
      `The release index ${base}/latest-releases.yaml lists no alpine-minirootfs for ${arch}`,
    );
  }
  if (version === undefined || latest.version === version) return latest;
  // An older point release of the branch: its file and .sha256 sit beside the latest.
  const file = minirootfsFile(version, arch);
  const sums = await getText(
    `${base}/${file}.sha256`,
    mirror,
    allowHttp,
    () => new RefError(`Unknown alpine version "${version}": ${base}/${file} does not exist`),
  );
  const sha256 = sums.trim().split(/\s+/)[0] ?? "";
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new PullError(`Malformed checksum file ${base}/${file}.sha256`);
  return { branch, version, arch, file, size: 0, sha256, url: `${base}/${file}` };
}

/**
 * Streams the tarball into a new file at `dest`, hashing it; checks size and
 * sha256. Returns the file, open and at its start: the caller unpacks from
 * this very descriptor, never from the path again.
 */
async function download(
  rel: AlpineRelease,
  dest: string,
  what: string,
  options: PullOptions,
): Promise<{ file: Deno.FsFile; size: number }> {
  const res = await get(rel.url, options.mirror, options.allowHttp ?? false);
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    throw new PullError(`Download failed: HTTP ${res.status} ${res.statusText} for ${rel.url}`);
  }
  const length = Number(res.headers.get("content-length") ?? rel.size ?? 0);
  const total = length > 0 ? length : undefined;
  // Never more than the index said (or a hard cap): a mirror cannot fill the disk.
  const limit = rel.size > 0 ? rel.size : MAX_DOWNLOAD_BYTES;
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  const file = Deno.openSync(dest, { read: true, write: true, createNew: true, mode: 0o600 });
  let done = 0;
  try {
    try {
      for await (const chunk of res.body) {
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
        done += chunk.length;
        if (done > limit) {
          throw new PullError(`Download of ${rel.url} is larger than the ${limit} bytes expected`);
        }
        options.onProgress?.({ phase: "download", done, ...(total ? { total } : {}), what });
      }
    } catch (err) {
      if (err instanceof PullError) throw err;
      throw new PullError(
        `Download of ${rel.url} was interrupted after ${done} bytes: ${(err as Error).message}`,
      );
    }
    if (total !== undefined && done !== total) {
      throw new PullError(`Download of ${rel.url} is truncated: got ${done} of ${total} bytes`);
    }
    const sha256 = hash.digest("hex");
    if (sha256 !== rel.sha256) {
      throw new PullError(`Checksum mismatch for ${rel.file}: expected sha256 ${rel.sha256}, got ${sha256}`);
    }
    options.onProgress?.({ phase: "download", done, total: done, what, finished: true });
    file.seekSync(0, Deno.SeekMode.Start);
    return { file, size: done };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Holds an exclusive lock on `path` while `fn` runs. */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  using file = Deno.openSync(path, { write: true, create: true, mode: 0o600 });
  await file.lock(true);
  try {
    return await fn();
  } finally {
    await file.unlock();
  }
}

/** What a pull did. */
export interface PullResult {
  ref: RefRecord;
  release: AlpineRelease;
  /** False when the image was already in the cache. */
  downloaded: boolean;
}

/**
 * Pulls `ref` (alpine only) into the cache under `imagesDir` and records the
 * reference.
 *
 * @throws {RefError} for unknown tags; {PullError} for network, HTTP, size
 *   and checksum failures; UntarError for a bad archive.
 */
export async function pullAlpine(
  imagesDir: string,
  ref: ImageRef,
  options: PullOptions,
): Promise<PullResult> {
  const arch = options.arch ?? hostArch();
  const release = await resolveRelease(ref, options.mirror, arch, options.allowHttp ?? false);
  const what = `${formatRef(ref)} (${release.version})`;
  return await withLock(`${imagesDir}/.locks/${ref.name}.lock`, async () => {
    const save = (size: number, unpackedBytes?: number): RefRecord => {
      const rec: RefRecord = {
        name: ref.name,
        tag: ref.tag,
        sha256: release.sha256,
        version: release.version,
        arch,
        size,
        ...(unpackedBytes === undefined ? {} : { unpackedBytes }),
        source: release.url,
        created: new Date().toISOString(),
      };
      saveRef(imagesDir, rec);
      return rec;
    };
    try {
      const meta = JSON.parse(Deno.readTextFileSync(`${imagesDir}/${release.sha256}/image.json`));
      return { ref: save(meta.size ?? release.size, meta.bytes), release, downloaded: false };
    } catch {
      // Not cached yet.
    }
    const tmp = `${imagesDir}/.tmp-${Deno.pid}-dl-${crypto.randomUUID().slice(0, 8)}`;
    Deno.mkdirSync(tmp, { recursive: true, mode: 0o700 });
    try {
      const { file, size } = await download(release, `${tmp}/${release.file}`, what, options);
      const image = await ensureImage(imagesDir, file, {
        ...options.unpack,
        sha256: release.sha256,
        source: release.url,
        onInput: (done) => options.onProgress?.({ phase: "unpack", done, total: size, what }),
      });
      options.onProgress?.({ phase: "unpack", done: size, total: size, what, finished: true });
      return { ref: save(size, image.bytes), release, downloaded: true };
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  });
}

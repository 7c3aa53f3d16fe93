/**
 * A streaming tar extractor that never writes outside its target directory.
 *
 * Bytes are gunzipped (DecompressionStream) and parsed as they arrive; file
 * data is written straight to disk, so the archive is never held in memory.
 * Understands ustar, POSIX pax (path, linkpath, size, uid, gid, mtime) and GNU
 * long names/link names; extracts regular files, directories, symlinks,
 * hardlinks, character and block devices and FIFOs with their modes
 * (setuid/setgid/sticky included), numeric owners and mtimes.
 *
 * The safety rules, whatever the archive holds:
 * - a leading "/" is stripped; a path whose ".." would climb above the target
 *   is refused;
 * - no symlink is ever followed while creating entries: every parent of an
 *   entry must be a real directory inside the target (a symlink `etc -> /etc`
 *   followed by `etc/passwd` is refused), and an existing final component is
 *   removed, never written through (files are created with O_EXCL);
 * - hardlinks must point at an entry already extracted inside the target;
 * - the total size of file data and the number of entries are capped
 *   (decompression bombs).
 *
 * A refused or corrupt archive throws an `UntarError` naming the entry and the
 * reason. The caller extracts into a fresh temporary directory and removes it
 * on error (see rootfs/cache.ts).
 *
 * @module
 */

import { lchown, lutimes, mknod, S_IF } from "../ffi/fs.ts";

/** Limits and behaviour of an extraction. */
export interface UntarOptions {
  /** Refuse archives whose file data exceeds this many bytes (default 8 GiB). */
  maxBytes?: number;
  /** Refuse archives with more entries than this (default 1,000,000). */
  maxEntries?: number;
  /** Restore numeric owners (default: when running as root). */
  preserveOwners?: boolean;
}

/** What an extraction produced. */
export interface UntarResult {
  entries: number;
  bytes: number;
  /** Device nodes not created because tinyo did not run as root. */
  skippedDevices: number;
}

/** A corrupt, truncated or hostile archive. */
export class UntarError extends Error {
  override name = "UntarError";
  /** The entry involved, if any. */
  readonly entry: string | undefined;
  constructor(message: string, entry?: string) {
    super(entry === undefined ? message : `entry "${entry}": ${message}`);
    this.entry = entry;
  }
}

/** Default cap on extracted file data: 8 GiB. */
export const DEFAULT_MAX_BYTES = 8 * 1024 ** 3;
/** Default cap on the number of entries. */
export const DEFAULT_MAX_ENTRIES = 1_000_000;

const BLOCK = 512;
const decoder = new TextDecoder();

interface Header {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function cstr(b: Uint8Array, off: number, len: number): string {
  const field = b.subarray(off, off + len);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

function num(b: Uint8Array, off: number, len: number): number {
  // GNU base-256 for values too large for octal: high bit of the first byte set.
  if ((b[off]! & 0x80) !== 0) {
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) {
    throw new UntarError(
      `corrupt archive: bad number ${JSON.stringify(s.replace(/[^\x20-\x7e]/g, "?"))} in header`,
    );
  }
  return parseInt(s, 8);
}

function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function checksumOk(b: Uint8Array): boolean {
  const field = cstr(b, 148, 8).trim();
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  const stored = parseInt(field, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  return sum === stored;
}

function parseHeader(b: Uint8Array): Header {
  if (!checksumOk(b)) throw new UntarError("corrupt archive: header checksum mismatch (not a tar file?)");
  let name = cstr(b, 0, 100);
  const magic = cstr(b, 257, 6);
  if (magic === "ustar") {
    const prefix = cstr(b, 345, 155);
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: num(b, 100, 8),
    uid: num(b, 108, 8),
    gid: num(b, 116, 8),
    size: num(b, 124, 12),
    mtime: num(b, 136, 12),
    type: String.fromCharCode(b[156]!) === "\0" ? "0" : String.fromCharCode(b[156]!),
    linkname: cstr(b, 157, 100),
    devmajor: num(b, 329, 8),
    devminor: num(b, 337, 8),
  };
}

function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(decoder.decode(data.subarray(off, sp)), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > data.length) {
      throw new UntarError("corrupt archive: bad pax extended header record");
    }
    const rec = decoder.decode(data.subarray(sp + 1, off + len - 1));
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/**
 * Normalises an archive path to components relative to the target.
 * Returns [] for the target itself.
 */
export function safeComponents(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) throw new UntarError('path escapes the target directory ("..")', name);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

/** Buffers a byte stream and hands out exact-size pieces. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #have = 0;
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#have < n && !this.#done) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await this.#reader.read();
      } catch (err) {
        throw new UntarError(`corrupt archive: ${(err as Error).message}`);
      }
      if (r.done) this.#done = true;
      else if (r.value.length > 0) {
        this.#chunks.push(r.value);
        this.#have += r.value.length;
      }
    }
    return this.#have >= n;
  }

  /** Exactly `n` bytes, or undefined at a clean end of stream with 0 bytes read. */
  async take(n: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill(n))) {
      if (this.#have === 0) return undefined;
      throw new UntarError("truncated archive: unexpected end of data");
    }
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#have -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#have -= n;
    return out;
  }

  /** Streams `n` bytes to `sink` in the pieces they arrived in. */
  async pipe(n: number, sink: (b: Uint8Array) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#have === 0 && !(await this.#fill(1))) {
        throw new UntarError("truncated archive: unexpected end of data");
      }
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, left);
      sink(c.subarray(0, k));
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
      this.#have -= k;
      left -= k;
    }
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Extracts into one target directory, enforcing the safety rules. */
class Extractor {
  readonly #root: string;
  readonly #owners: boolean;
  /** Directories known to be real directories inside the target. */
  readonly #dirs = new Set<string>([""]);
  /** Directory metadata applied at the end (creating children changes mtimes). */
  readonly #dirMeta: { path: string; mode: number; uid: number; gid: number; mtime: number }[] = [];
  skippedDevices = 0;

  constructor(root: string, owners: boolean) {
    this.#root = root;
    this.#owners = owners;
  }

  /** Makes sure every parent of `parts` is a real directory; creates missing ones. */
  #parents(parts: string[], entry: string): void {
    let rel = "";
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === "" ? parts[i]! : `${rel}/${parts[i]}`;
      if (this.#dirs.has(rel)) continue;
      const info = lstatOrUndefined(`${this.#root}/${rel}`);
      if (info === undefined) Deno.mkdirSync(`${this.#root}/${rel}`, { mode: 0o755 });
      else if (info.isSymlink) {
        throw new UntarError(`parent "${rel}" is a symlink; refusing to follow it`, entry);
      } else if (!info.isDirectory) throw new UntarError(`parent "${rel}" is not a directory`, entry);
      this.#dirs.add(rel);
    }
  }

  /** Clears the final path of an entry so it is created fresh, never written through. */
  #clear(rel: string, path: string, entry: string, keepDir: boolean): Deno.FileInfo | undefined {
    const info = lstatOrUndefined(path);
    if (info === undefined) return undefined;
    if (info.isDirectory) {
      if (keepDir) return info;
      try {
        Deno.removeSync(path);
      } catch {
        throw new UntarError("cannot replace a non-empty directory", entry);
      }
      this.#dirs.delete(rel);
      return undefined;
    }
    Deno.removeSync(path);
    return undefined;
  }

  #meta(path: string, h: Header, symlink: boolean): void {
    if (this.#owners) lchown(path, h.uid, h.gid);
    // chown clears setuid/setgid: the mode is set after it.
    if (!symlink) Deno.chmodSync(path, h.mode & 0o7777);
    lutimes(path, h.mtime, h.mtime);
  }

  async entry(h: Header, reader: ByteReader): Promise<number> {
    const parts = safeComponents(h.name);
    const rel = parts.join("/");
    const path = rel === "" ? this.#root : `${this.#root}/${rel}`;
    const dataSize = h.type === "0" || h.type === "7" ? h.size : 0;
    if (rel === "") {
      // The target itself ("./"): only a directory may describe it.
      if (h.type !== "5") throw new UntarError("entry names the target directory itself", h.name);
      this.#dirMeta.push({ path, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
      return 0;
    }
    this.#parents(parts, h.name);
    switch (h.type) {
      case "0":
      case "7": {
        this.#clear(rel, path, h.name, false);
        const file = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
        try {
          await reader.pipe(h.size, (b) => {
            let off = 0;
            while (off < b.length) off += file.writeSync(b.subarray(off));
          });
        } finally {
          file.close();
        }
        this.#meta(path, h, false);
        break;
      }
      case "5": {
        const existing = this.#clear(rel, path, h.name, true);
        if (existing === undefined) Deno.mkdirSync(path, { mode: 0o700 });
        this.#dirs.add(rel);
        this.#dirMeta.push({ path, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
        break;
      }
      case "2":
        this.#clear(rel, path, h.name, false);
        Deno.symlinkSync(h.linkname, path);
        if (this.#owners) lchown(path, h.uid, h.gid);
        lutimes(path, h.mtime, h.mtime);
        break;
      case "1": {
        let targetParts: string[];
        try {
          targetParts = safeComponents(h.linkname);
        } catch {
          throw new UntarError(`hardlink target "${h.linkname}" escapes the target directory`, h.name);
        }
        if (targetParts.length === 0) throw new UntarError("hardlink to the target directory itself", h.name);
        const targetRel = targetParts.join("/");
        this.#parents(targetParts, h.name);
        const info = lstatOrUndefined(`${this.#root}/${targetRel}`);
        if (info === undefined) {
          throw new UntarError(`hardlink target "${h.linkname}" does not exist in the archive`, h.name);
        }
        if (info.isDirectory) throw new UntarError(`hardlink target "${h.linkname}" is a directory`, h.name);
        if (targetRel === rel) break;
        this.#clear(rel, path, h.name, false);
        Deno.linkSync(`${this.#root}/${targetRel}`, path);
        break;
      }
      case "3":
      case "4":
      case "6": {
        this.#clear(rel, path, h.name, false);
        const kind = h.type === "3" ? S_IF.CHR : h.type === "4" ? S_IF.BLK : S_IF.FIFO;
        if (kind !== S_IF.FIFO && Deno.uid() !== 0) {
          this.skippedDevices++;
          break;
        }
        mknod(path, kind | (h.mode & 0o7777), h.devmajor, h.devminor);
        this.#meta(path, h, false);
        break;
      }
      default:
        throw new UntarError(`unsupported entry type "${h.type}"`, h.name);
    }
    return dataSize;
  }

  finish(): void {
    // Deepest first, so a read-only parent does not block its children.
    this.#dirMeta.sort((a, b) => b.path.length - a.path.length);
    for (const d of this.#dirMeta) {
      if (this.#owners) lchown(d.path, d.uid, d.gid);
      Deno.chmodSync(d.path, d.mode & 0o7777);
      lutimes(d.path, d.mtime, d.mtime);
    }
  }
}

/** Wraps `stream` in gunzip when it starts with the gzip magic bytes. */
export async function maybeGunzip(stream: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const [probe, rest] = stream.tee();
  const reader = probe.getReader();
  const first = await reader.read();
  reader.cancel().catch(() => {});
  const head = first.done ? new Uint8Array() : first.value;
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    return rest.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  }
  return rest;
}

/**
 * Extracts the tar stream `input` (gzip-compressed or plain) into the
 * existing, empty directory `target`.
 *
 * @throws {UntarError} for corrupt, truncated, oversized or hostile archives.
 */
export async function untar(
  input: ReadableStream<Uint8Array>,
  target: string,
  options: UntarOptions = {},
): Promise<UntarResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const ex = new Extractor(target.replace(/\/+$/, "") || "/", options.preserveOwners ?? Deno.uid() === 0);
  const reader = new ByteReader(await maybeGunzip(input));
  let entries = 0;
  let bytes = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let sawEnd = false;
  try {
    for (;;) {
      const block = await reader.take(BLOCK);
      if (block === undefined) break;
      if (isZeroBlock(block)) {
        sawEnd = true;
        break;
      }
      const h = parseHeader(block);
      if (h.type === "x" || h.type === "g" || h.type === "L" || h.type === "K") {
        const padded = Math.ceil(h.size / BLOCK) * BLOCK;
        if (h.size > 1024 * 1024) throw new UntarError(`corrupt archive: ${h.size}-byte extended header`);
        const data = (await reader.take(padded))?.subarray(0, h.size);
        if (data === undefined) throw new UntarError("truncated archive: unexpected end of data");
        if (h.type === "x") pax = { ...pax, ...parsePax(data) };
        else if (h.type === "L") longName = cstr(data, 0, data.length);
        else if (h.type === "K") longLink = cstr(data, 0, data.length);
        continue;
      }
      if (longName !== undefined) h.name = longName;
      if (longLink !== undefined) h.linkname = longLink;
      if (pax.path !== undefined) h.name = pax.path;
      if (pax.linkpath !== undefined) h.linkname = pax.linkpath;
      if (pax.size !== undefined) h.size = Number(pax.size);
      if (pax.uid !== undefined) h.uid = Number(pax.uid);
      if (pax.gid !== undefined) h.gid = Number(pax.gid);
      if (pax.mtime !== undefined) h.mtime = Math.floor(Number(pax.mtime));
      pax = {};
      longName = longLink = undefined;
      if (++entries > maxEntries) throw new UntarError(`archive has more than ${maxEntries} entries (limit)`);
      const dataSize = h.type === "0" || h.type === "7" ? h.size : 0;
      if (bytes + dataSize > maxBytes) {
        throw new UntarError(`archive expands to more than ${maxBytes} bytes (limit)`, h.name);
      }
      bytes += await ex.entry(h, reader);
      // Skip the data of entries without file data (and the padding of all).
      const padded = Math.ceil(h.size / BLOCK) * BLOCK;
      const skip = dataSize > 0 || h.type === "0" || h.type === "7" ? padded - h.size : padded;
      if (skip > 0 && (await reader.take(skip)) === undefined) {
        throw new UntarError("truncated archive: unexpected end of data");
      }
    }
    if (!sawEnd && entries === 0) throw new UntarError("not a tar archive: it is empty");
    ex.finish();
  } catch (err) {
    reader.cancel();
    if (err instanceof UntarError) throw err;
    const entry = err instanceof Error ? err.message : String(err);
    throw new UntarError(`extraction failed: ${entry}`);
  }
  return { entries, bytes, skippedDevices: ex.skippedDevices };
}

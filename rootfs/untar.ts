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
 * - no symlink is ever followed, while creating entries or afterwards: every
 *   name is created and changed relative to a descriptor of its parent
 *   directory, which openat2(2) opened with RESOLVE_NO_SYMLINKS|BENEATH (a
 *   symlink `etc -> /etc` followed by `etc/passwd` is refused by the
 *   kernel); an existing final component is removed, never written through
 *   (files are created with O_EXCL|O_NOFOLLOW); modes, owners and times are
 *   set on the entry's own descriptor (fchmod, fchown, futimens) or with
 *   AT_SYMLINK_NOFOLLOW;
 * - a directory's metadata is applied at the end on a descriptor opened the
 *   same way, and an entry that replaces a directory drops it (a directory
 *   `x/` with mode 06755 followed by a symlink `x -> /usr/bin/bash` must not
 *   make a host file setuid);
 * - hardlinks must point at an entry already extracted inside the target;
 * - the bytes every header claims (file data, and data skipped for other
 *   entries) and the number of entries are capped (decompression bombs); pax
 *   sizes and ids must be plain non-negative numbers;
 * - the stream is read to its end, so a corrupt gzip trailer is refused.
 *
 * A refused or corrupt archive throws an `UntarError` naming the entry and the
 * reason. The caller extracts into a fresh temporary directory and removes it
 * on error (see rootfs/cache.ts).
 *
 * @module
 */

import {
  close,
  fchmod,
  fchmodPath,
  fchown,
  isErrno,
  lchownat,
  linkat,
  lstatat,
  mkdirat,
  mknodat,
  O,
  open,
  openat,
  openat2,
  RESOLVE,
  S_IF,
  symlinkat,
  unlinkat,
  utimesat,
  writeAll,
} from "../ffi/fs.ts";
import { gunzip } from "./gunzip.ts";

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

  /** Reads and discards exactly `n` bytes, without holding them. */
  async skip(n: number): Promise<void> {
    await this.pipe(n, () => {});
  }

  /**
   * Reads the stream to its end, discarding it, and returns how many bytes
   * that was; refuses more than `limit`.
   */
  async drain(limit: number): Promise<number> {
    let n = this.#have;
    this.#chunks = [];
    this.#have = 0;
    while (!this.#done) {
      if (n > limit) throw new UntarError(`archive expands to more than its limit after the end marker`);
      await this.#fill(1);
      n += this.#have;
      this.#chunks = [];
      this.#have = 0;
    }
    return n;
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/** Pending metadata of a directory, applied at the end (creating children changes mtimes). */
interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** openat2 resolution inside the target: no symlink, no magic link, no other mount, never above it. */
const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_XDEV;

/**
 * Extracts into one target directory, enforcing the safety rules. Every
 * name is created relative to a descriptor of its parent directory, opened
 * with openat2 so that the kernel refuses any symlink on the way; nothing is
 * ever resolved by path string twice.
 */
class Extractor {
  readonly #owners: boolean;
  /** The target directory (a real descriptor: fchmod works on it). */
  readonly #rootFd: number;
  /** The most recently used parent directory: entries usually come grouped. */
  #cached: { rel: string; fd: number } | undefined;
  /** Directory metadata to apply at the end, by path relative to the target. */
  readonly #dirMeta = new Map<string, DirMeta>();
  skippedDevices = 0;

  constructor(root: string, owners: boolean) {
    this.#owners = owners;
    this.#rootFd = open(root, O.RDONLY | O.DIRECTORY | O.CLOEXEC);
  }

  /** Closes every descriptor; the extractor is unusable afterwards. */
  close(): void {
    this.#forget();
    close(this.#rootFd);
  }

  #forget(): void {
    if (this.#cached !== undefined) close(this.#cached.fd);
    this.#cached = undefined;
  }

  /**
   * A descriptor of the directory `rel` inside the target (the target itself
   * for ""), creating missing directories on the way. Every component must be
   * a real directory: a symlink anywhere is refused by the kernel (openat2
   * RESOLVE_NO_SYMLINKS), never followed.
   */
  #dir(rel: string, entry: string): number {
    if (rel === "") return this.#rootFd;
    if (this.#cached?.rel === rel) return this.#cached.fd;
    let fd: number;
    try {
      fd = openat2(this.#rootFd, rel, { flags: O.PATH | O.DIRECTORY | O.CLOEXEC, resolve: BENEATH });
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw this.#parentError(rel, entry, err);
      fd = this.#makeDirs(rel, entry);
    }
    this.#forget();
    this.#cached = { rel, fd };
    return fd;
  }

  /** Walks `rel` one component at a time, creating what is missing (mode 0755 until its own entry). */
  #makeDirs(rel: string, entry: string): number {
    let fd = -1;
    let at = this.#rootFd;
    let done = "";
    try {
      for (const part of rel.split("/")) {
        done = done === "" ? part : `${done}/${part}`;
        try {
          mkdirat(at, part, 0o755);
        } catch (err) {
          if (!isErrno(err, "EEXIST")) throw err;
        }
        let next: number;
        try {
          next = openat(at, part, O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC);
        } catch (err) {
          throw this.#parentError(done, entry, err);
        }
        if (fd >= 0) close(fd);
        fd = next;
        at = fd;
      }
      return fd;
    } catch (err) {
      if (fd >= 0) close(fd);
      throw err;
    }
  }

  /** The error for a parent that is not a real directory, naming which one. */
  #parentError(rel: string, entry: string, err: unknown): Error {
    if (!isErrno(err, "ELOOP") && !isErrno(err, "ENOTDIR") && !isErrno(err, "EXDEV")) return err as Error;
    // Find the first component that is not a directory, for the message.
    let prefix = "";
    for (const part of rel.split("/")) {
      prefix = prefix === "" ? part : `${prefix}/${part}`;
      let mode: number;
      try {
        mode = this.#lstat(prefix)?.mode ?? S_IF.DIR;
      } catch {
        break;
      }
      if ((mode & 0o170000) === S_IF.LNK) {
        return new UntarError(`parent "${prefix}" is a symlink; refusing to follow it`, entry);
      }
      if ((mode & 0o170000) !== S_IF.DIR) {
        return new UntarError(`parent "${prefix}" is not a directory`, entry);
      }
    }
    return new UntarError(`parent "${rel}" is not a directory`, entry);
  }

  /** lstat of `rel` inside the target (its parents must be directories), or undefined. */
  #lstat(rel: string): { mode: number } | undefined {
    const slash = rel.lastIndexOf("/");
    const parent = slash < 0 ? this.#rootFd : openat2(this.#rootFd, rel.slice(0, slash), {
      flags: O.PATH | O.DIRECTORY | O.CLOEXEC,
      resolve: BENEATH,
    });
    try {
      return lstatat(parent, rel.slice(slash + 1));
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    } finally {
      if (parent !== this.#rootFd) close(parent);
    }
  }

  /**
   * Clears the final name of an entry so it is created fresh, never written
   * through. A directory is kept when `keepDir`; a replaced directory loses
   * its pending metadata (and its children's), so nothing is ever applied to
   * whatever takes its name.
   */
  #clear(parentFd: number, name: string, rel: string, entry: string, keepDir: boolean): boolean {
    let mode: number;
    try {
      mode = lstatat(parentFd, name).mode;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return false;
      // The usual answer here is ENOENT; anything else is asked again once:
      // errno is read after the call returns, and the runtime may fail a
      // system call of its own in between (a futex's EAGAIN, seen in CI).
      try {
        mode = lstatat(parentFd, name).mode;
      } catch (again) {
        if (isErrno(again, "ENOENT")) return false;
        throw again;
      }
    }
    if ((mode & 0o170000) === S_IF.DIR) {
      if (keepDir) return true;
      try {
        unlinkat(parentFd, name, true);
      } catch (err) {
        if (isErrno(err, "ENOTEMPTY") || isErrno(err, "EEXIST")) {
          throw new UntarError("cannot replace a non-empty directory", entry);
        }
        throw err;
      }
      for (const key of [...this.#dirMeta.keys()]) {
        if (key === rel || key.startsWith(`${rel}/`)) this.#dirMeta.delete(key);
      }
      if (
        this.#cached !== undefined && (this.#cached.rel === rel || this.#cached.rel.startsWith(`${rel}/`))
      ) {
        // Only the parent's descriptor is in use here, and it is not below rel.
        if (this.#cached.fd !== parentFd) this.#forget();
      }
      return false;
    }
    unlinkat(parentFd, name);
    return false;
  }

  /**
   * Creates an entry's name with `make` (which never writes through an
   * existing name: O_EXCL, mkdirat, symlinkat, mknodat fail on it). Usually
   * the name is new; when it fails, the name is cleared (#clear) and `make`
   * tried once more, so a genuine error recurs and is thrown then. This
   * spares a failing lstat, and its exception, for every entry.
   */
  #create<T>(parentFd: number, name: string, rel: string, entry: string, make: () => T): T {
    try {
      return make();
    } catch {
      // EEXIST, mostly.
    }
    this.#clear(parentFd, name, rel, entry, false);
    return make();
  }

  /** Owner, mode and times of a regular file being written, on its own descriptor. */
  #fileMeta(fd: number, h: Header): void {
    if (this.#owners) fchown(fd, h.uid, h.gid);
    // chown clears setuid/setgid: the mode is set after it.
    fchmod(fd, h.mode & 0o7777);
    utimesat(fd, "", h.mtime, h.mtime);
  }

  async entry(h: Header, reader: ByteReader): Promise<number> {
    const parts = safeComponents(h.name);
    const rel = parts.join("/");
    if (rel === "") {
      // The target itself ("./"): only a directory may describe it.
      if (h.type !== "5") throw new UntarError("entry names the target directory itself", h.name);
      this.#dirMeta.set("", { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
      return 0;
    }
    const name = parts[parts.length - 1]!;
    const parentRel = parts.slice(0, -1).join("/");
    let parentFd = this.#dir(parentRel, h.name);
    switch (h.type) {
      case "0":
      case "7": {
        const fd = this.#create(
          parentFd,
          name,
          rel,
          h.name,
          () => openat(parentFd, name, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o600),
        );
        try {
          await reader.pipe(h.size, (b) => writeAll(fd, b as Uint8Array<ArrayBuffer>));
          this.#fileMeta(fd, h);
        } finally {
          close(fd);
        }
        return h.size;
      }
      case "5": {
        try {
          mkdirat(parentFd, name, 0o700);
        } catch {
          // Something has the name (a directory is kept); any other error recurs.
          if (!this.#clear(parentFd, name, rel, h.name, true)) mkdirat(parentFd, name, 0o700);
        }
        this.#dirMeta.set(rel, { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
        return 0;
      }
      case "2":
        this.#create(parentFd, name, rel, h.name, () => symlinkat(h.linkname, parentFd, name));
        if (this.#owners) lchownat(parentFd, name, h.uid, h.gid);
        utimesat(parentFd, name, h.mtime, h.mtime);
        return 0;
      case "1": {
        let targetParts: string[];
        try {
          targetParts = safeComponents(h.linkname);
        } catch {
          throw new UntarError(`hardlink target "${h.linkname}" escapes the target directory`, h.name);
        }
        if (targetParts.length === 0) throw new UntarError("hardlink to the target directory itself", h.name);
        const targetRel = targetParts.join("/");
        if (targetRel === rel) return 0;
        const targetParentRel = targetParts.slice(0, -1).join("/");
        const targetName = targetParts[targetParts.length - 1]!;
        let targetParentFd: number;
        try {
          targetParentFd = targetParentRel === "" ? this.#rootFd : openat2(this.#rootFd, targetParentRel, {
            flags: O.PATH | O.DIRECTORY | O.CLOEXEC,
            resolve: BENEATH,
          });
        } catch (err) {
          if (isErrno(err, "ENOENT")) {
            throw new UntarError(`hardlink target "${h.linkname}" does not exist in the archive`, h.name);
          }
          throw this.#parentError(targetParentRel, h.name, err);
        }
        try {
          let mode: number;
          try {
            mode = lstatat(targetParentFd, targetName).mode;
          } catch (err) {
            if (!isErrno(err, "ENOENT")) throw err;
            throw new UntarError(`hardlink target "${h.linkname}" does not exist in the archive`, h.name);
          }
          if ((mode & 0o170000) === S_IF.DIR) {
            throw new UntarError(`hardlink target "${h.linkname}" is a directory`, h.name);
          }
          this.#clear(parentFd, name, rel, h.name, false);
          parentFd = this.#dir(parentRel, h.name);
          linkat(targetParentFd, targetName, parentFd, name);
        } finally {
          if (targetParentFd !== this.#rootFd) close(targetParentFd);
        }
        return 0;
      }
      case "3":
      case "4":
      case "6": {
        const kind = h.type === "3" ? S_IF.CHR : h.type === "4" ? S_IF.BLK : S_IF.FIFO;
        if (kind !== S_IF.FIFO && !this.#owners) {
          this.skippedDevices++;
          return 0;
        }
        this.#create(
          parentFd,
          name,
          rel,
          h.name,
          () => mknodat(parentFd, name, kind | 0o600, h.devmajor, h.devminor),
        );
        if (this.#owners) lchownat(parentFd, name, h.uid, h.gid);
        // A node is never opened for real (a FIFO would block, a device
        // would act): its mode is set through an O_PATH descriptor.
        const fd = openat(parentFd, name, O.PATH | O.NOFOLLOW | O.CLOEXEC);
        try {
          fchmodPath(fd, h.mode & 0o7777);
        } finally {
          close(fd);
        }
        utimesat(parentFd, name, h.mtime, h.mtime);
        return 0;
      }
      default:
        throw new UntarError(`unsupported entry type "${h.type}"`, h.name);
    }
  }

  /**
   * Applies directory metadata, deepest first (so a read-only parent does not
   * block its children), each on a descriptor opened without following any
   * symlink: a name that is no longer a real directory is skipped.
   */
  finish(): void {
    this.#forget();
    const rels = [...this.#dirMeta.keys()].sort((a, b) => b.split("/").length - a.split("/").length);
    for (const rel of rels) {
      const d = this.#dirMeta.get(rel)!;
      let fd: number;
      try {
        fd = rel === ""
          ? this.#rootFd
          : openat2(this.#rootFd, rel, { flags: O.RDONLY | O.DIRECTORY | O.CLOEXEC, resolve: BENEATH });
      } catch (err) {
        if (isErrno(err, "ENOENT") || isErrno(err, "ELOOP") || isErrno(err, "ENOTDIR")) continue;
        throw err;
      }
      try {
        if (this.#owners) fchown(fd, d.uid, d.gid);
        fchmod(fd, d.mode & 0o7777);
        utimesat(fd, "", d.mtime, d.mtime);
      } finally {
        if (fd !== this.#rootFd) close(fd);
      }
    }
  }
}

/**
 * Wraps `stream` in gunzip (rootfs/gunzip.ts: zlib, every member's CRC and
 * length checked, concatenated members accepted) when it starts with the
 * gzip magic bytes.
 */
export async function maybeGunzip(stream: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const reader = stream.getReader();
  const first = await reader.read();
  const head = first.done ? new Uint8Array() : first.value;
  // The stream again, with the chunk we looked at first.
  let pending: Uint8Array | undefined = head.length > 0 ? head : undefined;
  const whole = new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      if (pending !== undefined) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const r = first.done ? { done: true as const, value: undefined } : await reader.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(reason): Promise<void> {
      return reader.cancel(reason);
    },
  });
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b ? gunzip(whole) : whole;
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
      applyPax(h, pax);
      pax = {};
      longName = longLink = undefined;
      if (++entries > maxEntries) throw new UntarError(`archive has more than ${maxEntries} entries (limit)`);
      // Whatever the type, every byte the header claims counts against the
      // limit: data of a directory or link entry is skipped, but it is read.
      if (bytes + h.size > maxBytes) {
        throw new UntarError(`archive expands to more than ${maxBytes} bytes (limit)`, h.name);
      }
      const written = await ex.entry(h, reader);
      bytes += h.size;
      // Skip the data of entries without file data (and the padding of all),
      // streaming: a lying size must not make us allocate it.
      const padded = Math.ceil(h.size / BLOCK) * BLOCK;
      await reader.skip(padded - written);
    }
    if (!sawEnd && entries === 0) throw new UntarError("not a tar archive: it is empty");
    // Read the stream to its very end: the gzip trailer (CRC and length of
    // the last member) comes after the tar end marker, and a corrupt one must
    // fail the extraction. What follows the marker is padding, also capped.
    bytes += await reader.drain(maxBytes - bytes);
    ex.finish();
  } catch (err) {
    reader.cancel();
    if (err instanceof UntarError) throw err;
    const entry = err instanceof Error ? err.message : String(err);
    throw new UntarError(`extraction failed: ${entry}`);
  } finally {
    ex.close();
  }
  return { entries, bytes, skippedDevices: ex.skippedDevices };
}

/** Non-negative whole numbers only: a negative or fractional size or id is an attack or corruption. */
const PAX_NUMBER = /^\d{1,15}$/;

/** Applies pax records to a header, refusing values that are not what they claim. */
function applyPax(h: Header, pax: Record<string, string>): void {
  if (pax.path !== undefined) h.name = pax.path;
  if (pax.linkpath !== undefined) h.linkname = pax.linkpath;
  if (pax.size !== undefined) {
    if (!PAX_NUMBER.test(pax.size)) {
      throw new UntarError(`corrupt archive: bad pax size ${JSON.stringify(pax.size.slice(0, 40))}`, h.name);
    }
    h.size = Number(pax.size);
  }
  for (const key of ["uid", "gid"] as const) {
    const v = pax[key];
    if (v === undefined) continue;
    if (!PAX_NUMBER.test(v) || Number(v) > 0xfffffffe) {
      throw new UntarError(`corrupt archive: bad pax ${key} ${JSON.stringify(v.slice(0, 40))}`, h.name);
    }
    h[key] = Number(v);
  }
  if (pax.mtime !== undefined) {
    if (!/^-?\d{1,15}(\.\d*)?$/.test(pax.mtime)) {
      throw new UntarError(
        `corrupt archive: bad pax mtime ${JSON.stringify(pax.mtime.slice(0, 40))}`,
        h.name,
      );
    }
    h.mtime = Math.floor(Number(pax.mtime));
  }
}

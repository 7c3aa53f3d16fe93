/**
 * gzip decompression through the system zlib: `GzipInflater` and the
 * `GzipError` it throws.
 *
 * zlib's inflate, opened with windowBits 16 + MAX_WBITS, decodes only the
 * gzip format and compares each member's CRC-32 and length (ISIZE) with its
 * trailer; it stops with Z_STREAM_END at the end of every member and, unlike
 * gunzip, does not go on to the next one by itself: "The state would need to
 * be reset to continue decoding a subsequent gzip member" (zlib.h,
 * inflateInit2). `GzipInflater` does that reset, so multi-member streams
 * (`cat a.gz b.gz`, pigz) decode to the concatenation of their members, as
 * RFC 1952 requires.
 *
 * No pointer leaves this file: the z_stream and both buffers zlib writes or
 * reads are owned by the inflater, and callers only see `Uint8Array`s.
 *
 * @module
 */

import { zlib } from "./_zlib.ts";
import { cString } from "./cstring.ts";

// Return codes and flush values (zlib.h).
const Z_OK = 0;
const Z_STREAM_END = 1;
const Z_BUF_ERROR = -5;
const Z_DATA_ERROR = -3;
const Z_NO_FLUSH = 0;

const RETURN_CODE_NAMES: Readonly<Record<number, string>> = {
  0: "Z_OK",
  1: "Z_STREAM_END",
  2: "Z_NEED_DICT",
  [-1]: "Z_ERRNO",
  [-2]: "Z_STREAM_ERROR",
  [-3]: "Z_DATA_ERROR",
  [-4]: "Z_MEM_ERROR",
  [-5]: "Z_BUF_ERROR",
  [-6]: "Z_VERSION_ERROR",
};

/** The name of a zlib return code, e.g. `-3` → `"Z_DATA_ERROR"`. */
function codeName(rc: number): string {
  return RETURN_CODE_NAMES[rc] ?? `zlib code ${rc}`;
}

/**
 * MAX_WBITS (a 32 KiB window, the largest deflate allows) plus 16: "add 16
 * to decode only the gzip format" (zlib.h, inflateInit2). A zlib or raw
 * deflate stream is then refused with "incorrect header check".
 */
const WINDOW_BITS = 15 + 16;

/**
 * The zlib version whose headers this file stands in for. inflateInit2_
 * compares only its first digit with the library's (a major version change
 * would mean another z_stream); the struct size below is checked as well.
 */
const ASSUMED_ZLIB_VERSION = cString("1.2.13");

/**
 * `struct z_stream_s` on LP64 Linux (x86_64, aarch64): 112 bytes. Byte
 * offsets of its fields (zlib.h):
 *
 * | offset | field     | C type         |
 * |-------:|-----------|----------------|
 * |      0 | next_in   | z_const Bytef* |
 * |      8 | avail_in  | uInt           |
 * |     16 | total_in  | uLong          |
 * |     24 | next_out  | Bytef*         |
 * |     32 | avail_out | uInt           |
 * |     40 | total_out | uLong          |
 * |     48 | msg       | char*          |
 * |     56 | state     | internal_state*|
 * |     64 | zalloc    | alloc_func     |
 * |     72 | zfree     | free_func      |
 * |     80 | opaque    | voidpf         |
 * |     88 | data_type | int            |
 * |     96 | adler     | uLong          |
 * |    104 | reserved  | uLong          |
 *
 * Only the ones below are touched; zalloc, zfree and opaque must be NULL
 * before inflateInit2_ so that zlib uses malloc and free, and a fresh
 * ArrayBuffer is all zeros.
 */
const Z_STREAM_SIZE = 112;
const NEXT_IN = 0;
const AVAIL_IN = 8;
const NEXT_OUT = 24;
const AVAIL_OUT = 32;
const MSG = 48;

/**
 * Input is copied into a buffer the inflater owns, at most this much per
 * inflate call. Copying compressed bytes is cheap (a few MiB per image) and
 * means zlib never points into a caller's array, which may be a view on a
 * SharedArrayBuffer, a resizable or later-detached buffer, or a small array
 * V8 keeps on its moving heap.
 */
const IN_SIZE = 64 * 1024;
/** Output space per inflate call; each filled part is copied out once. */
const OUT_SIZE = 256 * 1024;

/** Details of a `GzipError`. */
export interface GzipErrorInit {
  /** The zlib call that failed, e.g. `"inflate"`; absent for checks of tinyo's own. */
  call?: string;
  /** Its return code name, e.g. `"Z_DATA_ERROR"`. */
  code?: string;
  /** The gzip member (from 1) being decoded. */
  member: number;
  /** About where in the compressed input the problem was seen, in bytes. */
  offset: number;
}

/**
 * Corrupt, truncated or non-gzip input, or a failed zlib call. The message
 * reads like `Corrupt gzip data: incorrect data check (member 1, near byte
 * 3671040)`, with zlib's own text for data errors.
 */
export class GzipError extends Error {
  override name = "GzipError";
  /** The zlib call that failed, e.g. `"inflate"`, or undefined. */
  readonly call: string | undefined;
  /** The zlib return code name, e.g. `"Z_DATA_ERROR"`, or undefined. */
  readonly code: string | undefined;
  /** The gzip member (from 1) being decoded. */
  readonly member: number;
  /** About where in the compressed input the problem was seen, in bytes. */
  readonly offset: number;

  constructor(message: string, init: GzipErrorInit) {
    super(message);
    this.call = init.call;
    this.code = init.code;
    this.member = init.member;
    this.offset = init.offset;
  }
}

/** The version string of the loaded libz, e.g. `"1.2.13"`. */
export function zlibVersion(): string {
  const ptr = zlib().zlibVersion();
  return ptr === null ? "unknown" : Deno.UnsafePointerView.getCString(ptr);
}

/** The address of a buffer's first byte, as stored in a z_stream field. */
function addressOf(buffer: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/**
 * Ends the zlib state of an inflater that was dropped without `close()`.
 * Only a safety net: the state is malloc'ed by zlib (about 7 KiB plus the
 * 32 KiB window), which the garbage collector cannot see.
 */
const leaked = new FinalizationRegistry<Uint8Array<ArrayBuffer>>((strm) => {
  zlib().inflateEnd(strm);
});

/**
 * Where the inflater is in the stream: `inside` a member (including before
 * the first byte), `between` members (one just ended; the next byte decides),
 * or in `padding` (zero bytes after a member, which some tar tools add).
 */
type Position = "inside" | "between" | "padding";

/**
 * A streaming gzip decoder over zlib's inflate that checks every member's
 * CRC-32 and length and decodes multi-member streams.
 *
 * Feed it with `push()`, call `finish()` after the last chunk (that is where
 * a truncated stream is detected), and `close()` when done or on error
 * (`close()` is idempotent; a failed `push()` or `finish()` closes by
 * itself). After a complete member, bytes that are all zero are accepted as
 * padding; anything else must be a valid next member.
 *
 * @example Usage
 * ```ts ignore
 * const inflater = new GzipInflater();
 * try {
 *   for await (const chunk of file.readable) {
 *     for (const out of inflater.push(chunk)) await sink.write(out);
 *   }
 *   inflater.finish();
 * } finally {
 *   inflater.close();
 * }
 * ```
 */
export class GzipInflater {
  // Each from its own `new ArrayBuffer`: V8 never moves an ArrayBuffer's
  // backing store, and zlib keeps the z_stream's address (its state points
  // back to it and inflate checks that it did not change).
  #strm = new Uint8Array(new ArrayBuffer(Z_STREAM_SIZE));
  #fields = new DataView(this.#strm.buffer);
  #in = new Uint8Array(new ArrayBuffer(IN_SIZE));
  #out = new Uint8Array(new ArrayBuffer(OUT_SIZE));
  #inAddress = addressOf(this.#in);
  #outAddress = addressOf(this.#out);
  #open = false;
  #failure: GzipError | undefined;
  #position: Position = "inside";
  /** Compressed bytes taken so far. */
  #offset = 0;
  /** Members decoded to their end (trailer checked). */
  #members = 0;

  /**
   * Allocates zlib's inflate state (inflateInit2_).
   *
   * @throws {Error} When libz.so.1 cannot be loaded.
   * @throws {GzipError} When inflateInit2_ fails (Z_MEM_ERROR, or
   * Z_VERSION_ERROR for an incompatible libz).
   */
  constructor() {
    const rc = zlib().inflateInit2_(this.#strm, WINDOW_BITS, ASSUMED_ZLIB_VERSION, Z_STREAM_SIZE);
    if (rc !== Z_OK) {
      throw new GzipError(
        `Cannot start gzip decoding: inflateInit2_ returned ${codeName(rc)} (libz ${zlibVersion()})`,
        { call: "inflateInit2_", code: codeName(rc), member: 1, offset: 0 },
      );
    }
    this.#open = true;
    leaked.register(this, this.#strm, this);
  }

  /** How many members have been decoded to their end so far. */
  get members(): number {
    return this.#members;
  }

  /**
   * Decompresses all of `chunk`.
   *
   * @param chunk The next compressed bytes; they are copied, so the array
   * may be reused once the call returns.
   * @returns The output produced, in order, as fresh arrays (possibly none:
   * zlib may need more input before it can produce any).
   * @throws {GzipError} For corrupt data (bad header, bad deflate data, CRC-32
   * or length mismatch, non-zero bytes after padding); the inflater is then
   * closed and rethrows the same error on further use.
   */
  push(chunk: Uint8Array): Uint8Array<ArrayBuffer>[] {
    this.#checkUsable();
    const output: Uint8Array<ArrayBuffer>[] = [];
    try {
      for (let pos = 0; pos < chunk.length; pos += IN_SIZE) {
        const piece = chunk.subarray(pos, pos + IN_SIZE);
        this.#in.set(piece);
        this.#inflate(piece.length, output);
      }
    } catch (err) {
      this.#fail(err);
    }
    return output;
  }

  /**
   * Declares the end of the input: checks that the last member was complete.
   *
   * @throws {GzipError} When the input was empty or ends inside a member
   * (including a partial header of a next member); the inflater is then
   * closed.
   */
  finish(): void {
    this.#checkUsable();
    try {
      if (this.#offset === 0) {
        throw new GzipError("Not gzip data: it is empty", { member: 1, offset: 0 });
      }
      if (this.#position === "inside") {
        const member = this.#members + 1;
        throw new GzipError(`Truncated gzip data: the stream ends inside member ${member}`, {
          member,
          offset: this.#offset,
        });
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * Frees zlib's state (inflateEnd). Idempotent.
   *
   * @throws {GzipError} If inflateEnd reports an inconsistent stream (a bug).
   */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    leaked.unregister(this);
    const rc = zlib().inflateEnd(this.#strm);
    if (rc !== Z_OK) {
      throw new GzipError(`Cannot end gzip decoding: inflateEnd returned ${codeName(rc)}`, {
        call: "inflateEnd",
        code: codeName(rc),
        member: this.#members + 1,
        offset: this.#offset,
      });
    }
  }

  #checkUsable(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (!this.#open) throw new Error("Cannot decode gzip data: the inflater is closed");
  }

  /** Records a GzipError so later calls rethrow it, frees zlib's state, rethrows. */
  #fail(err: unknown): never {
    if (err instanceof GzipError) this.#failure = err;
    this.close();
    throw err;
  }

  /** Inflates the first `length` bytes of the input buffer, appending output. */
  #inflate(length: number, output: Uint8Array<ArrayBuffer>[]): void {
    const fields = this.#fields;
    const base = this.#offset;
    // next_in and next_out stay in the z_stream between calls, so they only
    // ever point into #in and #out, which live as long as the inflater.
    fields.setBigUint64(NEXT_IN, this.#inAddress, true);
    fields.setUint32(AVAIL_IN, length, true);
    let avail = length;
    while (avail > 0 || this.#position === "inside") {
      if (this.#position === "between") this.#startNextMember(length - avail);
      if (this.#position === "padding") {
        this.#checkPadding(length - avail, length, base);
        break;
      }
      fields.setBigUint64(NEXT_OUT, this.#outAddress, true);
      fields.setUint32(AVAIL_OUT, OUT_SIZE, true);
      const rc = zlib().inflate(this.#strm, Z_NO_FLUSH);
      const produced = OUT_SIZE - fields.getUint32(AVAIL_OUT, true);
      avail = fields.getUint32(AVAIL_IN, true);
      if (produced > 0) output.push(this.#out.slice(0, produced));
      if (rc === Z_STREAM_END) {
        // The member's trailer matched: a wrong CRC-32 or ISIZE is reported
        // as Z_DATA_ERROR instead ("incorrect check value", zlib.h, inflate).
        this.#members++;
        this.#position = "between";
        continue;
      }
      // Z_OK or Z_BUF_ERROR with the input used up and room left in the
      // output: everything decodable so far has been written ("Z_BUF_ERROR is
      // not fatal", zlib.h). A full output buffer may hide more, so go on.
      if ((rc === Z_OK || rc === Z_BUF_ERROR) && avail === 0 && produced < OUT_SIZE) break;
      if (rc === Z_OK || (rc === Z_BUF_ERROR && avail === 0)) continue;
      throw this.#inflateError(rc, base + length - avail);
    }
    this.#offset = base + length;
  }

  /**
   * After Z_STREAM_END with input left: a zero byte starts padding, anything
   * else a new member, for which the state is reset (zlib.h: "This *must* be
   * done if there is more data after a gzip member"). A bad next header is
   * then refused by inflate itself ("incorrect header check").
   */
  #startNextMember(at: number): void {
    if (this.#in[at] === 0) {
      this.#position = "padding";
      return;
    }
    const rc = zlib().inflateReset(this.#strm);
    if (rc !== Z_OK) {
      throw new GzipError(
        `Cannot decode gzip member ${this.#members + 1}: inflateReset returned ${codeName(rc)}`,
        {
          call: "inflateReset",
          code: codeName(rc),
          member: this.#members + 1,
          offset: this.#offset + at,
        },
      );
    }
    this.#position = "inside";
  }

  /** Zero padding after the last member may only go on with zeros. */
  #checkPadding(from: number, to: number, base: number): void {
    const bytes = this.#in;
    for (let i = from; i < to; i++) {
      if (bytes[i] !== 0) {
        const member = this.#members;
        const offset = base + i;
        throw new GzipError(
          `Corrupt gzip data: non-zero byte in the padding after member ${member} (near byte ${offset})`,
          { member, offset },
        );
      }
    }
  }

  #inflateError(rc: number, offset: number): GzipError {
    const member = this.#members + 1;
    const msgAddress = this.#fields.getBigUint64(MSG, true);
    const ptr = msgAddress === 0n ? null : Deno.UnsafePointer.create(msgAddress);
    const text = ptr === null ? undefined : Deno.UnsafePointerView.getCString(ptr);
    const where = `(member ${member}, near byte ${offset})`;
    const init = { call: "inflate", code: codeName(rc), member, offset };
    if (rc === Z_DATA_ERROR) {
      // The first member's header is the only proof the input is gzip at all.
      const what = member === 1 && text === "incorrect header check" ? "Not gzip data" : "Corrupt gzip data";
      return new GzipError(`${what}: ${text ?? "invalid data"} ${where}`, init);
    }
    const detail = text === undefined ? "" : `: ${text}`;
    return new GzipError(`Cannot decode gzip data: inflate returned ${codeName(rc)}${detail} ${where}`, init);
  }
}

/**
 * Builds tar archives in memory for tests, including hostile ones that no
 * well-behaved tar tool would write.
 */

/** One archive entry. */
export interface TarEntry {
  name: string;
  /** "0" file, "1" hardlink, "2" symlink, "3" char, "4" block, "5" dir, "6" fifo, "x" pax, "L" GNU long name. */
  type?: string;
  data?: Uint8Array | string;
  /** Size written in the header (defaults to the data length): lie to test limits. */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
}

const enc = new TextEncoder();

function put(b: Uint8Array, off: number, len: number, s: string): void {
  b.set(enc.encode(s).subarray(0, len), off);
}

function octal(b: Uint8Array, off: number, len: number, v: number): void {
  put(b, off, len, v.toString(8).padStart(len - 1, "0") + "\0");
}

/** A 512-byte header for `e`. */
export function header(e: TarEntry): Uint8Array {
  const b = new Uint8Array(512);
  const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array();
  put(b, 0, 100, e.name);
  octal(b, 100, 8, e.mode ?? 0o644);
  octal(b, 108, 8, e.uid ?? 0);
  octal(b, 116, 8, e.gid ?? 0);
  octal(b, 124, 12, e.size ?? data.length);
  octal(b, 136, 12, e.mtime ?? 1_700_000_000);
  b.fill(32, 148, 156);
  b[156] = (e.type ?? "0").charCodeAt(0);
  put(b, 157, 100, e.linkname ?? "");
  put(b, 257, 6, "ustar\0");
  put(b, 263, 2, "00");
  octal(b, 329, 8, e.devmajor ?? 0);
  octal(b, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const x of b) sum += x;
  octal(b, 148, 7, e.badChecksum ? sum + 1 : sum);
  return b;
}

/** A pax extended header record list as entry data. */
export function paxData(records: Record<string, string>): string {
  return Object.entries(records).map(([k, v]) => {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return `${len}${body}`;
  }).join("");
}

/** The whole archive (with the two zero blocks at the end unless `noEnd`). */
export function tar(entries: TarEntry[], options: { noEnd?: boolean } = {}): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array();
    parts.push(header(e));
    if (data.length > 0) {
      parts.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad > 0) parts.push(new Uint8Array(pad));
    }
  }
  if (!options.noEnd) parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** gzip-compresses bytes. */
export async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A stream over bytes. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
}

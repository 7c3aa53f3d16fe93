/**
 * The second and last `Deno.dlopen` of tinyo: the few zlib symbols that
 * `ffi/zlib.ts` needs to inflate gzip streams.
 *
 * Why zlib and not `DecompressionStream("gzip")`: the web stream cannot
 * decode a multi-member gzip (what `cat a.gz b.gz` and pigz produce) and
 * gives no way to know where a member ends, so a reader that stops at the
 * tar end marker never has the CRC trailer checked. zlib's inflate checks
 * every member's CRC-32 and length itself and reports the end of each member
 * (zlib.h, inflateInit2). `node:zlib` does the same but costs ~35 ms to load.
 *
 * The library is opened on first use, not at import time, so that commands
 * which never unpack an image neither pay for it nor fail on a host without
 * libz. Every call is synchronous (no `nonblocking`), as in `_libc.ts`.
 *
 * This file is private to `ffi/`; everything else goes through
 * `GzipInflater` in `ffi/zlib.ts`.
 *
 * @module
 */

const symbols = {
  // const char *zlibVersion(void);
  zlibVersion: { parameters: [], result: "pointer" },
  // int inflateInit2_(z_streamp strm, int windowBits, const char *version, int stream_size);
  // The function behind the inflateInit2() macro: the macro only adds
  // ZLIB_VERSION and sizeof(z_stream), which we pass by hand.
  inflateInit2_: { parameters: ["buffer", "i32", "buffer", "i32"], result: "i32" },
  // int inflate(z_streamp strm, int flush);
  inflate: { parameters: ["buffer", "i32"], result: "i32" },
  // int inflateReset(z_streamp strm);
  inflateReset: { parameters: ["buffer"], result: "i32" },
  // int inflateEnd(z_streamp strm);
  inflateEnd: { parameters: ["buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound zlib symbols' type. */
export type ZlibSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

let loaded: ZlibSymbols | undefined;

/**
 * The bound zlib symbols, loading libz.so.1 on the first call. Private to
 * `ffi/`.
 *
 * @throws {Error} When libz.so.1 cannot be loaded (with the cause), or
 * `Deno.errors.NotCapable` without `--allow-ffi`, passed through unchanged.
 */
export function zlib(): ZlibSymbols {
  if (loaded !== undefined) return loaded;
  try {
    loaded = Deno.dlopen("libz.so.1", symbols).symbols;
  } catch (err) {
    // A missing permission is the caller's to fix, not the host's: keep it.
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) throw err;
    throw new Error("Cannot load libz.so.1: tinyo needs zlib to unpack gzip images", { cause: err });
  }
  return loaded;
}

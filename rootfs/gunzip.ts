/**
 * gzip decompression of image tarballs as a web stream, over the system
 * zlib (`ffi/zlib.ts`).
 *
 * Replaces `DecompressionStream("gzip")`, which accepts a wrong CRC trailer
 * when the reader stops early and refuses legal multi-member gzip files.
 *
 * @module
 */

import { GzipError, GzipInflater } from "../ffi/zlib.ts";

export { GzipError };

/**
 * Decompresses the gzip stream `input` (one or more members) into a stream
 * of the uncompressed bytes.
 *
 * The whole input is read, and every member's CRC-32 and length are checked
 * against its trailer; the check of the last member happens when `input`
 * ends, so a consumer must read the output to its end (until `done`) to be
 * sure the data was intact. Corrupt, truncated, empty or non-gzip input makes
 * the output stream error with a `GzipError`. Cancelling the output cancels
 * `input` and frees zlib's state.
 *
 * Needs `--allow-ffi` (libz.so.1 is opened on first use).
 *
 * @param input The compressed bytes.
 * @returns The decompressed bytes, in chunks of at most 256 KiB.
 *
 * @example Usage
 * ```ts ignore
 * const file = await Deno.open("alpine.tar.gz");
 * for await (const chunk of gunzip(file.readable)) consume(chunk);
 * ```
 */
export function gunzip(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  // Made before the input is locked, so that a host without libz fails
  // here and the input stays usable.
  const inflater = new GzipInflater();
  const reader = input.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      try {
        // Read until some output exists: a pull that enqueues nothing is not
        // called again, and the gzip header alone produces no output.
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            inflater.finish();
            inflater.close();
            controller.close();
            return;
          }
          const output = inflater.push(value);
          for (const chunk of output) controller.enqueue(chunk);
          if (output.length > 0) return;
        }
      } catch (err) {
        inflater.close();
        reader.cancel(err).catch(() => {});
        throw err;
      }
    },
    async cancel(reason): Promise<void> {
      inflater.close();
      await reader.cancel(reason);
    },
  });
}

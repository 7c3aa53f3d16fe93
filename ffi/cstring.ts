/**
 * NUL-terminated C strings and `char *[]` arrays for FFI calls.
 *
 * Strings are sized by their UTF-8 bytes (not UTF-16 units), and a string
 * that already contains a NUL byte is refused: C would silently cut it there.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Encodes `value` as UTF-8 plus a terminating NUL byte.
 *
 * @param value The string to encode.
 * @param what What the string is, for the error message.
 * @returns A buffer that can be passed as a `"buffer"` FFI argument.
 * @throws {TypeError} When `value` contains a NUL byte.
 */
export function cString(value: string, what = "string"): Uint8Array<ArrayBuffer> {
  if (value.includes("\0")) {
    throw new TypeError(`Cannot pass ${what} to C: "${value.replaceAll("\0", "\\0")}" contains a NUL byte`);
  }
  const bytes = new Uint8Array(value.length * 3 + 1);
  const { written } = encoder.encodeInto(value, bytes);
  return bytes.subarray(0, written + 1) as Uint8Array<ArrayBuffer>;
}

/**
 * A NULL-terminated array of C strings (`char *const argv[]`) that owns every
 * buffer it points to, so nothing is garbage-collected while C reads it.
 * Keep the object alive (a local variable used after the call) until the
 * call returns.
 */
export class CStringArray {
  #strings: Uint8Array<ArrayBuffer>[];
  #pointers: BigUint64Array<ArrayBuffer>;

  /**
   * @param values The strings, in order.
   * @param what What the strings are, for error messages.
   */
  constructor(values: readonly string[], what = "argument") {
    this.#strings = values.map((v) => cString(v, what));
    this.#pointers = new BigUint64Array(values.length + 1);
    this.#strings.forEach((s, i) => {
      this.#pointers[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)));
    });
  }

  /** The `char *[]` array, as a buffer argument. */
  get buffer(): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.#pointers.buffer);
  }

  /** How many strings the array holds (excluding the NULL terminator). */
  get length(): number {
    return this.#strings.length;
  }
}

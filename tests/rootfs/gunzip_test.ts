import assert from "node:assert/strict";
import { gunzip, GzipError } from "../../rootfs/gunzip.ts";
import { GzipInflater } from "../../ffi/zlib.ts";
import { ALPINE_320 } from "../helpers/tinyo.ts";

const encoder = new TextEncoder();

/** Compresses `data` with the system's gzip command (one member). */
async function systemGzip(dir: string, data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const path = await Deno.makeTempFile({ dir, prefix: "plain-" });
  await Deno.writeFile(path, data);
  const { code, stdout, stderr } = await new Deno.Command("gzip", { args: ["-c", "-n", "-6", path] })
    .output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return stdout;
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinyo-gunzip-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A deterministic xorshift32 generator, so failures can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return function next(): number {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** `size` bytes alternating pseudo-random runs and repeated text. */
function mixedData(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const next = prng(seed);
  const out = new Uint8Array(size);
  const text = encoder.encode("tinyo unpacks images with zlib; ");
  let at = 0;
  while (at < size) {
    const run = Math.min(size - at, 1 + (next() % 70000));
    if (next() % 2 === 0) {
      for (let i = 0; i < run; i++) out[at + i] = next() & 0xff;
    } else {
      for (let i = 0; i < run; i++) out[at + i] = text[i % text.length]!;
    }
    at += run;
  }
  return out;
}

/** `bytes` as a stream of chunks whose sizes `sizes()` picks. */
function chunked(bytes: Uint8Array, sizes: () => number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller): void {
      if (at >= bytes.length) return controller.close();
      const n = Math.max(1, sizes());
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return concat(...parts);
}

async function inflate(
  bytes: Uint8Array,
  sizes: () => number = () => 65536,
): Promise<Uint8Array<ArrayBuffer>> {
  return await collect(gunzip(chunked(bytes, sizes)));
}

async function refuses(bytes: Uint8Array, pattern: RegExp, sizes?: () => number): Promise<GzipError> {
  let caught: GzipError | undefined;
  await assert.rejects(() => inflate(bytes, sizes), (e: unknown) => {
    assert.ok(e instanceof GzipError, String(e));
    assert.match(e.message, pattern);
    caught = e;
    return true;
  });
  return caught!;
}

Deno.test("gunzip() round-trips a single member made by gzip", async () => {
  await withTempDir(async (dir) => {
    const plain = encoder.encode("hello, gzip\n".repeat(1000));
    assert.deepEqual(await inflate(await systemGzip(dir, plain)), plain);
  });
});

Deno.test("gunzip() decodes two concatenated members (cat a.gz b.gz) to both outputs", async () => {
  await withTempDir(async (dir) => {
    const a = encoder.encode("first member\n".repeat(500));
    const b = mixedData(100_000, 7);
    const gz = concat(await systemGzip(dir, a), await systemGzip(dir, b));
    assert.deepEqual(await inflate(gz), concat(a, b));
  });
});

Deno.test("gunzip() decodes three members fed 1 byte at a time and in random chunk sizes", async () => {
  await withTempDir(async (dir) => {
    const parts = [mixedData(30_000, 1), new Uint8Array(0), mixedData(50_000, 2)];
    const gz = concat(...await Promise.all(parts.map((p) => systemGzip(dir, p))));
    const plain = concat(...parts);
    assert.deepEqual(await inflate(gz, () => 1), plain);
    for (const seed of [1, 2, 3, 4, 5]) {
      const next = prng(seed);
      assert.deepEqual(await inflate(gz, () => 1 + (next() % 3000)), plain, `seed ${seed}`);
    }
  });
});

Deno.test("gunzip() refuses a wrong CRC-32 in the trailer", async () => {
  await withTempDir(async (dir) => {
    const gz = await systemGzip(dir, mixedData(200_000, 3));
    gz[gz.length - 8]! ^= 0x01;
    const err = await refuses(gz, /^Corrupt gzip data: incorrect data check \(member 1, near byte \d+\)$/);
    assert.equal(err.call, "inflate");
    assert.equal(err.code, "Z_DATA_ERROR");
    assert.equal(err.member, 1);
  });
});

Deno.test("gunzip() refuses a wrong CRC-32 in the second member", async () => {
  await withTempDir(async (dir) => {
    const second = await systemGzip(dir, encoder.encode("second\n"));
    second[second.length - 5]! ^= 0x80;
    const gz = concat(await systemGzip(dir, encoder.encode("first\n")), second);
    const err = await refuses(gz, /incorrect data check \(member 2, /);
    assert.equal(err.member, 2);
  });
});

Deno.test("gunzip() refuses a wrong length (ISIZE) in the trailer", async () => {
  await withTempDir(async (dir) => {
    const gz = await systemGzip(dir, mixedData(10_000, 4));
    gz[gz.length - 1]! ^= 0x40;
    await refuses(gz, /^Corrupt gzip data: incorrect length check \(member 1, /);
  });
});

Deno.test("gunzip() refuses a stream truncated inside a member", async () => {
  await withTempDir(async (dir) => {
    const one = await systemGzip(dir, mixedData(100_000, 5));
    await refuses(one.subarray(0, one.length >> 1), /^Truncated gzip data: the stream ends inside member 1$/);
    // Only the trailer missing: all data is there but its check is not.
    await refuses(one.subarray(0, one.length - 4), /ends inside member 1$/);
    // A second member cut inside its header.
    await refuses(concat(one, one.subarray(0, 5)), /ends inside member 2$/);
  });
});

Deno.test("gunzip() accepts zero bytes after the last member", async () => {
  await withTempDir(async (dir) => {
    const plain = mixedData(20_000, 6);
    const gz = concat(await systemGzip(dir, plain), new Uint8Array(10240));
    assert.deepEqual(await inflate(gz), plain);
    assert.deepEqual(await inflate(gz, () => 1000), plain);
    assert.deepEqual(await inflate(gz, () => 1), plain);
  });
});

Deno.test("gunzip() refuses trailing bytes that are not a gzip member", async () => {
  await withTempDir(async (dir) => {
    const gz = await systemGzip(dir, encoder.encode("payload\n"));
    const junk = await refuses(
      concat(gz, encoder.encode("junk")),
      /^Corrupt gzip data: incorrect header check \(member 2, /,
    );
    assert.equal(junk.member, 2);
    await refuses(
      concat(gz, new Uint8Array(512), encoder.encode("x")),
      /^Corrupt gzip data: non-zero byte in the padding after member 1 \(near byte \d+\)$/,
    );
    await refuses(concat(gz, gz.subarray(0, 1), encoder.encode("junk")), /member 2/);
  });
});

Deno.test("gunzip() refuses data that is not gzip, and empty input", async () => {
  await refuses(
    encoder.encode("ustar and plenty of other bytes"),
    /^Not gzip data: incorrect header check \(member 1, /,
  );
  await refuses(new Uint8Array(0), /^Not gzip data: it is empty$/);
  // zlib format (78 9c) is deflate too, but not gzip.
  await refuses(new Uint8Array([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]), /^Not gzip data/);
});

Deno.test("gunzip() refuses corrupt deflate data inside a member", async () => {
  await withTempDir(async (dir) => {
    const gz = await systemGzip(dir, mixedData(300_000, 8));
    for (const at of [100, gz.length >> 1, gz.length - 20]) {
      const bad = gz.slice();
      bad[at]! ^= 0xff;
      await refuses(bad, /^Corrupt gzip data: .+ \(member 1, near byte \d+\)$/);
    }
  });
});

Deno.test("gunzip() round-trips several MiB byte for byte", async () => {
  await withTempDir(async (dir) => {
    const plain = mixedData(6 * 1024 * 1024, 9);
    const gz = await systemGzip(dir, plain);
    const next = prng(10);
    const out = await inflate(gz, () => 1 + (next() % 200_000));
    assert.equal(out.length, plain.length);
    assert.ok(out.every((b, i) => b === plain[i]), "output differs");
  });
});

Deno.test("gunzip() cancels its input when the output is cancelled", async () => {
  await withTempDir(async (dir) => {
    const gz = await systemGzip(dir, mixedData(2_000_000, 11));
    let cancelled: unknown;
    let at = 0;
    const input = new ReadableStream<Uint8Array>({
      pull(controller): void {
        controller.enqueue(gz.slice(at, at + 4096));
        at += 4096;
      },
      cancel(reason): void {
        cancelled = reason;
      },
    });
    const reader = gunzip(input).getReader();
    assert.equal((await reader.read()).done, false);
    await reader.cancel("enough");
    assert.equal(cancelled, "enough");
  });
});

Deno.test("GzipInflater counts members, rethrows its failure and closes idempotently", async () => {
  await withTempDir(async (dir) => {
    const gz = await systemGzip(dir, encoder.encode("abc"));
    const z = new GzipInflater();
    try {
      assert.deepEqual(concat(...z.push(concat(gz, gz, gz))), encoder.encode("abcabcabc"));
      assert.equal(z.members, 3);
      z.finish();
    } finally {
      z.close();
      z.close();
    }
    assert.throws(() => z.push(gz), /Cannot decode gzip data: the inflater is closed/);

    const bad = new GzipInflater();
    let first: unknown;
    try {
      bad.push(encoder.encode("nope"));
    } catch (err) {
      first = err;
    }
    assert.ok(first instanceof GzipError, String(first));
    assert.equal(first.code, "Z_DATA_ERROR");
    assert.throws(() => bad.finish(), (e: unknown) => e === first);
    bad.close();
  });
});

const HAVE_ALPINE = await Deno.stat(ALPINE_320).then(() => true, () => false);

Deno.test(
  "gunzip() matches DecompressionStream on the Alpine tarball (prints both timings)",
  { ignore: !HAVE_ALPINE },
  async () => {
    async function timed(decode: (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>): Promise<
      { ms: number; out: Uint8Array<ArrayBuffer> }
    > {
      const start = performance.now();
      using file = await Deno.open(ALPINE_320);
      const out = await collect(decode(file.readable));
      return { ms: performance.now() - start, out };
    }
    function web(s: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
      return s.pipeThrough(
        new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
      );
    }
    const zlibTimes: number[] = [];
    const webTimes: number[] = [];
    for (let i = 0; i < 7; i++) {
      const a = await timed(gunzip);
      const b = await timed(web);
      if (i === 0) {
        assert.ok(a.out.length === b.out.length && a.out.every((x, j) => x === b.out[j]), "outputs differ");
      }
      zlibTimes.push(a.ms);
      webTimes.push(b.ms);
    }
    function summary(times: number[]): string {
      const sorted = [...times].sort((x, y) => x - y);
      return `first ${times[0]!.toFixed(1)} ms, best ${sorted[0]!.toFixed(1)} ms, median ${
        sorted[sorted.length >> 1]!.toFixed(1)
      } ms`;
    }
    // deno-lint-ignore no-console
    console.log(
      `\n  gunzip (zlib FFI):    ${summary(zlibTimes)}\n  DecompressionStream:  ${summary(webTimes)}`,
    );
  },
);

Deno.test(
  "gunzip() refuses the Alpine tarball with a wrong CRC-32 although its tar data is intact",
  { ignore: !HAVE_ALPINE },
  async () => {
    const gz = await Deno.readFile(ALPINE_320);
    gz[gz.length - 7]! ^= 0x10;
    await refuses(gz, /^Corrupt gzip data: incorrect data check \(member 1, near byte \d+\)$/);
  },
);

/**
 * `tinyo unpack TARBALL DIR`: the image extractor on its own, for
 * experiments and for testing it. TARBALL may be `-` for stdin; gzip is
 * detected from the data. DIR must not exist or be empty. On any error the
 * partial result is removed (DIR itself too when tinyo created it).
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs } from "./args.ts";
import { ImageError, UsageError } from "../errors.ts";
import { fsCalls, O } from "../syscalls.ts";
import { untar, UntarError } from "../../rootfs/mod.ts";
import { parseSize } from "../model/units.ts";

const OPTIONS: readonly OptionSpec[] = [
  {
    long: "max-size",
    value: true,
    arg: "BYTES",
    help: "Refuse archives expanding past BYTES (k/m/g suffixes; default 8g)",
  },
  { long: "help", help: "Show this help" },
];

/** Help text of `tinyo unpack`. */
export const UNPACK_HELP = `Usage: tinyo unpack [OPTIONS] TARBALL DIR

Extract a tar archive (.tar.gz or .tar; - for stdin) into DIR with tinyo's
extractor: nothing is ever written outside DIR, whatever the archive holds.

Options:
${formatOptions(OPTIONS)}`;

/** `tinyo unpack`: returns the exit code. */
export async function unpackCommand(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS, "unpack");
  if (p.flags.has("help")) {
    // deno-lint-ignore no-console
    console.log(UNPACK_HELP);
    return 0;
  }
  if (p.rest.length !== 2) {
    throw new UsageError("tinyo unpack: expected TARBALL and DIR (see 'tinyo unpack --help')");
  }
  const [source, dir] = p.rest as [string, string];
  const maxSize = p.values.get("max-size")?.at(-1);
  let created = false;
  try {
    Deno.mkdirSync(dir, { mode: 0o755 });
    created = true;
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) {
      Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
      created = true;
    }
  }
  // The directory is opened once, without following a symlink, and every
  // later step (the emptiness check, the extraction, the clean-up after a
  // failure) goes through that descriptor: whoever else can write to its
  // parent cannot swap it for a link to "/" in between.
  let dirFd: number;
  try {
    dirFd = fsCalls.open(dir, O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC);
  } catch (err) {
    throw new UsageError(`tinyo unpack: "${dir}" is not a directory (${(err as Error).message})`);
  }
  const at = `/proc/self/fd/${dirFd}`;
  try {
    if ([...Deno.readDirSync(at)].length > 0) throw new UsageError(`tinyo unpack: "${dir}" is not empty`);
    let input: ReadableStream<Uint8Array>;
    try {
      input = source === "-" ? Deno.stdin.readable : (await Deno.open(source)).readable;
    } catch (err) {
      if (created) Deno.removeSync(dir);
      throw new ImageError(
        `Cannot read "${source}": ${
          err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message
        }`,
      );
    }
    try {
      const r = await untar(
        input,
        at,
        maxSize === undefined ? {} : { maxBytes: parseSize(maxSize, "--max-size") },
      );
      // deno-lint-ignore no-console
      console.error(`tinyo: unpacked ${r.entries} entries, ${r.bytes} bytes into ${dir}`);
      return 0;
    } catch (err) {
      // Remove the partial result, keeping a directory the user made.
      for (const e of Deno.readDirSync(at)) Deno.removeSync(`${at}/${e.name}`, { recursive: true });
      if (created) Deno.removeSync(dir);
      if (err instanceof UntarError) throw new ImageError(`Cannot unpack "${source}": ${err.message}`);
      throw err;
    }
  } finally {
    fsCalls.close(dirFd);
  }
}

/**
 * Image commands: `pull`, `import`, `images`, `rmi`.
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs } from "./args.ts";
import { progressReporter } from "./progress.ts";
import { formatBytes } from "./progress.ts";
import { ImageError, UsageError } from "../errors.ts";
import type { Layout } from "../host/records.ts";
import { listRecords } from "../host/records.ts";
import { isAlive } from "../host/proc.ts";
import {
  DEFAULT_MIRROR,
  defaultImportRef,
  formatRef,
  imageVersion,
  importTarball,
  listImageDigests,
  listRefs,
  parseRef,
  pullAlpine,
  readRef,
  type RefRecord,
  removeImage,
  removeRef,
} from "../../rootfs/mod.ts";

/** `--allow-http`, shared by `pull` and `run`. */
export const ALLOW_HTTP_OPTION: OptionSpec = {
  long: "allow-http",
  help: "Accept a plain-http mirror; anyone on the way could change the download (env TINYO_ALLOW_HTTP=1)",
};

/** `--allow-http`, or TINYO_ALLOW_HTTP=1 in the environment. */
export function allowHttpFrom(flag: boolean): boolean {
  return flag || Deno.env.get("TINYO_ALLOW_HTTP") === "1";
}

/** The mirror: --mirror, else TINYO_ALPINE_MIRROR, else the official CDN. */
export function mirrorFrom(flag: string | undefined): string {
  return flag ?? Deno.env.get("TINYO_ALPINE_MIRROR") ?? DEFAULT_MIRROR;
}

function say(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

const PULL_OPTIONS: readonly OptionSpec[] = [
  {
    long: "mirror",
    value: true,
    arg: "URL",
    help: `Alpine mirror (env TINYO_ALPINE_MIRROR; default ${DEFAULT_MIRROR})`,
  },
  ALLOW_HTTP_OPTION,
  { long: "quiet", short: "q", help: "No progress output" },
  { long: "help", help: "Show this help" },
];

/** `tinyo pull alpine[:TAG]`. */
export async function pullCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, PULL_OPTIONS, "pull");
  if (p.flags.has("help")) {
    say(`Usage: tinyo pull [OPTIONS] alpine[:TAG]

Download an Alpine minirootfs into the image cache, verified against the
mirror's sha256. TAG: latest-stable (default), edge, a branch (3.20) or a
version (3.20.3).

Options:
${formatOptions(PULL_OPTIONS)}`);
    return 0;
  }
  if (p.rest.length !== 1) {
    throw new UsageError("tinyo pull: expected one image, e.g. alpine:3.20 (see 'tinyo pull --help')");
  }
  const ref = parseRef(p.rest[0]!);
  const onProgress = progressReporter({ quiet: p.flags.has("quiet") });
  const result = await pullAlpine(layout.imagesDir, ref, {
    mirror: mirrorFrom(p.values.get("mirror")?.at(-1)),
    allowHttp: allowHttpFrom(p.flags.has("allow-http")),
    ...(onProgress ? { onProgress } : {}),
  });
  say(
    `${formatRef(ref)}: ${
      result.downloaded ? "pulled" : "already up to date"
    } (alpine ${result.release.version}, sha256 ${result.release.sha256.slice(0, 12)})`,
  );
  return 0;
}

const IMPORT_OPTIONS: readonly OptionSpec[] = [
  { long: "sha256", value: true, arg: "HEX", help: "Refuse the tarball unless its sha256 is HEX" },
  { long: "quiet", short: "q", help: "Print only the image id" },
  { long: "help", help: "Show this help" },
];

/** `tinyo import TARBALL [NAME[:TAG]]`. */
export async function importCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, IMPORT_OPTIONS, "import");
  if (p.flags.has("help")) {
    say(`Usage: tinyo import [OPTIONS] TARBALL [NAME[:TAG]]

Register a local minirootfs tarball as an image, for machines without
internet access. The default name of alpine-minirootfs-3.20.3-x86_64.tar.gz
is alpine:3.20.3.

Options:
${formatOptions(IMPORT_OPTIONS)}`);
    return 0;
  }
  if (p.rest.length < 1 || p.rest.length > 2) {
    throw new UsageError("tinyo import: expected TARBALL [NAME[:TAG]] (see 'tinyo import --help')");
  }
  const [path, name] = p.rest as [string, string | undefined];
  const ref = name === undefined ? defaultImportRef(path) : parseRef(name);
  const sha = p.values.get("sha256")?.at(-1);
  const rec = await importTarball(
    layout.imagesDir,
    path,
    ref,
    sha === undefined ? {} : { expectedSha256: sha },
  );
  say(p.flags.has("quiet") ? rec.sha256 : `${formatRef(ref)}: imported (sha256 ${rec.sha256.slice(0, 12)})`);
  return 0;
}

/** "3 minutes ago". */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} seconds ago`;
  const units: [number, string][] = [[86400 * 365, "year"], [86400 * 30, "month"], [86400 * 7, "week"], [
    86400,
    "day",
  ], [
    3600,
    "hour",
  ], [60, "minute"]];
  for (const [n, name] of units) {
    if (s >= n) {
      const v = Math.floor(s / n);
      return `${v} ${name}${v === 1 ? "" : "s"} ago`;
    }
  }
  return `${s} seconds ago`;
}

interface ImageRow {
  name: string;
  tag: string;
  version: string;
  arch: string;
  id: string;
  size: number;
  unpackedBytes: number;
  created: string;
  source: string;
}

function imageRows(imagesDir: string): ImageRow[] {
  const rows: ImageRow[] = [];
  const referenced = new Set<string>();
  const metaOf = (sha: string): { bytes?: number; size?: number; unpackedAt?: string; source?: string } => {
    try {
      return JSON.parse(Deno.readTextFileSync(`${imagesDir}/${sha}/image.json`));
    } catch {
      return {};
    }
  };
  for (const r of listRefs(imagesDir)) {
    referenced.add(r.sha256);
    const meta = metaOf(r.sha256);
    rows.push({
      name: r.name,
      tag: r.tag,
      version: r.version ?? "",
      arch: r.arch,
      id: r.sha256,
      size: r.size,
      unpackedBytes: r.unpackedBytes ?? meta.bytes ?? 0,
      created: r.created,
      source: r.source,
    });
  }
  // Images unpacked from a tarball path, with no name.
  for (const sha of listImageDigests(imagesDir)) {
    if (referenced.has(sha)) continue;
    const meta = metaOf(sha);
    const version = imageVersion(`${imagesDir}/${sha}/rootfs`) ?? "";
    rows.push({
      name: "<none>",
      tag: "<none>",
      version,
      arch: "",
      id: sha,
      size: meta.size ?? 0,
      unpackedBytes: meta.bytes ?? 0,
      created: meta.unpackedAt ?? "",
      source: meta.source ?? "",
    });
  }
  return rows;
}

const IMAGES_OPTIONS: readonly OptionSpec[] = [
  { long: "format", value: true, arg: "table|json", help: "Output format (default table)" },
  { long: "quiet", short: "q", help: "Print only image ids" },
  { long: "help", help: "Show this help" },
];

/** `tinyo images`. */
export function imagesCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, IMAGES_OPTIONS, "images");
  if (p.flags.has("help")) {
    say(`Usage: tinyo images [OPTIONS]\n\nList cached images.\n\nOptions:\n${formatOptions(IMAGES_OPTIONS)}`);
    return 0;
  }
  if (p.rest.length > 0) throw new UsageError(`tinyo images: unexpected argument "${p.rest[0]}"`);
  const format = p.values.get("format")?.at(-1) ?? "table";
  if (format !== "table" && format !== "json") {
    throw new UsageError(`tinyo images: unknown --format "${format}" (table or json)`);
  }
  const rows = imageRows(layout.imagesDir);
  if (p.flags.has("quiet")) {
    for (const id of new Set(rows.map((r) => r.id.slice(0, 12)))) say(id);
    return 0;
  }
  if (format === "json") {
    say(JSON.stringify(rows, null, 2));
    return 0;
  }
  const table = [
    ["REPOSITORY", "TAG", "VERSION", "ARCH", "IMAGE ID", "SIZE", "CREATED"],
    ...rows.map((r) => [
      r.name,
      r.tag,
      r.version,
      r.arch,
      r.id.slice(0, 12),
      formatBytes(r.unpackedBytes),
      r.created ? ago(r.created) : "",
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) say(row.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd());
  return 0;
}

/** Containers (live owners) using image `sha256`. */
function usersOf(layout: Layout, sha256: string): string[] {
  return listRecords(layout).filter((r) => r.image === sha256 && isAlive(r.ownerPid, r.ownerStartTime)).map((
    r,
  ) => r.id.slice(0, 12));
}

/** `tinyo rmi NAME[:TAG]|ID...`. */
export function rmiCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, [{ long: "help", help: "Show this help" }], "rmi");
  if (p.flags.has("help")) {
    say(
      "Usage: tinyo rmi IMAGE...\n\nRemove images by NAME[:TAG] or IMAGE ID (a prefix of 4 or more hex digits).",
    );
    return 0;
  }
  if (p.rest.length === 0) {
    throw new UsageError("tinyo rmi: expected at least one image (see 'tinyo rmi --help')");
  }
  const dir = layout.imagesDir;
  let failed = 0;
  for (const arg of p.rest) {
    try {
      let refs: RefRecord[];
      let sha: string;
      const byName = /^[0-9a-f]{4,64}$/.test(arg) ? undefined : parseRef(arg);
      if (byName !== undefined) {
        const rec = readRef(dir, byName.name, byName.tag);
        if (rec === undefined) throw new ImageError(`No such image "${formatRef(byName)}"`);
        refs = [rec];
        sha = rec.sha256;
      } else {
        const matches = listImageDigests(dir).filter((d) => d.startsWith(arg));
        if (matches.length === 0) throw new ImageError(`No such image "${arg}"`);
        if (matches.length > 1) {
          throw new ImageError(`Image id "${arg}" is ambiguous: it matches ${matches.length} images`);
        }
        sha = matches[0]!;
        refs = listRefs(dir).filter((r) => r.sha256 === sha);
      }
      const others = listRefs(dir).filter((r) =>
        r.sha256 === sha && !refs.some((x) => x.name === r.name && x.tag === r.tag)
      );
      const users = usersOf(layout, sha);
      if (others.length === 0 && users.length > 0) {
        throw new ImageError(`Cannot remove image "${arg}": it is in use by container ${users.join(", ")}`);
      }
      for (const r of refs) {
        removeRef(dir, r.name, r.tag);
        say(`Untagged: ${r.name}:${r.tag}`);
      }
      if (others.length === 0) {
        removeImage(dir, sha);
        say(`Deleted: ${sha}`);
      }
    } catch (err) {
      if (!(err instanceof ImageError) || p.rest.length === 1) throw err;
      // deno-lint-ignore no-console
      console.error(`tinyo: ${err.message}`);
      failed++;
    }
  }
  return failed > 0 ? 125 : 0;
}

/**
 * Alpine releases: image references (`alpine[:TAG]`), mirror URLs, and the
 * release index (`latest-releases.yaml`) that lists each flavor's file,
 * version and sha256 for one branch and architecture.
 *
 *     <mirror>/alpine/<branch>/releases/<arch>/latest-releases.yaml
 *     <mirror>/alpine/<branch>/releases/<arch>/alpine-minirootfs-<ver>-<arch>.tar.gz[.sha256]
 *
 * @module
 */

/** The official Alpine CDN. */
export const DEFAULT_MIRROR = "https://dl-cdn.alpinelinux.org";

/** A parsed image reference. */
export interface ImageRef {
  name: string;
  tag: string;
}

/** A release of the minirootfs flavor for one architecture. */
export interface AlpineRelease {
  branch: string;
  version: string;
  arch: string;
  file: string;
  size: number;
  sha256: string;
  /** Where to download it. */
  url: string;
}

/** A reference problem (bad syntax, unknown tag). */
export class RefError extends Error {
  override name = "RefError";
}

const REF = /^([a-z0-9][a-z0-9._-]*)(?::([A-Za-z0-9][A-Za-z0-9._-]*))?$/;

/** True when `value` has the shape of an image reference (not a path). */
export function looksLikeRef(value: string): boolean {
  return REF.test(value) && !value.endsWith(".tar") && !value.endsWith(".gz") && !value.endsWith(".tgz");
}

/** Parses `NAME[:TAG]`; the tag defaults to `latest-stable` for alpine, `latest` otherwise. */
export function parseRef(value: string): ImageRef {
  const m = REF.exec(value);
  if (m === null) {
    throw new RefError(
      `Invalid image reference "${value}": expected NAME[:TAG] (lower-case name; letters, digits, '.', '_', '-')`,
    );
  }
  const name = m[1]!;
  return { name, tag: m[2] ?? (name === "alpine" ? "latest-stable" : "latest") };
}

/** `NAME:TAG`. */
export function formatRef(ref: ImageRef): string {
  return `${ref.name}:${ref.tag}`;
}

/** Alpine's name for the host architecture. */
export function hostArch(): string {
  return Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
}

/**
 * What to fetch for an Alpine tag: the release branch, and the exact
 * version when the tag names one (3.20.3), else undefined (3.20, edge, ...).
 */
export function branchForTag(tag: string): { branch: string; version?: string } {
  if (tag === "latest-stable" || tag === "latest") return { branch: "latest-stable" };
  if (tag === "edge") return { branch: "edge" };
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(tag);
  if (m === null) {
    throw new RefError(
      `Unknown alpine tag "${tag}": use latest-stable, edge, a branch (3.20) or a version (3.20.3)`,
    );
  }
  const branch = `v${m[1]}.${m[2]}`;
  return m[3] === undefined ? { branch } : { branch, version: `${m[1]}.${m[2]}.${m[3]}` };
}

/** The release directory of a branch and architecture on a mirror. */
export function releasesUrl(mirror: string, branch: string, arch: string): string {
  return `${mirror.replace(/\/+$/, "")}/alpine/${branch}/releases/${arch}`;
}

/**
 * Parses `latest-releases.yaml`: a YAML list of flat maps, one per flavor.
 * Only that shape is understood (no nesting, anchors or multi-line values
 * beyond quoted strings), which is all Alpine writes.
 */
export function parseReleaseIndex(text: string): Record<string, string>[] {
  const items: Record<string, string>[] = [];
  let current: Record<string, string> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+$/, "");
    if (line === "" || line === "---" || line.startsWith("#")) continue;
    const item = /^-\s*(.*)$/.exec(line);
    let body = line;
    if (item !== null) {
      current = {};
      items.push(current);
      body = item[1]!;
      if (body === "") continue;
    }
    const kv = /^\s*([A-Za-z0-9_-]+):\s?(.*)$/.exec(body);
    if (kv === null || current === undefined) continue;
    let value = kv[2]!.trim();
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
    }
    current[kv[1]!] = value;
  }
  return items;
}

/** A version as Alpine writes them (3.20.3, 3.21.0_rc1, 20240923): nothing that could be a path. */
const VERSION = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,39}$/;

/**
 * Finds the minirootfs release in a parsed index. Every field of the index
 * is the mirror's to choose, and a hostile mirror chooses
 * `file: ../../../../etc/cron.d/x`: only a plain minirootfs file name for
 * this architecture is accepted (it becomes a path on this host), and the
 * version must look like one.
 *
 * @throws {RefError} naming the field a hostile or broken index got wrong.
 */
export function findMinirootfs(
  items: Record<string, string>[],
  arch: string,
  baseUrl: string,
): AlpineRelease | undefined {
  const it = items.find((i) => i.flavor === "alpine-minirootfs" && (i.arch ?? arch) === arch);
  if (it?.file === undefined || it.version === undefined || !/^[0-9a-f]{64}$/.test(it.sha256 ?? "")) {
    return undefined;
  }
  if (!VERSION.test(it.version)) {
    throw new RefError(
      `The mirror's release index gives an unacceptable version ${JSON.stringify(it.version.slice(0, 60))}`,
    );
  }
  if (it.file !== minirootfsFile(it.version, arch)) {
    throw new RefError(
      `The mirror's release index gives an unacceptable file name ${JSON.stringify(it.file.slice(0, 80))} ` +
        `(expected ${minirootfsFile(it.version, arch)})`,
    );
  }
  return {
    branch: it.branch ?? "",
    version: it.version,
    arch,
    file: it.file,
    size: /^\d{1,15}$/.test(it.size ?? "") ? Number(it.size) : 0,
    sha256: it.sha256!,
    url: `${baseUrl}/${it.file}`,
  };
}

/** The minirootfs file name of a version. */
export function minirootfsFile(version: string, arch: string): string {
  return `alpine-minirootfs-${version}-${arch}.tar.gz`;
}

/**
 * Checks a mirror URL: https, or plain http only when the user allowed it
 * (over plain http anyone on the path can swap the index and the tarball
 * together, checksum included).
 *
 * @throws {RefError} for other schemes and for http without `allowHttp`.
 */
export function checkMirror(mirror: string, allowHttp: boolean): void {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new RefError(`Invalid mirror "${mirror}": not a URL`);
  }
  if (url.protocol === "https:") return;
  if (url.protocol === "http:") {
    if (allowHttp) return;
    throw new RefError(
      `Refusing mirror "${mirror}": plain http lets anyone on the way change what is downloaded ` +
        "(use https, or pass --allow-http to accept that)",
    );
  }
  throw new RefError(`Invalid mirror "${mirror}": only https (or http with --allow-http) is supported`);
}

/**
 * Image references (`alpine:3.20`, `mybase:1`) → cached images. One small
 * JSON file per reference, written atomically:
 *
 *     <imagesDir>/.refs/<name>/<tag>.json
 *
 * Several references may point at the same unpacked image (`alpine:3.20`
 * and `alpine:latest-stable`); the image is removed with its last reference.
 *
 * @module
 */

/** What a reference points at. */
export interface RefRecord {
  name: string;
  tag: string;
  /** sha256 of the tarball, the cache key. */
  sha256: string;
  /** Alpine version (from the release index or /etc/alpine-release). */
  version?: string;
  arch: string;
  /** Size of the tarball in bytes. */
  size: number;
  /** Unpacked data bytes. */
  unpackedBytes?: number;
  /** Where it came from: a URL or a file path. */
  source: string;
  /** When it was pulled or imported (ISO 8601). */
  created: string;
}

function refPath(imagesDir: string, name: string, tag: string): string {
  return `${imagesDir}/.refs/${name}/${tag}.json`;
}

/** Saves a reference atomically. */
export function saveRef(imagesDir: string, rec: RefRecord): void {
  const path = refPath(imagesDir, rec.name, rec.tag);
  Deno.mkdirSync(`${imagesDir}/.refs/${rec.name}`, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(rec, null, 2) + "\n");
  Deno.renameSync(tmp, path);
}

/** Reads a reference, or undefined. */
export function readRef(imagesDir: string, name: string, tag: string): RefRecord | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(refPath(imagesDir, name, tag))) as RefRecord;
  } catch {
    return undefined;
  }
}

/** All references, sorted by name then tag. */
export function listRefs(imagesDir: string): RefRecord[] {
  const out: RefRecord[] = [];
  let names: Deno.DirEntry[];
  try {
    names = [...Deno.readDirSync(`${imagesDir}/.refs`)];
  } catch {
    return out;
  }
  for (const n of names) {
    for (const f of Deno.readDirSync(`${imagesDir}/.refs/${n.name}`)) {
      if (!f.name.endsWith(".json")) continue;
      const rec = readRef(imagesDir, n.name, f.name.slice(0, -5));
      if (rec !== undefined) out.push(rec);
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.tag.localeCompare(b.tag));
}

/** Removes a reference; returns whether it existed. */
export function removeRef(imagesDir: string, name: string, tag: string): boolean {
  try {
    Deno.removeSync(refPath(imagesDir, name, tag));
  } catch {
    return false;
  }
  try {
    Deno.removeSync(`${imagesDir}/.refs/${name}`);
  } catch {
    // Other tags remain.
  }
  return true;
}

/** Removes an unpacked image and the digest memos that point at it. */
export function removeImage(imagesDir: string, sha256: string): void {
  try {
    Deno.removeSync(`${imagesDir}/${sha256}`, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  try {
    for (const e of Deno.readDirSync(`${imagesDir}/.digests`)) {
      const p = `${imagesDir}/.digests/${e.name}`;
      try {
        if (Deno.readTextFileSync(p).trim() === sha256) Deno.removeSync(p);
      } catch {
        // Removed meanwhile.
      }
    }
  } catch {
    // No memos.
  }
}

/** The sha256 of every image in the cache. */
export function listImageDigests(imagesDir: string): string[] {
  try {
    return [...Deno.readDirSync(imagesDir)].map((e) => e.name).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return [];
  }
}

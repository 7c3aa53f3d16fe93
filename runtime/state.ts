/**
 * Where tinyo keeps things, container records, and cleaning up after
 * runtimes that were killed.
 *
 * Layout (relocated as a whole by `--root DIR` / TINYO_ROOT):
 *
 *     /var/lib/tinyo/images/<sha256>/rootfs   unpacked images (the cache)
 *     /var/lib/tinyo/containers/<id>/         config.json, hostname, hosts,
 *                                             resolv.conf, upper/, work/, rootfs/
 *     /run/tinyo/<id>.json                    the container's state record
 *
 * With `--root DIR`: DIR/images, DIR/containers and DIR/state.
 *
 * Records are written atomically (temporary file, then rename), and a
 * record's status is derived from facts (is the runtime that owns it alive,
 * with the same start time) rather than trusted.
 *
 * @module
 */

import { isAlive, processStartTime } from "./proc.ts";
import { OCI_VERSION } from "./spec.ts";
import { removeCgroupDirs } from "./cgroups/mod.ts";

/** The directories tinyo uses. */
export interface Layout {
  imagesDir: string;
  containersDir: string;
  stateDir: string;
  /** The --root / TINYO_ROOT it came from, if any (passed on to helpers). */
  root?: string;
}

/** The layout for `root` (from --root or TINYO_ROOT), or the default one. */
export function resolveLayout(root?: string): Layout {
  if (root !== undefined && root !== "") {
    const r = root.replace(/\/+$/, "") || "/";
    return { imagesDir: `${r}/images`, containersDir: `${r}/containers`, stateDir: `${r}/state`, root: r };
  }
  return {
    imagesDir: "/var/lib/tinyo/images",
    containersDir: "/var/lib/tinyo/containers",
    stateDir: "/run/tinyo",
  };
}

/** A container's record: the OCI state fields plus what tinyo needs to clean up. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  status: "creating" | "created" | "running" | "stopped";
  /** Host pid of the container's init / PID 1, once known. */
  pid?: number;
  /** The bundle directory (config.json and the container's files). */
  bundle: string;
  created: string;
  annotations?: Record<string, string>;
  /** The tinyo process that owns (waits for) the container. */
  ownerPid: number;
  ownerStartTime?: number;
  /** Start time of `pid`, for PID-reuse safe liveness checks. */
  pidStartTime?: number;
  /** sha256 of the cached image the container runs on, if any. */
  image?: string;
  /** The container's cgroup directories, removed with it. */
  cgroups?: string[];
  /** The container's name (`--name`), unique among live containers. */
  name?: string;
  /** What the user named as the image, and the command. */
  imageRef?: string;
  command?: string[];
  /** Detached (`run -d`): kept after it ends, until `rm`; owned by its monitor. */
  detached?: boolean;
  /** Remove the container when it ends (`--rm`). */
  autoRemove?: boolean;
  /** When the command started and ended, and its exit code, once known. */
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
}

/** Path of a container's record. */
export function recordPath(layout: Layout, id: string): string {
  return `${layout.stateDir}/${id}.json`;
}

/** Writes `record` atomically: a temporary file in the same directory, then rename. */
export function writeRecord(layout: Layout, record: ContainerRecord): void {
  Deno.mkdirSync(layout.stateDir, { recursive: true, mode: 0o700 });
  const path = recordPath(layout, record.id);
  const tmp = `${layout.stateDir}/.${record.id}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  Deno.renameSync(tmp, path);
}

/** Reads a record, or undefined when there is none (or it is unreadable). */
export function readRecord(layout: Layout, id: string): ContainerRecord | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(recordPath(layout, id))) as ContainerRecord;
  } catch {
    return undefined;
  }
}

/** Every readable record. */
export function listRecords(layout: Layout): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  for (const name of listDir(layout.stateDir)) {
    if (!name.endsWith(".json") || name.startsWith(".")) continue;
    const rec = readRecord(layout, name.slice(0, -5));
    if (rec !== undefined) out.push(rec);
  }
  return out;
}

/** A new record owned by this process. */
export function newRecord(id: string, bundle: string): ContainerRecord {
  const ownerStartTime = processStartTime(Deno.pid);
  return {
    ociVersion: OCI_VERSION,
    id,
    status: "creating",
    bundle,
    created: new Date().toISOString(),
    ownerPid: Deno.pid,
    ...(ownerStartTime === undefined ? {} : { ownerStartTime }),
  };
}

/** Removes a path and everything below it; a missing path is fine. */
export function removeTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Removes a container's directory and record. */
export function removeContainer(layout: Layout, id: string): void {
  removeTree(`${layout.containersDir}/${id}`);
  removeTree(recordPath(layout, id));
}

function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Cleans what runtimes killed with SIGKILL (or a reboot) left behind:
 * records whose owner is gone (their container died with them through the
 * parent-death signal; any survivor is killed), container directories with
 * no record, and temporary files of dead writers. Live containers of other
 * runtimes are never touched.
 *
 * @returns The ids of containers removed.
 */
export function collectGarbage(layout: Layout): string[] {
  const removed: string[] = [];
  const live = new Set<string>();
  for (const name of listDir(layout.stateDir)) {
    const tmp = /^\.(.+)\.(\d+)\.tmp$/.exec(name);
    if (tmp !== null) {
      if (!isAlive(Number(tmp[2]), undefined)) removeTree(`${layout.stateDir}/${name}`);
      continue;
    }
    if (!name.endsWith(".json")) continue;
    const id = name.slice(0, -5);
    const rec = readRecord(layout, id);
    // Detached containers stay, exited or not, until `tinyo rm`.
    if (rec?.detached || (rec !== undefined && isAlive(rec.ownerPid, rec.ownerStartTime))) {
      live.add(id);
      continue;
    }
    if (rec?.pid !== undefined && isAlive(rec.pid, rec.pidStartTime)) {
      try {
        Deno.kill(rec.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    if (rec?.cgroups !== undefined) removeCgroupDirs(rec.cgroups);
    removeContainer(layout, id);
    removed.push(id);
  }
  for (const id of listDir(layout.containersDir)) {
    if (live.has(id) || removed.includes(id)) continue;
    // A directory whose record is missing: its owner died before writing it,
    // or after removing it. Leave very young ones alone (a runtime may be
    // between the two steps right now).
    try {
      const age = Date.now() - (Deno.statSync(`${layout.containersDir}/${id}`).mtime?.getTime() ?? 0);
      if (readRecord(layout, id) === undefined && age > 60_000) {
        removeTree(`${layout.containersDir}/${id}`);
        removed.push(id);
      }
    } catch {
      // Removed meanwhile.
    }
  }
  return removed;
}

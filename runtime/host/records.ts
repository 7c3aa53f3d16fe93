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
import { OCI_VERSION } from "../model/spec.ts";
import { cgroupInUse, removeCgroupDirs } from "./cgroups.ts";
import { killAndWait } from "./handle.ts";
import { type NetworkRecord, releaseNetwork, sweepNetwork } from "./network.ts";

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
  /**
   * The bundle directory (config.json and the rootfs). For `tinyo run` it is
   * tinyo's own directory for the container; for the OCI CLI, the caller's.
   * tinyo's own files (exec.fifo, its copy of the config, logs) are always in
   * `containerDir(layout, id)`.
   */
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
  /** The cgroup path they share below each hierarchy's root ("/tinyo/ID"). */
  cgroupPath?: string;
  /**
   * false while the cgroup directories are not known to be this
   * container's own (an OCI cgroupsPath may name an existing one): then
   * reaping removes only empty ones and kills nothing in them.
   */
  cgroupsMade?: boolean;
  /** The container's name (`--name`), unique among live containers. */
  name?: string;
  /** What the user named as the image, and the command. */
  imageRef?: string;
  command?: string[];
  /** Detached (`run -d`): kept after it ends, until `rm`; owned by its monitor. */
  detached?: boolean;
  /** Remove the container when it ends (`--rm`). */
  autoRemove?: boolean;
  /**
   * Made through the OCI CLI (`tinyo create`): its caller (conmon,
   * containerd's shim) manages it, and only `tinyo delete` removes it.
   */
  oci?: boolean;
  /**
   * Bridge networking (`tinyo run`): the namespace pin, the veth, the
   * address and published ports, released with the container.
   */
  network?: NetworkRecord;
  /** For the OCI state: the rootfs path, as config.json resolved it. */
  rootfs?: string;
  /** When the command started and ended, and its exit code, once known. */
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
}

/** tinyo's own directory for a container: exec.fifo, its config, logs. */
export function containerDir(layout: Layout, id: string): string {
  return `${layout.containersDir}/${id}`;
}

/** Path of a container's record. */
export function recordPath(layout: Layout, id: string): string {
  return `${layout.stateDir}/${id}.json`;
}

/**
 * Writes `text` to `path` atomically: a new temporary file beside it
 * (O_EXCL: a link or file planted under its name is not written through;
 * a stale one of a dead writer is removed first), then rename(2).
 */
export function writeAtomic(path: string, text: string, mode = 0o644, tmp = `${path}.${Deno.pid}.tmp`): void {
  try {
    Deno.removeSync(tmp);
  } catch {
    // None left over.
  }
  Deno.writeTextFileSync(tmp, text, { createNew: true, mode });
  try {
    Deno.renameSync(tmp, path);
  } catch (err) {
    Deno.removeSync(tmp);
    throw err;
  }
}

/** Writes `record` atomically: a temporary file in the same directory, then rename. */
export function writeRecord(layout: Layout, record: ContainerRecord): void {
  Deno.mkdirSync(layout.stateDir, { recursive: true, mode: 0o700 });
  writeAtomic(
    recordPath(layout, record.id),
    JSON.stringify(record, null, 2) + "\n",
    0o600,
    `${layout.stateDir}/.${record.id}.${Deno.pid}.tmp`,
  );
}

/**
 * Runs `fn` holding the lock that serialises read-modify-write of records
 * (`<state>/.records.lock`): two tinyo processes updating one record (create
 * and start, start and cleanup) would otherwise lose each other's fields.
 */
export function withRecordsLock<T>(layout: Layout, fn: () => T): T {
  return withLockFile(layout.stateDir, ".records.lock", fn);
}

/**
 * Runs `fn` holding an exclusive flock(2) on `dir/name` (the directory made
 * 0700 if missing, the file 0600): tinyo's locks between its processes.
 */
export function withLockFile<T>(dir: string, name: string, fn: () => T): T {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  using file = Deno.openSync(`${dir}/${name}`, { write: true, create: true, mode: 0o600 });
  file.lockSync(true);
  try {
    return fn();
  } finally {
    file.unlockSync();
  }
}

/**
 * Changes a record under the records lock: `fn` gets the current one and
 * returns the new one (undefined: leave it). Returns what was written.
 */
export function updateRecord(
  layout: Layout,
  id: string,
  fn: (rec: ContainerRecord) => ContainerRecord | undefined,
): ContainerRecord | undefined {
  return withRecordsLock(layout, () => {
    const rec = readRecord(layout, id);
    if (rec === undefined) return undefined;
    const next = fn(rec);
    if (next !== undefined) writeRecord(layout, next);
    return next;
  });
}

/** Reads a record, or undefined when there is none (or it is unreadable). */
export function readRecord(layout: Layout, id: string): ContainerRecord | undefined {
  // An id is a file name, never a path (`state ../../x` names nothing), and
  // a record must be the one of the id it is filed under.
  if (!/^[\w+.-]{1,1024}$/.test(id) || id === "." || id === "..") return undefined;
  try {
    const rec = JSON.parse(Deno.readTextFileSync(recordPath(layout, id))) as ContainerRecord;
    return rec?.id === id ? rec : undefined;
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

/** The names in directory `path` (none when it is missing or unreadable). */
export function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * The monitor (conmon) of a container that was never handed to it, if it
 * still runs: its pid file is in the bundle, and its command line names the
 * container (`-c ID`), which a reused pid would not.
 */
function strayMonitor(bundle: string, id: string): { pid: number; start: number } | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(`${bundle}/conmon.pid`).trim());
    const start = processStartTime(pid);
    if (!Number.isInteger(pid) || pid <= 0 || start === undefined) return undefined;
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    return cmdline.includes(id) ? { pid, start } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes everything a container whose owner is gone left behind, in the
 * order that cannot leak: its monitor and processes first (by pidfd, and by
 * killing whatever is in its cgroups, which also finds an init whose pid was
 * never recorded), then its cgroups, and only when those are gone its exit
 * file, directory and record. If a cgroup cannot be removed yet, the record
 * stays, so the next tinyo command tries again: nothing is ever left without
 * a record that names it.
 *
 * @returns false when something is still there (the record is kept).
 */
export function reapContainer(layout: Layout, rec: ContainerRecord): boolean {
  // Killed and waited for: when this returns, none of them is still running.
  const monitor = strayMonitor(containerDir(layout, rec.id), rec.id);
  if (monitor !== undefined) killAndWait(monitor.pid, monitor.start);
  killAndWait(rec.pid, rec.pidStartTime);
  if (rec.cgroupsMade === false) {
    // Not known to be ours: only an empty leaf goes, nothing is killed.
    for (const dir of rec.cgroups ?? []) {
      if (cgroupInUse([dir]) !== undefined) continue;
      try {
        Deno.removeSync(dir);
      } catch {
        // Not there, or not empty after all: left alone.
      }
    }
  } else if (removeCgroupDirs(rec.cgroups ?? [], false, rec.cgroupPath).length > 0) return false;
  if (rec.network !== undefined && !releaseNetworkOf(layout, rec)) return false;
  removeTree(`${layout.stateDir}/exits/${rec.id}`);
  removeContainer(layout, rec.id);
  return true;
}

/**
 * Releases a container's bridge network (rules, veth, namespace pin,
 * lease); false when something could not go yet (the record then stays,
 * and the next tinyo command tries again).
 */
export function releaseNetworkOf(layout: Layout, rec: ContainerRecord): boolean {
  try {
    releaseNetwork(layout, rec.id, rec.network);
    return true;
  } catch {
    return false;
  }
}

/**
 * Cleans what runtimes killed with SIGKILL (or a reboot) left behind:
 * records whose owner is gone (their container died with them through the
 * parent-death signal; any survivor is killed, through a pidfd checked
 * against the recorded start time, never by a bare pid), container
 * directories with no record, exit files and exec configurations of no
 * live process, and temporary files of dead writers. Live containers of
 * other runtimes are never touched.
 *
 * @returns The ids of containers removed.
 */
export function collectGarbage(layout: Layout): string[] {
  const removed: string[] = [];
  const live = new Set<string>();
  for (const name of listDir(layout.stateDir)) {
    const tmp = /^\.(.+)\.(\d+)\.tmp$/.exec(name);
    if (tmp !== null) {
      if (processStartTime(Number(tmp[2])) === undefined) removeTree(`${layout.stateDir}/${name}`);
      continue;
    }
    if (!name.endsWith(".json")) continue;
    const id = name.slice(0, -5);
    const rec = readRecord(layout, id);
    // Detached containers stay, exited or not, until `tinyo rm`; OCI ones
    // until their caller runs `tinyo delete` (as with runc). A record
    // whose owner is alive (same pid and start time) is someone's container.
    if (rec === undefined || rec.detached || rec.oci || isAlive(rec.ownerPid, rec.ownerStartTime)) {
      live.add(id);
      continue;
    }
    if (reapContainer(layout, rec)) removed.push(id);
    else live.add(id);
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
  // Network namespace pins and address leases that no record names.
  sweepNetwork(layout, (id) => live.has(id) || readRecord(layout, id) !== undefined);
  // Exit files conmon wrote for containers that are gone.
  for (const id of listDir(`${layout.stateDir}/exits`)) {
    if (!live.has(id) && readRecord(layout, id) === undefined) removeTree(`${layout.stateDir}/exits/${id}`);
  }
  // Exec configurations (exec-PID-*.json) of tinyo exec processes that died.
  for (const id of live) {
    const bundle = `${layout.containersDir}/${id}`;
    for (const file of listDir(bundle)) {
      const m = /^exec-(\d+)-[0-9a-f]+\.json$/.exec(file);
      if (m !== null && processStartTime(Number(m[1])) === undefined) removeTree(`${bundle}/${file}`);
    }
  }
  return removed;
}

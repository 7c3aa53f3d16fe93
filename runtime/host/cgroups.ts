/**
 * Cgroups: one cgroup per container under a `tinyo` sub-tree, with memory,
 * swap, CPU and pids limits, on either layout:
 *
 * - cgroup v2 (unified; every modern distribution): /sys/fs/cgroup/tinyo/<id>,
 *   controllers enabled in cgroup.subtree_control along the path;
 * - cgroup v1 (one hierarchy per controller, as on hybrid hosts):
 *   /sys/fs/cgroup/<controller>/tinyo/<id> for memory, cpu, cpuacct, pids,
 *   devices and freezer.
 *
 * Device access (runtime/cgroups/devices.ts) is part of creating the cgroup,
 * before any process joins it: the `devices` controller's lists on v1, an
 * eBPF program attached to the cgroup on v2. A layout without device control
 * cannot run a container (unless every device is allowed anyway).
 *
 * The layout is detected at run time from /proc/self/mountinfo: a cgroup2
 * mount at the cgroup root means v2; otherwise the v1 controllers found are
 * used (a hybrid host's cgroup2 mount at .../unified holds no controller we
 * need). Managers take their mount points as parameters, so tests drive them
 * against a fake tree in a temporary directory.
 *
 * Only our own cgroups are created, written and removed; nothing else in the
 * host's hierarchy is touched, and no process but the container's is moved.
 *
 * @module
 */

import { TinyoError } from "../errors.ts";
import type { CgroupResources } from "../model/run_spec.ts";
export type { CgroupResources } from "../model/run_spec.ts";
import { type DeviceRule, v1DeviceWrites } from "../model/devices.ts";
import { attachDeviceFilter } from "./device_filter.ts";
import { pidCalls, SIGNALS } from "../syscalls.ts";

/** Where the hierarchies are mounted. */
export type CgroupLayout =
  | { version: 2; root: string }
  | { version: 1; controllers: Record<string, string> };

/** A container's cgroup, on either layout. */
export interface CgroupManager {
  readonly version: 1 | 2;
  /** The container's cgroup directories (one for v2; one per controller for v1). */
  readonly dirs: string[];
  /**
   * Creates the cgroup, installs the device rules and writes the limits; on
   * failure removes what it made.
   */
  create(resources: CgroupResources, devices: readonly DeviceRule[]): void;
  /** Whether this manager can control device access on this host. */
  readonly deviceControl: boolean;
  /** The cgroup.procs files a process writes "0" into to join. */
  procsFiles(): string[];
  /** How many times the kernel's OOM killer killed a process in the cgroup. */
  oomKills(): number;
  /** CPU time used by the cgroup so far, in microseconds. */
  cpuUsageUsec(): number;
  /** Kills every process in the cgroup and removes it. */
  destroy(): void;
}

/** Controllers tinyo uses on v1. */
export const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids", "devices", "freezer"] as const;

/**
 * Detects the layout from mountinfo text (from /proc/self/mountinfo).
 * Returns undefined when no usable hierarchy is mounted.
 */
export function detectLayout(mountinfo: string, cgroupRoot = "/sys/fs/cgroup"): CgroupLayout | undefined {
  const controllers: Record<string, string> = {};
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (pre === undefined || post === undefined) continue;
    const mountPoint = pre.split(" ")[4]!;
    const [fstype, , superOpts] = post.split(" ");
    if (fstype === "cgroup2" && mountPoint === cgroupRoot) return { version: 2, root: mountPoint };
    if (fstype !== "cgroup") continue;
    for (const opt of (superOpts ?? "").split(",")) {
      if ((V1_CONTROLLERS as readonly string[]).includes(opt)) controllers[opt] = mountPoint;
    }
  }
  return Object.keys(controllers).length > 0 ? { version: 1, controllers } : undefined;
}

/** Converts docker's --cpu-shares (2..262144) to a cgroup v2 cpu.weight (1..10000). */
export function sharesToWeight(shares: number): number {
  // runc's integer formula: 1024 → 39.
  return 1 + Math.floor(((Math.min(Math.max(shares, 2), 262144) - 2) * 9999) / 262142);
}

function write(path: string, value: string): void {
  try {
    Deno.writeTextFileSync(path, value);
  } catch (err) {
    throw new TinyoError(`Cannot set cgroup limit: write "${value}" to ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function readNumberField(path: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, "m").exec(Deno.readTextFileSync(path));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** rmdir with a few retries: a cgroup stays busy for a moment after its last task exits. */
function removeDir(dir: string): void {
  for (let i = 0;; i++) {
    try {
      Deno.removeSync(dir);
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      if (!(err instanceof Deno.errors.Busy) || i >= 50) {
        throw new TinyoError(`Cannot remove cgroup ${dir}: ${(err as Error).message}`, { cause: err });
      }
      // Busy: wait 10 ms (a synchronous sleep keeps this usable from sync code).
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** Best-effort removal while handling another error: that error is the one to report. */
function tryRemove(dir: string): void {
  try {
    removeDir(dir);
  } catch {
    // Left for the garbage collector (the record lists the directory).
  }
}

function mkdirOwn(dir: string, made: string[]): void {
  try {
    Deno.mkdirSync(dir);
    made.push(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
}

/** cgroup v2. */
export class Cgroup2Manager implements CgroupManager {
  readonly version = 2 as const;
  readonly dirs: string[];
  readonly #root: string;
  readonly #parent: string;
  readonly #installDevices: (dir: string, rules: readonly DeviceRule[]) => void;

  /**
   * @param installDevices How the device rules reach the cgroup (an eBPF
   *   program; tests on a fake tree record the call instead).
   */
  constructor(
    root: string,
    id: string,
    parent = "tinyo",
    installDevices: (dir: string, rules: readonly DeviceRule[]) => void = attachDeviceFilter,
  ) {
    this.#root = root;
    this.#parent = parent;
    this.#installDevices = installDevices;
    this.dirs = [`${root}/${parent}/${id}`];
  }

  #enable(dir: string, wanted: string[]): void {
    let available: string[];
    try {
      available = Deno.readTextFileSync(`${dir}/cgroup.controllers`).trim().split(/\s+/);
    } catch {
      available = [];
    }
    const enable = wanted.filter((c) => available.includes(c));
    if (enable.length > 0) write(`${dir}/cgroup.subtree_control`, enable.map((c) => `+${c}`).join(" "));
  }

  readonly deviceControl = true;

  create(r: CgroupResources, devices: readonly DeviceRule[]): void {
    const dir = this.dirs[0]!;
    const made: string[] = [];
    try {
      const wanted = ["memory", "cpu", "pids"];
      this.#enable(this.#root, wanted);
      mkdirOwn(`${this.#root}/${this.#parent}`, made);
      this.#enable(`${this.#root}/${this.#parent}`, wanted);
      Deno.mkdirSync(dir);
      made.push(dir);
      // Before anything can join: the filter applies from the first process on.
      this.#installDevices(dir, devices);
      if (r.memory !== undefined) write(`${dir}/memory.max`, String(r.memory));
      if (r.memorySwap !== undefined) {
        write(
          `${dir}/memory.swap.max`,
          r.memorySwap < 0 ? "max" : String(Math.max(0, r.memorySwap - (r.memory ?? 0))),
        );
      }
      if (r.cpuQuota !== undefined) write(`${dir}/cpu.max`, `${r.cpuQuota} ${r.cpuPeriod ?? 100000}`);
      if (r.cpuShares !== undefined) write(`${dir}/cpu.weight`, String(sharesToWeight(r.cpuShares)));
      if (r.pidsLimit !== undefined) write(`${dir}/pids.max`, r.pidsLimit < 0 ? "max" : String(r.pidsLimit));
    } catch (err) {
      // Only the container's own directory is removed; the shared parent stays.
      if (made.includes(dir)) tryRemove(dir);
      throw err;
    }
  }

  procsFiles(): string[] {
    return [`${this.dirs[0]}/cgroup.procs`];
  }

  oomKills(): number {
    return readNumberField(`${this.dirs[0]}/memory.events`, "oom_kill");
  }

  cpuUsageUsec(): number {
    return readNumberField(`${this.dirs[0]}/cpu.stat`, "usage_usec");
  }

  destroy(): void {
    removeCgroupDirs(this.dirs, true);
  }
}

/** cgroup v1: one directory per controller hierarchy. */
export class Cgroup1Manager implements CgroupManager {
  readonly version = 1 as const;
  readonly dirs: string[];
  readonly #by: Record<string, string> = {};

  constructor(controllers: Record<string, string>, id: string, parent = "tinyo") {
    for (const [name, mount] of Object.entries(controllers)) this.#by[name] = `${mount}/${parent}/${id}`;
    this.dirs = [...new Set(Object.values(this.#by))];
  }

  get deviceControl(): boolean {
    return this.#by.devices !== undefined;
  }

  create(r: CgroupResources, devices: readonly DeviceRule[]): void {
    const made: string[] = [];
    try {
      for (const dir of this.dirs) {
        mkdirOwn(dir.slice(0, dir.lastIndexOf("/")), []);
        Deno.mkdirSync(dir);
        made.push(dir);
      }
      // Deny everything, then the rules in order (before anything joins).
      if (this.#by.devices !== undefined) {
        for (const w of v1DeviceWrites(devices)) write(`${this.#by.devices}/${w.file}`, w.line);
      }
      const mem = this.#by.memory;
      if (r.memory !== undefined) {
        if (mem === undefined) {
          throw new TinyoError("Cannot set a memory limit: no memory cgroup controller is mounted");
        }
        write(`${mem}/memory.limit_in_bytes`, String(r.memory));
        if (r.memorySwap !== undefined) {
          try {
            Deno.statSync(`${mem}/memory.memsw.limit_in_bytes`);
            write(`${mem}/memory.memsw.limit_in_bytes`, String(r.memorySwap));
          } catch (err) {
            if (err instanceof TinyoError) throw err;
            // No swap accounting on this kernel: the memory limit alone applies.
          }
        }
      }
      const cpu = this.#by.cpu;
      if ((r.cpuQuota !== undefined || r.cpuShares !== undefined) && cpu === undefined) {
        throw new TinyoError("Cannot set a CPU limit: no cpu cgroup controller is mounted");
      }
      if (r.cpuQuota !== undefined) {
        write(`${cpu}/cpu.cfs_period_us`, String(r.cpuPeriod ?? 100000));
        write(`${cpu}/cpu.cfs_quota_us`, String(r.cpuQuota));
      }
      if (r.cpuShares !== undefined) write(`${cpu}/cpu.shares`, String(r.cpuShares));
      if (r.pidsLimit !== undefined) {
        if (this.#by.pids === undefined) {
          throw new TinyoError("Cannot set a pids limit: no pids cgroup controller is mounted");
        }
        write(`${this.#by.pids}/pids.max`, r.pidsLimit < 0 ? "max" : String(r.pidsLimit));
      }
    } catch (err) {
      for (const dir of made.reverse()) tryRemove(dir);
      throw err;
    }
  }

  procsFiles(): string[] {
    return this.dirs.map((d) => `${d}/cgroup.procs`);
  }

  oomKills(): number {
    return this.#by.memory === undefined
      ? 0
      : readNumberField(`${this.#by.memory}/memory.oom_control`, "oom_kill");
  }

  cpuUsageUsec(): number {
    const acct = this.#by.cpuacct;
    if (acct === undefined) return 0;
    try {
      return Math.round(Number(Deno.readTextFileSync(`${acct}/cpuacct.usage`).trim()) / 1000);
    } catch {
      return 0;
    }
  }

  destroy(): void {
    removeCgroupDirs(this.dirs, true);
  }
}

/** The manager for container `id` on `layout`. */
export function cgroupManager(layout: CgroupLayout, id: string, parent = "tinyo"): CgroupManager {
  return layout.version === 2
    ? new Cgroup2Manager(layout.root, id, parent)
    : new Cgroup1Manager(layout.controllers, id, parent);
}

/** The host's layout, from /proc/self/mountinfo. */
export function hostLayout(): CgroupLayout | undefined {
  return detectLayout(Deno.readTextFileSync("/proc/self/mountinfo"));
}

/** The pids listed in a cgroup directory's cgroup.procs (empty when it is gone). */
function procsOf(dir: string): number[] {
  try {
    return Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n").filter((l) => l !== "").map(Number);
  } catch {
    return [];
  }
}

/**
 * Kills every process in the cgroup directories `dirs`: cgroup.kill where the
 * kernel has it (v2, 5.14+); otherwise the v1 freezer holds them still (no
 * fork, no exit) while each is sent SIGKILL through a pidfd checked to be a
 * member, then lets them die. Waits (up to about a second) until the cgroups are empty.
 */
export function killCgroupProcesses(dirs: readonly string[]): void {
  const freezer = dirs.find((d) => /\/freezer\//.test(d));
  let killedByKernel = false;
  for (const dir of dirs) {
    try {
      // create: false — only a real cgroup has this file; never make one.
      Deno.writeTextFileSync(`${dir}/cgroup.kill`, "1", { create: false });
      killedByKernel = true;
    } catch {
      // v1, or gone.
    }
  }
  if (!killedByKernel) {
    const all = [...new Set(dirs.flatMap(procsOf))];
    if (all.length > 0) {
      let frozen = false;
      try {
        if (freezer !== undefined) {
          Deno.writeTextFileSync(`${freezer}/freezer.state`, "FROZEN", { create: false });
          frozen = true;
        }
        for (const pid of [...new Set(dirs.flatMap(procsOf))]) killMember(pid, dirs);
      } finally {
        if (frozen) {
          try {
            Deno.writeTextFileSync(`${freezer}/freezer.state`, "THAWED", { create: false });
          } catch {
            // Gone.
          }
        }
      }
    }
  }
  for (let i = 0; i < 100 && dirs.some((d) => procsOf(d).length > 0); i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

/**
 * SIGKILLs `pid` through a pidfd, if that process is (still) in one of the
 * cgroups `dirs`: the pidfd is taken first, then membership checked, so a
 * pid that died and was reused meanwhile (possible without a freezer) is
 * never signalled.
 */
function killMember(pid: number, dirs: readonly string[]): void {
  let fd: number;
  try {
    fd = pidCalls.pidfdOpen(pid);
  } catch {
    return; // Gone.
  }
  try {
    const cgroups = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
    const ours = dirs.some((d) => {
      const rel = d.slice(d.indexOf("/tinyo/"));
      return cgroups.split("\n").some((l) => l.endsWith(`:${rel}`));
    });
    if (ours) pidCalls.pidfdSendSignal(fd, SIGNALS.SIGKILL);
  } catch {
    // Gone meanwhile.
  } finally {
    pidCalls.close(fd);
  }
}

/**
 * Removes a container's cgroup directories, killing whatever still runs in
 * them first. Returns the directories that could not be removed (still
 * busy); with `strict`, throws instead.
 */
export function removeCgroupDirs(dirs: readonly string[], strict = false): string[] {
  killCgroupProcesses(dirs);
  const left: string[] = [];
  for (const dir of dirs) {
    try {
      removeDir(dir);
    } catch (err) {
      if (strict) throw err;
      left.push(dir);
    }
  }
  return left;
}

/**
 * Cgroups: one cgroup per container under a `tinyo` sub-tree, holding the
 * OCI `linux.resources` limits, on either layout:
 *
 * - cgroup v2 (unified; every modern distribution): /sys/fs/cgroup/tinyo/<id>,
 *   controllers enabled in cgroup.subtree_control along the path;
 * - cgroup v1 (one hierarchy per controller, as on hybrid hosts):
 *   /sys/fs/cgroup/<controller>/tinyo/<id> in every hierarchy tinyo knows
 *   that is mounted (`V1_CONTROLLERS`). A new v1 cpuset directory starts
 *   with no CPU and no memory node, and a task cannot join it so; its
 *   cpuset.cpus and cpuset.mems (and those of each new parent) are copied
 *   from the parent before anything joins (runc's fs/cpuset.go does the same).
 *
 * What to write is decided by a pure planner, `cgroupWrites`: the resources
 * and what the host has (`CgroupHost`) in, a list of (file, value) out,
 * mapped field by field as runc's libcontainer cgroups fs (v1) and fs2 (v2)
 * do. A field the host cannot apply is refused with one line naming it
 * (`Cannot apply linux.resources.hugepageLimits: this host has no hugetlb
 * cgroup controller`), before any directory is made; nothing asked for is
 * dropped silently, except what runc ignores too (memory.swappiness on v2,
 * the deprecated kernel memory limits, and a swap limit where the kernel has
 * no swap accounting, as docker does). `update` applies the same mapping to
 * the fields given and leaves the rest as they are.
 *
 * Device access (runtime/model/devices.ts) is part of creating the cgroup,
 * before any process joins it: the `devices` controller's lists on v1, an
 * eBPF program attached to the cgroup on v2. A layout without device control
 * cannot run a container (unless every device is allowed anyway).
 *
 * The layout is detected at run time from /proc/self/mountinfo: a cgroup2
 * mount at the cgroup root means v2; otherwise the v1 controllers found are
 * used (a hybrid host's cgroup2 mount at .../unified is not used: cgroup v2
 * limits need the controllers in that one hierarchy). Managers take their
 * mount points as parameters, so tests drive them against a fake tree in a
 * temporary directory.
 *
 * Only our own cgroups are created, written and removed; nothing else in the
 * host's hierarchy is touched, and no process but the container's is moved.
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#control-groups
 * @see https://docs.kernel.org/admin-guide/cgroup-v2.html
 * @module
 */

import { ConfigError, TinyoError } from "../errors.ts";
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
   * failure removes what it made. Limits the host cannot apply are refused
   * before anything is made.
   */
  create(resources: CgroupResources, devices: readonly DeviceRule[]): void;
  /** Writes new limits on an existing cgroup (OCI `update`: only the fields given change). */
  update(resources: CgroupResources): void;
  /** Whether this manager can control device access on this host. */
  readonly deviceControl: boolean;
  /** Freezes (true) or thaws (false) every process, and waits until it is so (v1 freezer, v2 cgroup.freeze). */
  freeze(frozen: boolean): void;
  /** Whether the cgroup is frozen. */
  frozen(): boolean;
  /** The host pids of every process in the cgroup. */
  pids(): number[];
  /** The cgroup.procs files a process writes "0" into to join. */
  procsFiles(): string[];
  /** How many times the kernel's OOM killer killed a process in the cgroup. */
  oomKills(): number;
  /** CPU time used by the cgroup so far, in microseconds. */
  cpuUsageUsec(): number;
  /** Kills every process in the cgroup and removes it. */
  destroy(): void;
}

/** What a manager may be told instead of asking the host (tests on a fake tree). */
export interface CgroupManagerOptions {
  /** Huge page sizes the kernel has ("2MB"); default from /sys/kernel/mm/hugepages. */
  hugePageSizes?: readonly string[];
}

/**
 * Controllers tinyo uses on v1: every one of them that is mounted is joined
 * (as runc does), so that `update` can set any limit later.
 */
export const V1_CONTROLLERS = [
  "memory",
  "cpu",
  "cpuacct",
  "pids",
  "devices",
  "freezer",
  "cpuset",
  "blkio",
  "hugetlb",
  "net_cls",
  "net_prio",
  "rdma",
] as const;

/** Controllers enabled for the containers on v2, where the hierarchy has them (runc enables all). */
const V2_CONTROLLERS = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"];

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

/** Converts a blkio weight (10..1000) to a cgroup v2 io.weight (1..10000), as runc does: 500 → 4950. */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** A page size in bytes as the hugetlb files name it (2097152 → "2MB"), runc's units. */
export function pageSizeName(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}

/** The huge page sizes the kernel has, from /sys/kernel/mm/hugepages/hugepages-<N>kB. */
export function hostHugePageSizes(dir = "/sys/kernel/mm/hugepages"): string[] {
  try {
    return [...Deno.readDirSync(dir)]
      .map((e) => /^hugepages-(\d+)kB$/.exec(e.name))
      .filter((m) => m !== null)
      .map((m) => pageSizeName(Number(m[1]) * 1024))
      .sort();
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------
// The plan: linux.resources → interface-file writes (pure).

/** One interface-file write of a plan. */
export interface CgroupWrite {
  /** The interface file ("memory.max"); on v1 its prefix names the controller's hierarchy. */
  file: string;
  value: string;
  /** The linux.resources field it applies ("memory.limit"), named in errors. */
  field: string;
  /**
   * "optional": skipped when the kernel has no such file (no swap
   * accounting; hugetlb reservation limits before Linux 5.7).
   * "first": a failure is ignored, because the same write comes again after
   * the one it may conflict with (v1 memsw before and after the memory
   * limit, the CPU burst before and after the quota): whichever order the
   * kernel accepts, one of the two works.
   */
  mode?: "optional" | "first";
}

/** What a plan needs to know about the host's cgroups. */
export interface CgroupHost {
  version: 1 | 2;
  /** Usable controllers: v1 those mounted; v2 those the hierarchy (or the container's cgroup) has. */
  controllers: readonly string[];
  /** Whose `controllers` these are, for the messages: the host's, or the container's cgroup's. */
  scope?: "host" | "cgroup";
  /**
   * Interface files known to exist for the container (its directories, or
   * before they exist the hierarchy roots on v1); undefined when not known,
   * in which case they are assumed present and a failing write names the field.
   */
  files?: ReadonlySet<string>;
  /** Huge page sizes the kernel has, as the hugetlb files name them ("2MB", "1GB"). */
  hugePageSizes: readonly string[];
  /** The current content of an interface file of the container's cgroup, when it exists (update). */
  current?: (file: string) => string | undefined;
}

function cannotApply(field: string, why: string): TinyoError {
  return new TinyoError(`Cannot apply linux.resources.${field}: ${why}`);
}

function invalid(field: string, problem: string): ConfigError {
  return new ConfigError(`Invalid container configuration: linux.resources.${field}: ${problem}`);
}

/** The plan being built. */
class Plan {
  readonly writes: CgroupWrite[] = [];
  constructor(readonly host: CgroupHost) {}

  get v2(): boolean {
    return this.host.version === 2;
  }

  add(field: string, file: string, value: string | number, mode?: CgroupWrite["mode"]): void {
    this.writes.push({ file, value: String(value), field, ...(mode !== undefined ? { mode } : {}) });
  }

  /** Refuses `field` when the controller it needs is missing. */
  need(controller: string, field: string): void {
    if (this.host.controllers.includes(controller)) return;
    throw cannotApply(
      field,
      this.host.scope === "cgroup"
        ? `the container's cgroup has no ${controller} controller`
        : `this host has no ${controller} cgroup controller`,
    );
  }

  /** Whether `file` is known to be missing (false when unknown). */
  lacks(file: string): boolean {
    return this.host.files !== undefined && !this.host.files.has(file);
  }

  has(file: string): boolean {
    return this.host.files?.has(file) ?? false;
  }

  /** A current value as a number ("max" → -1), when known. */
  currentNumber(file: string): number | undefined {
    const v = this.host.current?.(file)?.trim();
    if (v === undefined || v === "") return undefined;
    if (v === "max") return -1;
    return /^-?\d+$/.test(v) ? Number(v) : undefined;
  }
}

/**
 * The writes that apply `r` on a host like `host`, in order: cpuset, memory,
 * cpu, pids, block I/O, huge pages, network, rdma, then `unified` last (so
 * it can override anything above, as in runc). Fields absent from `r` are
 * not touched.
 *
 * @throws {TinyoError} `Cannot apply linux.resources.FIELD: WHY` when the
 *   host cannot apply a field asked for.
 * @throws {ConfigError} for a value no host could apply.
 */
export function cgroupWrites(r: CgroupResources, host: CgroupHost): CgroupWrite[] {
  const p = new Plan(host);
  cpusetWrites(p, r);
  memoryWrites(p, r);
  cpuWrites(p, r);
  if (r.pidsLimit !== undefined) {
    p.need("pids", "pids.limit");
    p.add("pids.limit", "pids.max", r.pidsLimit < 0 ? "max" : r.pidsLimit);
  }
  blockIoWrites(p, r);
  hugetlbWrites(p, r);
  networkWrites(p, r);
  rdmaWrites(p, r);
  unifiedWrites(p, r);
  return p.writes;
}

function cpusetWrites(p: Plan, r: CgroupResources): void {
  // An empty list means "unset" (runc), not "no CPU".
  if (r.cpusetCpus !== undefined && r.cpusetCpus !== "") {
    p.need("cpuset", "cpu.cpus");
    p.add("cpu.cpus", "cpuset.cpus", r.cpusetCpus);
  }
  if (r.cpusetMems !== undefined && r.cpusetMems !== "") {
    p.need("cpuset", "cpu.mems");
    p.add("cpu.mems", "cpuset.mems", r.cpusetMems);
  }
}

function memoryWrites(p: Plan, r: CgroupResources): void {
  // 0 means "unset" for these, as in runc.
  const mem = r.memory === 0 ? undefined : r.memory;
  let swap = r.memorySwap === 0 ? undefined : r.memorySwap;
  const reservation = r.memoryReservation === 0 ? undefined : r.memoryReservation;
  for (
    const [v, field] of [
      [mem, "memory.limit"],
      [swap, "memory.swap"],
      [reservation, "memory.reservation"],
      [p.v2 ? undefined : r.memorySwappiness, "memory.swappiness"],
      [p.v2 ? undefined : r.disableOOMKiller, "memory.disableOOMKiller"],
    ] as const
  ) {
    if (v !== undefined) p.need("memory", field);
  }
  if (mem !== undefined && mem > 0 && swap !== undefined && swap >= 0 && swap < mem) {
    throw invalid("memory.swap", `${swap} is below memory.limit ${mem} (swap is memory plus swap)`);
  }
  if (!p.v2) {
    const limit = (n: number): string => (n < 0 ? "-1" : String(n));
    // Unlimited memory with no swap given means unlimited swap too (runc).
    if (mem === -1 && swap === undefined) swap = -1;
    // memsw must stay at or above the memory limit at every step.
    if (swap !== undefined) p.add("memory.swap", "memory.memsw.limit_in_bytes", limit(swap), "first");
    if (mem !== undefined) p.add("memory.limit", "memory.limit_in_bytes", limit(mem));
    if (swap !== undefined) p.add("memory.swap", "memory.memsw.limit_in_bytes", limit(swap), "optional");
    if (reservation !== undefined) {
      p.add("memory.reservation", "memory.soft_limit_in_bytes", limit(reservation));
    }
    if (r.memorySwappiness !== undefined) {
      if (r.memorySwappiness < 0 || r.memorySwappiness > 100) {
        throw invalid("memory.swappiness", `${r.memorySwappiness} is not between 0 and 100`);
      }
      p.add("memory.swappiness", "memory.swappiness", r.memorySwappiness);
    }
    if (r.disableOOMKiller !== undefined) {
      p.add("memory.disableOOMKiller", "memory.oom_control", r.disableOOMKiller ? "1" : "0");
    }
    return;
  }
  // cgroup v2: memory.max, memory.swap.max (swap alone), memory.low; no
  // swappiness (ignored, as runc does) and no way to disable the OOM killer.
  if (r.disableOOMKiller === true) {
    throw cannotApply("memory.disableOOMKiller", "cgroup v2 has no way to disable the OOM killer");
  }
  const max = (n: number): string => (n < 0 ? "max" : String(n));
  if (r.memoryCheckBeforeUpdate === true) {
    const usage = p.currentNumber("memory.current");
    for (const [v, field] of [[mem, "memory.limit"], [swap, "memory.swap"]] as const) {
      if (usage !== undefined && v !== undefined && v > 0 && v <= usage) {
        throw cannotApply(field, `${v} is not above the current usage ${usage} (memory.checkBeforeUpdate)`);
      }
    }
  }
  let swapMax: string | undefined;
  if (swap === -1 || (swap === undefined && mem === -1)) swapMax = "max";
  else if (swap !== undefined) {
    const base = mem ?? p.currentNumber("memory.max");
    if (base === undefined || base < 0) {
      throw cannotApply("memory.swap", "a swap limit needs a memory limit (memory.limit)");
    }
    if (swap < base) {
      throw invalid("memory.swap", `${swap} is below memory.limit ${base} (swap is memory plus swap)`);
    }
    swapMax = String(swap - base);
  } else if (mem !== undefined && mem > 0) {
    // Only the memory limit changes: memory plus swap stays what it was (runc
    // keeps it in its configuration), so the swap part follows.
    const oldMax = p.currentNumber("memory.max");
    const oldSwap = p.currentNumber("memory.swap.max");
    if (oldMax !== undefined && oldMax >= 0 && oldSwap !== undefined && oldSwap >= 0) {
      if (oldMax + oldSwap < mem) {
        throw cannotApply(
          "memory.limit",
          `${mem} is above memory plus swap (${oldMax + oldSwap}): set memory.swap too`,
        );
      }
      swapMax = String(oldMax + oldSwap - mem);
    }
  }
  if (swapMax !== undefined) p.add("memory.swap", "memory.swap.max", swapMax, "optional");
  if (mem !== undefined) p.add("memory.limit", "memory.max", max(mem));
  if (reservation !== undefined) p.add("memory.reservation", "memory.low", max(reservation));
}

function cpuWrites(p: Plan, r: CgroupResources): void {
  const shares = r.cpuShares === 0 ? undefined : r.cpuShares;
  const quota = r.cpuQuota === 0 ? undefined : r.cpuQuota;
  const period = r.cpuPeriod === 0 ? undefined : r.cpuPeriod;
  const rtRuntime = r.cpuRealtimeRuntime === 0 ? undefined : r.cpuRealtimeRuntime;
  const rtPeriod = r.cpuRealtimePeriod === 0 ? undefined : r.cpuRealtimePeriod;
  for (
    const [v, field] of [
      [shares, "cpu.shares"],
      [quota, "cpu.quota"],
      [period, "cpu.period"],
      [r.cpuBurst, "cpu.burst"],
      [r.cpuIdle, "cpu.idle"],
      [p.v2 ? undefined : rtRuntime, "cpu.realtimeRuntime"],
      [p.v2 ? undefined : rtPeriod, "cpu.realtimePeriod"],
    ] as const
  ) {
    if (v !== undefined) p.need("cpu", field);
  }
  if (r.cpuIdle !== undefined) {
    if (p.lacks("cpu.idle")) {
      throw cannotApply("cpu.idle", "this kernel has no cpu.idle (Linux 5.15 or later)");
    }
    p.add("cpu.idle", "cpu.idle", r.cpuIdle);
  }
  // An idle group has no weight: the kernel refuses one (runc skips it too).
  const idle = r.cpuIdle !== undefined && r.cpuIdle !== 0;
  const burstFile = p.v2 ? "cpu.max.burst" : "cpu.cfs_burst_us";
  if (r.cpuBurst !== undefined) {
    if (p.lacks(burstFile)) {
      throw cannotApply("cpu.burst", `this kernel has no ${burstFile} (Linux 5.14 or later)`);
    }
    p.add("cpu.burst", burstFile, r.cpuBurst, "first");
  }
  if (!p.v2) {
    if (shares !== undefined && !idle) p.add("cpu.shares", "cpu.shares", shares);
    if (period !== undefined) p.add("cpu.period", "cpu.cfs_period_us", period);
    if (quota !== undefined) p.add("cpu.quota", "cpu.cfs_quota_us", quota < 0 ? -1 : quota);
    if (r.cpuBurst !== undefined) p.add("cpu.burst", burstFile, r.cpuBurst);
    if (rtRuntime !== undefined || rtPeriod !== undefined) {
      const field = rtRuntime !== undefined ? "cpu.realtimeRuntime" : "cpu.realtimePeriod";
      if (p.lacks("cpu.rt_runtime_us")) {
        throw cannotApply(field, "this kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED)");
      }
    }
    // The runtime must fit in the period at every step.
    if (rtPeriod !== undefined) p.add("cpu.realtimePeriod", "cpu.rt_period_us", rtPeriod, "first");
    if (rtRuntime !== undefined) p.add("cpu.realtimeRuntime", "cpu.rt_runtime_us", rtRuntime);
    if (rtPeriod !== undefined) p.add("cpu.realtimePeriod", "cpu.rt_period_us", rtPeriod);
    return;
  }
  for (const [v, field] of [[rtRuntime, "cpu.realtimeRuntime"], [rtPeriod, "cpu.realtimePeriod"]] as const) {
    if (v !== undefined) {
      throw cannotApply(field, "cgroup v2 has no real-time CPU bandwidth control (it needs cgroup v1)");
    }
  }
  if (shares !== undefined && !idle) p.add("cpu.shares", "cpu.weight", sharesToWeight(shares));
  if (quota !== undefined || period !== undefined) {
    // cpu.max holds both: the one not given keeps its current value.
    const [curQuota, curPeriod] = (p.host.current?.("cpu.max") ?? "").trim().split(/\s+/);
    const q = quota === undefined ? (curQuota || "max") : quota < 0 ? "max" : String(quota);
    const per = period ?? (/^\d+$/.test(curPeriod ?? "") ? Number(curPeriod) : 100000);
    p.add(quota !== undefined ? "cpu.quota" : "cpu.period", "cpu.max", `${q} ${per}`);
  }
  if (r.cpuBurst !== undefined) p.add("cpu.burst", burstFile, r.cpuBurst);
}

type Throttle = { major: number; minor: number; rate: number };

function blockIoWrites(p: Plan, r: CgroupResources): void {
  const throttles: [string, Throttle[] | undefined, string, string][] = [
    ["throttleReadBpsDevice", r.blkioThrottleReadBpsDevice, "read_bps_device", "rbps"],
    ["throttleWriteBpsDevice", r.blkioThrottleWriteBpsDevice, "write_bps_device", "wbps"],
    ["throttleReadIOPSDevice", r.blkioThrottleReadIOPSDevice, "read_iops_device", "riops"],
    ["throttleWriteIOPSDevice", r.blkioThrottleWriteIOPSDevice, "write_iops_device", "wiops"],
  ];
  const weight = r.blkioWeight === 0 ? undefined : r.blkioWeight;
  const leafWeight = r.blkioLeafWeight === 0 ? undefined : r.blkioLeafWeight;
  const devices = r.blkioWeightDevice ?? [];
  const asked: string[] = [];
  if (weight !== undefined) asked.push("blockIO.weight");
  if (leafWeight !== undefined) asked.push("blockIO.leafWeight");
  if (devices.length > 0) asked.push("blockIO.weightDevice");
  for (const [key, list] of throttles) {
    if (list !== undefined && list.length > 0) asked.push(`blockIO.${key}`);
  }
  for (const field of asked) p.need(p.v2 ? "io" : "blkio", field);
  const checkWeight = (v: number | undefined, field: string): void => {
    if (v !== undefined && (v < 10 || v > 1000)) throw invalid(field, `${v} is not between 10 and 1000`);
  };
  checkWeight(weight, "blockIO.weight");
  checkWeight(leafWeight, "blockIO.leafWeight");
  devices.forEach((d, i) => {
    checkWeight(d.weight === 0 ? undefined : d.weight, `blockIO.weightDevice[${i}].weight`);
    checkWeight(d.leafWeight === 0 ? undefined : d.leafWeight, `blockIO.weightDevice[${i}].leafWeight`);
  });
  const dev = (d: { major: number; minor: number }): string => `${d.major}:${d.minor}`;
  if (!p.v2) {
    // The CFQ scheduler's blkio.weight, else BFQ's (runc's order).
    const weightFile = !p.has("blkio.weight") && p.has("blkio.bfq.weight")
      ? "blkio.bfq.weight"
      : "blkio.weight";
    const noWeight = p.lacks("blkio.weight") && p.lacks("blkio.bfq.weight");
    const why = "this host's blkio controller has no weight (it needs the BFQ or CFQ I/O scheduler)";
    if (weight !== undefined) {
      if (noWeight) throw cannotApply("blockIO.weight", why);
      p.add("blockIO.weight", weightFile, weight);
    }
    const noLeaf = "this kernel has no blkio leaf weights (the CFQ I/O scheduler, gone since Linux 5.0)";
    if (leafWeight !== undefined) {
      if (p.lacks("blkio.leaf_weight")) throw cannotApply("blockIO.leafWeight", noLeaf);
      p.add("blockIO.leafWeight", "blkio.leaf_weight", leafWeight);
    }
    devices.forEach((d, i) => {
      const field = `blockIO.weightDevice[${i}]`;
      if (d.weight !== undefined && d.weight !== 0) {
        if (noWeight) throw cannotApply(`${field}.weight`, why);
        p.add(field, `${weightFile}_device`, `${dev(d)} ${d.weight}`);
      }
      if (d.leafWeight !== undefined && d.leafWeight !== 0) {
        if (p.lacks("blkio.leaf_weight_device")) throw cannotApply(`${field}.leafWeight`, noLeaf);
        p.add(field, "blkio.leaf_weight_device", `${dev(d)} ${d.leafWeight}`);
      }
    });
    for (const [key, list, suffix] of throttles) {
      for (const [i, t] of (list ?? []).entries()) {
        const file = `blkio.throttle.${suffix}`;
        if (p.lacks(file)) {
          throw cannotApply(
            `blockIO.${key}`,
            "this kernel has no block I/O throttling (CONFIG_BLK_DEV_THROTTLING)",
          );
        }
        // 0 removes the device's limit.
        p.add(`blockIO.${key}[${i}]`, file, `${dev(t)} ${t.rate}`);
      }
    }
    return;
  }
  // cgroup v2: BFQ's io.bfq.weight takes blkio weights as they are; the
  // generic io.weight has another range (runc's conversion).
  const bfq = p.has("io.bfq.weight");
  if (leafWeight !== undefined) throw cannotApply("blockIO.leafWeight", "cgroup v2 has no leaf weights");
  if (weight !== undefined) {
    p.add(
      "blockIO.weight",
      bfq ? "io.bfq.weight" : "io.weight",
      bfq ? weight : `default ${blkioToIoWeight(weight)}`,
    );
  }
  devices.forEach((d, i) => {
    const field = `blockIO.weightDevice[${i}]`;
    if (d.leafWeight !== undefined && d.leafWeight !== 0) {
      throw cannotApply(`${field}.leafWeight`, "cgroup v2 has no leaf weights");
    }
    if (d.weight !== undefined && d.weight !== 0) {
      p.add(
        field,
        bfq ? "io.bfq.weight" : "io.weight",
        `${dev(d)} ${bfq ? d.weight : blkioToIoWeight(d.weight)}`,
      );
    }
  });
  for (const [key, list, , name] of throttles) {
    for (const [i, t] of (list ?? []).entries()) {
      // 0 removes the limit, as on v1.
      p.add(`blockIO.${key}[${i}]`, "io.max", `${dev(t)} ${name}=${t.rate === 0 ? "max" : t.rate}`);
    }
  }
}

function hugetlbWrites(p: Plan, r: CgroupResources): void {
  const limits = r.hugepageLimits ?? [];
  if (limits.length === 0) return;
  p.need("hugetlb", "hugepageLimits");
  limits.forEach((h, i) => {
    // The size becomes part of a file name: only a size such as "2MB" goes.
    if (!/^\d+[KMGTP]?B$/.test(h.pageSize)) {
      throw invalid(
        `hugepageLimits[${i}].pageSize`,
        `${JSON.stringify(h.pageSize)} is not a page size such as "2MB"`,
      );
    }
    if (!p.host.hugePageSizes.includes(h.pageSize)) {
      const has = p.host.hugePageSizes.length > 0 ? p.host.hugePageSizes.join(", ") : "none";
      throw cannotApply("hugepageLimits", `this host has no ${h.pageSize} huge pages (it has ${has})`);
    }
    const field = `hugepageLimits[${i}]`;
    const prefix = `hugetlb.${h.pageSize}`;
    if (p.v2) {
      const v = h.limit < 0 ? "max" : h.limit;
      p.add(field, `${prefix}.max`, v);
      // Reserved pages count against their own limit (Linux 5.7+): keep them within it too.
      p.add(field, `${prefix}.rsvd.max`, v, "optional");
    } else {
      const v = h.limit < 0 ? -1 : h.limit;
      p.add(field, `${prefix}.limit_in_bytes`, v);
      p.add(field, `${prefix}.rsvd.limit_in_bytes`, v, "optional");
    }
  });
}

/** A name that goes into a one-line interface file as a word. */
function checkWord(v: string, field: string): void {
  if (!/^[^\s/]+$/.test(v)) throw invalid(field, `${JSON.stringify(v)} is not a device name`);
}

function networkWrites(p: Plan, r: CgroupResources): void {
  const classID = r.netClassID === 0 ? undefined : r.netClassID;
  const priorities = r.netPriorities ?? [];
  if (p.v2) {
    if (classID !== undefined) throw cannotApply("network.classID", "cgroup v2 has no net_cls controller");
    if (priorities.length > 0) {
      throw cannotApply("network.priorities", "cgroup v2 has no net_prio controller");
    }
    return;
  }
  if (classID !== undefined) {
    p.need("net_cls", "network.classID");
    p.add("network.classID", "net_cls.classid", classID);
  }
  if (priorities.length > 0) p.need("net_prio", "network.priorities");
  priorities.forEach((n, i) => {
    checkWord(n.name, `network.priorities[${i}].name`);
    p.add(`network.priorities[${i}]`, "net_prio.ifpriomap", `${n.name} ${n.priority}`);
  });
}

function rdmaWrites(p: Plan, r: CgroupResources): void {
  const devices = Object.entries(r.rdma ?? {});
  if (devices.length === 0) return;
  p.need("rdma", "rdma");
  for (const [device, limits] of devices) {
    checkWord(device, `rdma[${JSON.stringify(device)}]`);
    const parts = [
      ...(limits.hcaHandles !== undefined ? [`hca_handle=${limits.hcaHandles}`] : []),
      ...(limits.hcaObjects !== undefined ? [`hca_object=${limits.hcaObjects}`] : []),
    ];
    if (parts.length > 0) {
      p.add(`rdma[${JSON.stringify(device)}]`, "rdma.max", `${device} ${parts.join(" ")}`);
    }
  }
}

function unifiedWrites(p: Plan, r: CgroupResources): void {
  const entries = Object.entries(r.unified ?? {});
  if (entries.length === 0) return;
  if (!p.v2) throw cannotApply("unified", "this host uses cgroup v1 (unified is for cgroup v2)");
  for (const [key, value] of entries) {
    const field = `unified[${JSON.stringify(key)}]`;
    // A file of the container's own directory, nothing else.
    if (key === "" || key.includes("/") || key.includes("..") || key.includes("\0")) {
      throw invalid(field, "not a file name of the cgroup directory");
    }
    const dot = key.indexOf(".");
    if (dot <= 0) throw invalid(field, "not a CONTROLLER.PARAMETER file name");
    const controller = key.slice(0, dot);
    if (controller !== "cgroup") p.need(controller, field);
    if (p.lacks(key)) throw cannotApply(field, `the container's cgroup has no ${key} file`);
    // One line per write, as runc does (a file like io.max takes one device per write).
    const lines = value.split("\n").filter((l) => l.trim() !== "");
    for (const line of lines.length > 0 ? lines : [value]) p.add(field, key, line);
  }
}

// ---------------------------------------------------------------------------
// Applying a plan.

/** Writes a plan in order; `dirOf` names the directory holding each file. */
function applyWrites(writes: readonly CgroupWrite[], dirOf: (file: string) => string | undefined): void {
  for (const w of writes) {
    const dir = dirOf(w.file);
    if (dir === undefined) {
      throw cannotApply(w.field, `the container's cgroup has no directory for ${w.file}`);
    }
    const path = `${dir}/${w.file}`;
    try {
      // create: false — an interface file the kernel lacks must not become a plain file.
      Deno.writeTextFileSync(path, w.value, { create: false });
    } catch (err) {
      if (w.mode === "first") continue;
      if (w.mode === "optional" && err instanceof Deno.errors.NotFound) continue;
      throw new TinyoError(
        `Cannot apply linux.resources.${w.field}: write ${JSON.stringify(w.value)} to ${path}: ${
          (err as Error).message
        }`,
        { cause: err },
      );
    }
  }
}

/** The names in a directory (empty when it cannot be read). */
function listNames(dir: string, into: Set<string> = new Set()): Set<string> {
  try {
    for (const e of Deno.readDirSync(dir)) into.add(e.name);
  } catch {
    // Gone or not there: nothing known from it.
  }
  return into;
}

function readOr(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
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
/**
 * `dir` and every cgroup below it, parents before children (a container
 * with a writable cgroup mount may make sub-cgroups: they are its too).
 * Bounded, so a hostile tree cannot keep the runtime busy.
 */
function subtree(dir: string, depth = 0, out: string[] = []): string[] {
  out.push(dir);
  if (depth >= 32 || out.length > 4096) return out;
  try {
    for (const e of Deno.readDirSync(dir)) if (e.isDirectory) subtree(`${dir}/${e.name}`, depth + 1, out);
  } catch {
    // Gone, or not a directory.
  }
  return out;
}

/** Removes a cgroup directory and the cgroups below it, deepest first. */
function removeDir(dir: string): void {
  for (const child of subtree(dir).slice(1).reverse()) removeOneDir(child);
  removeOneDir(dir);
}

function removeOneDir(dir: string): void {
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

/**
 * Why an existing cgroup directory cannot become a container's, or
 * undefined when it does not exist or is an empty leaf (left over by a
 * runtime killed between making it and recording it, taken over as runc
 * does). A cgroup with processes, or with child cgroups, belongs to
 * something else: adopting it would put a device filter and limits on it,
 * and deleting the container would kill whatever runs there.
 */
export function cgroupInUse(dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue; // Not there: it will be made.
    }
    if (entries.some((e) => e.isDirectory)) return `cgroup ${dir} exists and has child cgroups`;
    if (cgroupPids([dir]).length > 0) return `cgroup ${dir} exists and has processes in it`;
  }
  return undefined;
}

/**
 * Makes a container's own cgroup directory. One left over empty (a runtime
 * killed between making it and recording it) is taken over; one with
 * processes in it belongs to something else and is refused.
 */
function mkdirContainer(dir: string): void {
  try {
    Deno.mkdirSync(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    const busy = cgroupInUse([dir]);
    if (busy !== undefined) throw new TinyoError(`Cannot create the container's cgroup: ${busy}`);
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

/** Waits up to about a second for `check` (a frozen state settles asynchronously). */
function settle(check: () => boolean, what: string): void {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  throw new TinyoError(`Cannot ${what}: the cgroup did not settle`);
}

/** The controllers a v2 cgroup.controllers file lists (undefined when unreadable). */
function v2Controllers(file: string): string[] | undefined {
  const text = readOr(file);
  return text === undefined ? undefined : text.trim().split(/\s+/).filter((c) => c !== "");
}

/** cgroup v2. */
export class Cgroup2Manager implements CgroupManager {
  readonly version = 2 as const;
  readonly dirs: string[];
  readonly #root: string;
  readonly #path: string;
  readonly #installDevices: (dir: string, rules: readonly DeviceRule[]) => void;
  readonly #hugePageSizes: readonly string[] | undefined;

  /**
   * @param path The cgroup, relative to the hierarchy root ("/tinyo/ID").
   * @param installDevices How the device rules reach the cgroup (an eBPF
   *   program; tests on a fake tree record the call instead).
   */
  constructor(
    root: string,
    path: string,
    installDevices: (dir: string, rules: readonly DeviceRule[]) => void = attachDeviceFilter,
    options: CgroupManagerOptions = {},
  ) {
    this.#root = root;
    this.#path = path.replace(/\/+$/, "");
    this.#installDevices = installDevices;
    this.#hugePageSizes = options.hugePageSizes;
    this.dirs = [`${root}${this.#path}`];
  }

  /**
   * Delegates the controllers tinyo uses that `dir` has to its children, in
   * one write. Should that fail, the ones every container needs (cpu,
   * memory, pids) are written alone, as before, and the others each on its
   * own, best effort: a limit that needs a missing one is refused by name.
   */
  #enable(dir: string): void {
    const available = v2Controllers(`${dir}/cgroup.controllers`) ?? [];
    const enable = V2_CONTROLLERS.filter((c) => available.includes(c));
    if (enable.length === 0) return;
    const file = `${dir}/cgroup.subtree_control`;
    try {
      Deno.writeTextFileSync(file, enable.map((c) => `+${c}`).join(" "));
      return;
    } catch {
      // One by one below.
    }
    const core = enable.filter((c) => ["cpu", "memory", "pids"].includes(c));
    if (core.length > 0) write(file, core.map((c) => `+${c}`).join(" "));
    for (const c of enable.filter((c) => !core.includes(c))) {
      try {
        Deno.writeTextFileSync(file, `+${c}`);
      } catch {
        // Not delegable here: only the limits that need it are refused.
      }
    }
  }

  readonly deviceControl = true;

  /** What the host offers, before the cgroup exists: the hierarchy's controllers. */
  #hostBefore(): CgroupHost {
    return {
      version: 2,
      // Unreadable: assume all, and let a failing write name the field.
      controllers: v2Controllers(`${this.#root}/cgroup.controllers`) ?? V2_CONTROLLERS,
      hugePageSizes: this.#hugePageSizes ?? hostHugePageSizes(),
    };
  }

  /** What the container's own cgroup has: its controllers, files and current values. */
  #hostOfCgroup(): CgroupHost {
    const dir = this.dirs[0]!;
    const own = v2Controllers(`${dir}/cgroup.controllers`);
    return {
      version: 2,
      controllers: own ?? this.#hostBefore().controllers,
      scope: own === undefined ? "host" : "cgroup",
      files: listNames(dir),
      hugePageSizes: this.#hugePageSizes ?? hostHugePageSizes(),
      current: (file) => readOr(`${dir}/${file}`),
    };
  }

  create(r: CgroupResources, devices: readonly DeviceRule[]): void {
    // What the host cannot apply is refused before anything is made.
    cgroupWrites(r, this.#hostBefore());
    const dir = this.dirs[0]!;
    const made: string[] = [];
    try {
      // Every ancestor delegates the controllers to its children (a parent
      // that is missing is made; parents are shared and never removed).
      const parts = this.#path.split("/").filter((p) => p !== "");
      let at = this.#root;
      for (const part of parts.slice(0, -1)) {
        this.#enable(at);
        at = `${at}/${part}`;
        mkdirOwn(at, made);
      }
      this.#enable(at);
      mkdirContainer(dir);
      made.push(dir);
      // Before anything can join: the filter applies from the first process on.
      this.#installDevices(dir, devices);
      this.update(r);
    } catch (err) {
      // Only the container's own directory is removed; parents stay.
      if (made.includes(dir)) tryRemove(dir);
      throw err;
    }
  }

  update(r: CgroupResources): void {
    const dir = this.dirs[0]!;
    applyWrites(cgroupWrites(r, this.#hostOfCgroup()), () => dir);
  }

  freeze(frozen: boolean): void {
    write(`${this.dirs[0]}/cgroup.freeze`, frozen ? "1" : "0");
    settle(() => this.frozen() === frozen, frozen ? "pause the container" : "resume the container");
  }

  frozen(): boolean {
    return readNumberField(`${this.dirs[0]}/cgroup.events`, "frozen") === 1;
  }

  pids(): number[] {
    return procsOf(this.dirs[0]!);
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

/**
 * Gives a new v1 cpuset directory the CPUs and memory nodes of its parent
 * when it has none: an empty cpuset takes no task (runc's
 * cpusetCopyIfNeeded). Done for each level below the mount point, top down.
 */
function inheritCpuset(mount: string, rel: string): void {
  let parent = mount;
  for (const part of rel.split("/").filter((p) => p !== "")) {
    const dir = `${parent}/${part}`;
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      if ((readOr(`${dir}/${file}`) ?? "").trim() !== "") continue;
      const inherited = (readOr(`${parent}/${file}`) ?? "").trim();
      if (inherited === "") {
        throw new TinyoError(`Cannot set up cpuset cgroup ${dir}: ${parent}/${file} is empty`);
      }
      write(`${dir}/${file}`, inherited);
    }
    parent = dir;
  }
}

/** cgroup v1: one directory per controller hierarchy. */
export class Cgroup1Manager implements CgroupManager {
  readonly version = 1 as const;
  readonly dirs: string[];
  /** Controller → the container's directory in its hierarchy. */
  readonly #by: Record<string, string> = {};
  /** Controller → its hierarchy's mount point. */
  readonly #mounts: Record<string, string> = {};
  readonly #rel: string;
  readonly #hugePageSizes: readonly string[] | undefined;

  /** @param path The cgroup, relative to each hierarchy's root ("/tinyo/ID"). */
  constructor(controllers: Record<string, string>, path: string, options: CgroupManagerOptions = {}) {
    this.#rel = path.replace(/\/+$/, "");
    for (const [name, mount] of Object.entries(controllers)) {
      this.#mounts[name] = mount;
      this.#by[name] = `${mount}${this.#rel}`;
    }
    this.#hugePageSizes = options.hugePageSizes;
    this.dirs = [...new Set(Object.values(this.#by))];
  }

  get deviceControl(): boolean {
    return this.#by.devices !== undefined;
  }

  /**
   * The host as a plan sees it: the controllers mounted, and the interface
   * files of `dirs` (the hierarchy roots before the cgroup exists, which
   * hold every file a plan checks for; the container's own afterwards).
   */
  #host(dirs: Record<string, string>, current: boolean): CgroupHost {
    const files = new Set<string>();
    for (const dir of new Set(Object.values(dirs))) listNames(dir, files);
    return {
      version: 1,
      controllers: Object.keys(this.#by),
      files,
      hugePageSizes: this.#hugePageSizes ?? hostHugePageSizes(),
      ...(current ? { current: (file: string) => readOr(`${this.#dirOf(file)}/${file}`) } : {}),
    };
  }

  /** The directory holding an interface file: its prefix names the controller ("cpuset.cpus"). */
  #dirOf(file: string): string | undefined {
    return this.#by[file.slice(0, file.indexOf("."))];
  }

  create(r: CgroupResources, devices: readonly DeviceRule[]): void {
    // What the host cannot apply is refused before anything is made.
    cgroupWrites(r, this.#host(this.#mounts, false));
    const made: string[] = [];
    try {
      for (const dir of this.dirs) {
        Deno.mkdirSync(dir.slice(0, dir.lastIndexOf("/")), { recursive: true });
        mkdirContainer(dir);
        made.push(dir);
      }
      // Before anything joins: an empty cpuset takes no task.
      if (this.#mounts.cpuset !== undefined) inheritCpuset(this.#mounts.cpuset, this.#rel);
      // Deny everything, then the rules in order (before anything joins).
      if (this.#by.devices !== undefined) {
        for (const w of v1DeviceWrites(devices)) write(`${this.#by.devices}/${w.file}`, w.line);
      }
      this.update(r);
    } catch (err) {
      for (const dir of made.reverse()) tryRemove(dir);
      throw err;
    }
  }

  update(r: CgroupResources): void {
    applyWrites(cgroupWrites(r, this.#host(this.#by, true)), (file) => this.#dirOf(file));
  }

  freeze(frozen: boolean): void {
    const freezer = this.#by.freezer;
    if (freezer === undefined) throw new TinyoError("Cannot pause: no freezer cgroup controller is mounted");
    write(`${freezer}/freezer.state`, frozen ? "FROZEN" : "THAWED");
    settle(() => this.frozen() === frozen, frozen ? "pause the container" : "resume the container");
  }

  frozen(): boolean {
    const freezer = this.#by.freezer;
    if (freezer === undefined) return false;
    try {
      return Deno.readTextFileSync(`${freezer}/freezer.state`).trim() === "FROZEN";
    } catch {
      return false;
    }
  }

  pids(): number[] {
    return [...new Set(this.dirs.flatMap(procsOf))].sort((a, b) => a - b);
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

/** tinyo's own cgroup for container `id` (also the OCI default when config.json names none). */
export function defaultCgroupPath(id: string): string {
  return `/tinyo/${id}`;
}

/** The manager for the cgroup at `path` (relative to the hierarchy roots) on `layout`. */
export function cgroupManager(layout: CgroupLayout, path: string): CgroupManager {
  return layout.version === 2
    ? new Cgroup2Manager(layout.root, path)
    : new Cgroup1Manager(layout.controllers, path);
}

/** The host's layout, from /proc/self/mountinfo. */
export function hostLayout(): CgroupLayout | undefined {
  return detectLayout(Deno.readTextFileSync("/proc/self/mountinfo"));
}

/** A cgroup directory's path below its hierarchy's mount point, from the host's mounts. */
function relativePath(dir: string): string | undefined {
  const layout = hostLayout();
  const roots = layout === undefined
    ? []
    : layout.version === 2
    ? [layout.root]
    : Object.values(layout.controllers);
  const root = roots.filter((r) => dir.startsWith(`${r}/`)).sort((a, b) => b.length - a.length)[0];
  return root === undefined ? undefined : dir.slice(root.length);
}

/** The host pids in the cgroup directories `dirs` (all hierarchies). */
export function cgroupPids(dirs: readonly string[]): number[] {
  return [...new Set(dirs.flatMap(procsOf))].sort((a, b) => a - b);
}

/**
 * Sends `signal` to every process of a container's cgroup, each through a
 * pidfd checked to be a member (OCI `kill --all`).
 */
export function signalCgroup(dirs: readonly string[], signal: number, rel?: string): void {
  for (const pid of cgroupPids(dirs)) {
    let fd: number;
    try {
      fd = pidCalls.pidfdOpen(pid);
    } catch {
      continue;
    }
    try {
      const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n");
      const paths = rel !== undefined ? [rel] : dirs.map(relativePath).filter((p) => p !== undefined);
      if (paths.some((p) => lines.some((l) => inCgroup(l, p)))) pidCalls.pidfdSendSignal(fd, signal);
    } catch {
      // Gone meanwhile.
    } finally {
      pidCalls.close(fd);
    }
  }
}

/**
 * Freezes or thaws the cgroup directories of a container: cgroup.freeze on
 * v2, freezer.state on v1 (whose freezer directory must be among `dirs`);
 * waits until the kernel says it is done.
 */
export function freezeCgroup(dirs: readonly string[], frozen: boolean): void {
  const freezer = dirs.find((d) => /\/freezer\//.test(d));
  const v2 = dirs.length === 1 && freezer === undefined ? dirs[0] : undefined;
  if (v2 !== undefined) {
    write(`${v2}/cgroup.freeze`, frozen ? "1" : "0");
    settle(
      () => readNumberField(`${v2}/cgroup.events`, "frozen") === (frozen ? 1 : 0),
      "pause the container",
    );
    return;
  }
  if (freezer === undefined) throw new TinyoError("Cannot pause: no freezer cgroup controller is mounted");
  write(`${freezer}/freezer.state`, frozen ? "FROZEN" : "THAWED");
  settle(() => {
    try {
      const state = Deno.readTextFileSync(`${freezer}/freezer.state`).trim();
      return state === (frozen ? "FROZEN" : "THAWED");
    } catch {
      return false;
    }
  }, frozen ? "pause the container" : "resume the container");
}

/** The pids listed in a cgroup directory's cgroup.procs (empty when it is gone). */
/** The pids in the cgroup `dir` and in the cgroups below it. */
function procsOf(dir: string): number[] {
  return subtree(dir).flatMap((d) => {
    try {
      return Deno.readTextFileSync(`${d}/cgroup.procs`).split("\n").filter((l) => l !== "").map(Number);
    } catch {
      return [];
    }
  });
}

/** Whether a /proc/PID/cgroup line puts the process in the cgroup `rel` or below it. */
function inCgroup(line: string, rel: string): boolean {
  return line.endsWith(`:${rel}`) || line.includes(`:${rel}/`);
}

/**
 * Kills every process in the cgroup directories `dirs`: cgroup.kill where the
 * kernel has it (v2, 5.14+); otherwise the v1 freezer holds them still (no
 * fork, no exit) while each is sent SIGKILL through a pidfd checked to be a
 * member, then lets them die. Waits (up to about a second) until the cgroups are empty.
 */
export function killCgroupProcesses(dirs: readonly string[], rel?: string): void {
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
        for (const pid of [...new Set(dirs.flatMap(procsOf))]) killMember(pid, dirs, rel);
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
function killMember(pid: number, dirs: readonly string[], rel: string | undefined): void {
  let fd: number;
  try {
    fd = pidCalls.pidfdOpen(pid);
  } catch {
    return; // Gone.
  }
  try {
    // /proc/PID/cgroup, read from the host's cgroup namespace, names each
    // hierarchy's cgroup by its path below the root: ours is `rel`.
    const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n");
    const paths = rel !== undefined ? [rel] : dirs.map(relativePath).filter((p) => p !== undefined);
    const ours = paths.some((p) => lines.some((l) => inCgroup(l, p)));
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
export function removeCgroupDirs(dirs: readonly string[], strict = false, rel?: string): string[] {
  killCgroupProcesses(dirs, rel);
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

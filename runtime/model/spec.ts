/**
 * The OCI runtime-spec configuration (config.json) as tinyo understands it,
 * and its validation. This is tinyo's only container model: `tinyo run`
 * flags are translated into a `Spec`, and the init executes a `Spec`.
 *
 * Validation runs before any system call (runc's configs/validate), and each
 * problem names the field: `process.cwd: must be an absolute path, got "tmp"`.
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config.md
 * @module
 */

import { ConfigError } from "../errors.ts";
import { seccompProblem, type SeccompProfile } from "./seccomp/compile.ts";
import { validateDeviceRules } from "./devices.ts";
import { CAPABILITIES } from "./capabilities.ts";
import { RLIMIT } from "../../ffi/constants.ts";

export { OCI_VERSION } from "./oci_version.ts";

/** process.user */
export interface User {
  uid: number;
  gid: number;
  /** The umask of the process (umask(2)); absent: the runtime's, 0022. */
  umask?: number;
  additionalGids?: number[];
}

/** process.rlimits[] */
export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

/** process.capabilities */
export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** The I/O scheduling classes of process.ioPriority.class (ioprio_set(2)). */
export const IOPRIO_CLASSES = ["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"] as const;
/** One of `IOPRIO_CLASSES`. */
export type IoprioClass = typeof IOPRIO_CLASSES[number];

/** process.ioPriority: the process's I/O class and level within it (0 highest, 7 lowest). */
export interface IoPriority {
  class: IoprioClass;
  priority: number;
}

/** process */
export interface Process {
  terminal?: boolean;
  user: User;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  /** /proc/PID/oom_score_adj of the process, -1000 to 1000. */
  oomScoreAdj?: number;
  ioPriority?: IoPriority;
  /** Checked by `unsupportedFeatures`: tinyo applies no AppArmor profile. */
  apparmorProfile?: string;
  /** Checked by `unsupportedFeatures`: tinyo applies no SELinux label. */
  selinuxLabel?: string;
}

/** linux.uidMappings[], linux.gidMappings[], mounts[].uidMappings[]: ids of a user namespace. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** mounts[] */
export interface Mount {
  destination: string;
  /** The filesystem type; absent for a bind mount ("bind" or "rbind" in the options). */
  type?: string;
  source?: string;
  options?: string[];
  /** An id-mapped mount: checked by `unsupportedFeatures`. */
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

/** The namespace types of linux.namespaces[].type. */
export const NAMESPACE_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"] as const;
/** One of `NAMESPACE_TYPES`. */
export type NamespaceType = typeof NAMESPACE_TYPES[number];

/** linux.namespaces[] */
export interface Namespace {
  type: NamespaceType;
  /** Join the namespace at this path instead of creating one. */
  path?: string;
}

/** linux.devices[] */
export interface Device {
  type: "c" | "b" | "u" | "p";
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** linux.seccomp: the same shape as docker's profile format (without includes/excludes). */
export type Seccomp = SeccompProfile;

/** The execution domains of linux.personality.domain (personality(2): PER_LINUX, PER_LINUX32). */
export const PERSONALITY_DOMAINS = ["LINUX", "LINUX32"] as const;

/** linux.personality */
export interface Personality {
  domain: typeof PERSONALITY_DOMAINS[number];
  /** config-linux.md defines no flag values yet; runc ignores them, so does tinyo. */
  flags?: string[];
}

/**
 * linux.resources as config-linux.md defines it. run_spec.ts
 * `flatResources` turns it into the cgroup limits runtime/host/cgroups.ts
 * writes (every field runc applies, on v1 and v2; one the host cannot apply
 * is an error naming it), and devices.ts turns the device rules into the
 * device cgroup's.
 */
export type LinuxResources = {
  devices?: unknown[];
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    kernel?: number;
    kernelTCP?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
    useHierarchy?: boolean;
    checkBeforeUpdate?: boolean;
  };
  cpu?: {
    shares?: number;
    quota?: number;
    burst?: number;
    period?: number;
    realtimeRuntime?: number;
    realtimePeriod?: number;
    cpus?: string;
    mems?: string;
    idle?: number;
  };
  pids?: { limit?: number };
  blockIO?: Record<string, unknown>;
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  unified?: Record<string, string>;
};

/** linux */
export interface Linux {
  seccomp?: Seccomp;
  namespaces?: Namespace[];
  devices?: Device[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  cgroupsPath?: string;
  /** The shape is `LinuxResources`; kept loose for the code that reads it piecemeal. */
  resources?: Record<string, unknown>;
  sysctl?: Record<string, string>;
  personality?: Personality;
  /** Need a user namespace: checked by `unsupportedFeatures`. */
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  /** The SELinux context of the container's mounts: checked by `unsupportedFeatures`. */
  mountLabel?: string;
}

/**
 * The hook kinds of config.md ("POSIX-platform Hooks"), in the order the
 * lifecycle runs them (runtime.md "Lifecycle", steps 3, 4, 5, 7, 9, 13).
 * Where each runs and what its failure means: runtime/model/hooks.ts.
 */
export const HOOK_KINDS = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
] as const;
/** One of `HOOK_KINDS`. */
export type HookKind = typeof HOOK_KINDS[number];

/** hooks.<kind>[]: a program to run at a point of the lifecycle. */
export interface Hook {
  /** Absolute path of the program (execv's path). */
  path: string;
  /** execv's argv, argv[0] included; absent means `[path]`. */
  args?: string[];
  /** The program's whole environment, KEY=VALUE entries. */
  env?: string[];
  /** Seconds before the hook is killed; absent means no limit. */
  timeout?: number;
}

/** hooks: each kind's programs, run in order. */
export type Hooks = { [K in HookKind]?: Hook[] };

/** The top-level config.json object. */
export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: Mount[];
  annotations?: Record<string, string>;
  linux?: Linux;
  hooks?: Hooks;
}

function fail(field: string, problem: string): never {
  throw new ConfigError(`Invalid container configuration: ${field}: ${problem}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkStringArray(v: unknown, field: string): void {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) fail(field, "must be an array of strings");
}

function checkUint(v: unknown, field: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    fail(field, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
}

function checkAbsolute(v: unknown, field: string): void {
  if (typeof v !== "string" || !v.startsWith("/")) {
    fail(field, `must be an absolute path, got ${JSON.stringify(v)}`);
  }
}

function checkString(v: unknown, field: string): void {
  if (typeof v !== "string") fail(field, `must be a string, got ${JSON.stringify(v)}`);
}

function checkBool(v: unknown, field: string): void {
  if (typeof v !== "boolean") fail(field, `must be true or false, got ${JSON.stringify(v)}`);
}

/** An integer from `min` to `max` (JSON numbers: a uint64 may arrive as 2^64). */
function checkInt(v: unknown, field: string, min: number, max: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    fail(
      field,
      `must be an integer from ${min} to ${max === 2 ** 64 ? "2^64-1" : max}, got ${JSON.stringify(v)}`,
    );
  }
}

/** A uint64. */
function checkUint64(v: unknown, field: string): void {
  checkInt(v, field, 0, 2 ** 64);
}

/** An int64 limit where -1 means unlimited (memory, swap, pids, cpu quota). */
function checkLimit(v: unknown, field: string): void {
  checkInt(v, field, -1, 2 ** 63);
}

function checkArray(v: unknown, field: string): asserts v is unknown[] {
  if (!Array.isArray(v)) fail(field, "must be an array");
}

function checkObject(v: unknown, field: string): asserts v is Record<string, unknown> {
  if (!isObject(v)) fail(field, "must be an object");
}

function checkIdMappings(v: unknown, field: string): void {
  checkArray(v, field);
  v.forEach((m, i) => {
    checkObject(m, `${field}[${i}]`);
    checkUint(m.containerID, `${field}[${i}].containerID`);
    checkUint(m.hostID, `${field}[${i}].hostID`);
    checkInt(m.size, `${field}[${i}].size`, 1, 0xffffffff);
  });
}

const RLIMIT_TYPES = new Set(Object.keys(RLIMIT).map((name) => `RLIMIT_${name}`));

function validateCapabilities(caps: unknown): void {
  checkObject(caps, "process.capabilities");
  for (const set of ["bounding", "effective", "inheritable", "permitted", "ambient"] as const) {
    const list = caps[set];
    if (list === undefined) continue;
    const field = `process.capabilities.${set}`;
    checkStringArray(list, field);
    (list as string[]).forEach((name, i) => {
      // Spelled as capabilities(7) does; the init reads the same names (capNumber).
      if (!/^CAP_[A-Z_]+$/.test(name) || !CAPABILITIES.includes(name.slice(4))) {
        fail(`${field}[${i}]`, `unknown capability ${JSON.stringify(name)}`);
      }
    });
  }
}

function validateRlimits(rlimits: unknown): void {
  checkArray(rlimits, "process.rlimits");
  const seen = new Set<string>();
  rlimits.forEach((r, i) => {
    const field = `process.rlimits[${i}]`;
    checkObject(r, field);
    if (typeof r.type !== "string" || !RLIMIT_TYPES.has(r.type)) {
      fail(`${field}.type`, `unknown resource ${JSON.stringify(r.type)} (RLIMIT_NOFILE, RLIMIT_NPROC, ...)`);
    }
    // config-linux.md: "Runtimes MUST generate an error for duplicate types".
    if (seen.has(r.type)) fail(`${field}.type`, `duplicate ${r.type}`);
    seen.add(r.type);
    // A uint64; RLIM_INFINITY is 18446744073709551615 in JSON (2^64 once
    // parsed), or -1 as `tinyo run --ulimit NAME=unlimited` writes it.
    checkInt(r.soft, `${field}.soft`, -1, 2 ** 64);
    checkInt(r.hard, `${field}.hard`, -1, 2 ** 64);
    const limit = (v: number): number => v === -1 || v >= 2 ** 64 - 1 ? Infinity : v;
    if (limit(r.soft as number) > limit(r.hard as number)) {
      fail(field, `soft limit ${r.soft} is above hard limit ${r.hard}`);
    }
  });
}

function validateProcess(p: unknown): void {
  if (!isObject(p)) fail("process", "must be an object");
  checkStringArray(p.args, "process.args");
  if ((p.args as string[]).length === 0) fail("process.args", "must name a command");
  checkAbsolute(p.cwd, "process.cwd");
  if (!isObject(p.user)) fail("process.user", "must be an object");
  checkUint(p.user.uid, "process.user.uid");
  checkUint(p.user.gid, "process.user.gid");
  if (p.user.additionalGids !== undefined) {
    if (!Array.isArray(p.user.additionalGids)) fail("process.user.additionalGids", "must be an array");
    p.user.additionalGids.forEach((g, i) => checkUint(g, `process.user.additionalGids[${i}]`));
  }
  if (p.env !== undefined) {
    checkStringArray(p.env, "process.env");
    for (const e of p.env as string[]) {
      if (!e.includes("=") || e.startsWith("=")) {
        fail("process.env", `entry ${JSON.stringify(e)} is not KEY=VALUE`);
      }
    }
  }
  if (p.user.umask !== undefined) checkUint(p.user.umask, "process.user.umask");
  if (p.rlimits !== undefined) validateRlimits(p.rlimits);
  if (p.capabilities !== undefined) validateCapabilities(p.capabilities);
  if (p.terminal !== undefined) checkBool(p.terminal, "process.terminal");
  if (p.noNewPrivileges !== undefined) checkBool(p.noNewPrivileges, "process.noNewPrivileges");
  if (p.oomScoreAdj !== undefined) checkInt(p.oomScoreAdj, "process.oomScoreAdj", -1000, 1000);
  if (p.ioPriority !== undefined) {
    checkObject(p.ioPriority, "process.ioPriority");
    if (!IOPRIO_CLASSES.includes(p.ioPriority.class as IoprioClass)) {
      fail(
        "process.ioPriority.class",
        `must be one of ${IOPRIO_CLASSES.join(", ")}, got ${JSON.stringify(p.ioPriority.class)}`,
      );
    }
    checkInt(p.ioPriority.priority, "process.ioPriority.priority", 0, 7);
  }
  if (p.apparmorProfile !== undefined) checkString(p.apparmorProfile, "process.apparmorProfile");
  if (p.selinuxLabel !== undefined) checkString(p.selinuxLabel, "process.selinuxLabel");
}

/**
 * Mount types are passed to mount(2) as they are, as runc does: the kernel
 * knows which filesystems it has (/proc/filesystems, and modules load on
 * demand), so only a name no filesystem can have is refused here; an
 * unknown one fails in the init with a message naming the mount.
 */
function validateMounts(mounts: unknown): void {
  if (!Array.isArray(mounts)) fail("mounts", "must be an array");
  mounts.forEach((m, i) => {
    if (!isObject(m)) fail(`mounts[${i}]`, "must be an object");
    checkAbsolute(m.destination, `mounts[${i}].destination`);
    if (m.source !== undefined && typeof m.source !== "string") {
      fail(`mounts[${i}].source`, "must be a string");
    }
    if (m.options !== undefined) checkStringArray(m.options, `mounts[${i}].options`);
    const bind = m.type === "bind" ||
      ((m.options ?? []) as string[]).some((o) => o === "bind" || o === "rbind");
    if (
      m.type !== undefined && (typeof m.type !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(m.type))
    ) {
      fail(`mounts[${i}].type`, `${JSON.stringify(m.type)} is not a filesystem type`);
    }
    if ((m.type === undefined || m.type === "none") && !bind) {
      fail(
        `mounts[${i}].type`,
        `${
          m.type === undefined ? "missing" : '"none"'
        }: a mount without a filesystem type must be a bind mount (option "bind" or "rbind")`,
      );
    }
    if (bind && (typeof m.source !== "string" || m.source === "")) {
      fail(`mounts[${i}].source`, "a bind mount needs the path to bind");
    }
    if (m.uidMappings !== undefined) checkIdMappings(m.uidMappings, `mounts[${i}].uidMappings`);
    if (m.gidMappings !== undefined) checkIdMappings(m.gidMappings, `mounts[${i}].gidMappings`);
  });
}

/** A check of one field's value. */
type Check = (v: unknown, field: string) => void;

function uint16(v: unknown, field: string): void {
  checkInt(v, field, 0, 0xffff);
}

function uint32(v: unknown, field: string): void {
  checkInt(v, field, 0, 0xffffffff);
}

function int64(v: unknown, field: string): void {
  checkInt(v, field, -(2 ** 63), 2 ** 63);
}

function swappiness(v: unknown, field: string): void {
  // -1: unset (docker's and runc's reading).
  checkInt(v, field, -1, 100);
}

/** A cpuset list (cpu.cpus, cpu.mems): "0-3,7", or empty. */
function cpuList(v: unknown, field: string): void {
  checkString(v, field);
  if (v !== "" && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v as string)) {
    fail(field, `${JSON.stringify(v)} is not a list such as "0-3,7"`);
  }
}

function pageSize(v: unknown, field: string): void {
  if (typeof v !== "string" || !/^\d+[KMGT]?B$/.test(v)) {
    fail(field, `${JSON.stringify(v)} is not a page size such as "2MB"`);
  }
}

/** A check of an array of objects, each field by its own check (`required` ones even when absent). */
function arrayOf(fields: Readonly<Record<string, Check>>, required: readonly string[]): Check {
  return (v, field) => {
    checkArray(v, field);
    v.forEach((e, i) => {
      checkObject(e, `${field}[${i}]`);
      for (const [k, check] of Object.entries(fields)) {
        if (e[k] !== undefined || required.includes(k)) check(e[k], `${field}[${i}].${k}`);
      }
    });
  };
}

const throttle = arrayOf({ major: int64, minor: int64, rate: checkUint64 }, ["major", "minor", "rate"]);

/** linux.resources, section by section: each known field's type (unknown fields are ignored, as the spec says). */
const RESOURCES: Readonly<Record<string, Readonly<Record<string, Check>>>> = {
  memory: {
    limit: checkLimit,
    reservation: checkLimit,
    swap: checkLimit,
    kernel: checkLimit,
    kernelTCP: checkLimit,
    swappiness,
    disableOOMKiller: checkBool,
    useHierarchy: checkBool,
    checkBeforeUpdate: checkBool,
  },
  cpu: {
    shares: checkUint64,
    quota: checkLimit,
    burst: checkUint64,
    period: checkUint64,
    realtimeRuntime: int64,
    realtimePeriod: checkUint64,
    cpus: cpuList,
    mems: cpuList,
    idle: int64,
  },
  pids: { limit: checkLimit },
  blockIO: {
    weight: uint16,
    leafWeight: uint16,
    weightDevice: arrayOf({ major: int64, minor: int64, weight: uint16, leafWeight: uint16 }, [
      "major",
      "minor",
    ]),
    throttleReadBpsDevice: throttle,
    throttleWriteBpsDevice: throttle,
    throttleReadIOPSDevice: throttle,
    throttleWriteIOPSDevice: throttle,
  },
  network: {
    classID: uint32,
    priorities: arrayOf({ name: checkString, priority: uint32 }, ["name", "priority"]),
  },
};

/**
 * Checks the types of an OCI `linux.resources` object (also what `tinyo
 * update --resources` reads), and normalises its device rules.
 *
 * @param field How to name it in errors.
 * @throws {ConfigError} naming the first field of the wrong type.
 */
export function validateResources(resources: unknown, field = "linux.resources"): void {
  checkObject(resources, field);
  for (const [section, fields] of Object.entries(RESOURCES)) {
    const value = resources[section];
    if (value === undefined || value === null) continue;
    checkObject(value, `${field}.${section}`);
    for (const [key, check] of Object.entries(fields)) {
      if (value[key] !== undefined && value[key] !== null) check(value[key], `${field}.${section}.${key}`);
    }
  }
  if (resources.hugepageLimits !== undefined) {
    arrayOf({ pageSize, limit: checkUint64 }, ["pageSize", "limit"])(
      resources.hugepageLimits,
      `${field}.hugepageLimits`,
    );
  }
  if (resources.rdma !== undefined) {
    checkObject(resources.rdma, `${field}.rdma`);
    for (const [device, limits] of Object.entries(resources.rdma)) {
      checkObject(limits, `${field}.rdma["${device}"]`);
      if (limits.hcaHandles !== undefined) uint32(limits.hcaHandles, `${field}.rdma["${device}"].hcaHandles`);
      if (limits.hcaObjects !== undefined) uint32(limits.hcaObjects, `${field}.rdma["${device}"].hcaObjects`);
    }
  }
  if (resources.unified !== undefined) {
    checkObject(resources.unified, `${field}.unified`);
    for (const [key, v] of Object.entries(resources.unified)) checkString(v, `${field}.unified["${key}"]`);
  }
  if (resources.devices !== undefined) resources.devices = validateDeviceRules(resources.devices);
}

function validateLinux(
  linux: unknown,
  spec: Record<string, unknown>,
  isHostNamespace: HostNamespaceProbe,
): void {
  if (!isObject(linux)) fail("linux", "must be an object");
  const seen = new Set<string>();
  if (linux.namespaces !== undefined) {
    if (!Array.isArray(linux.namespaces)) fail("linux.namespaces", "must be an array");
    linux.namespaces.forEach((ns, i) => {
      if (!isObject(ns)) fail(`linux.namespaces[${i}]`, "must be an object");
      if (!NAMESPACE_TYPES.includes(ns.type as NamespaceType)) {
        fail(`linux.namespaces[${i}].type`, `unknown namespace type ${JSON.stringify(ns.type)}`);
      }
      if (seen.has(ns.type as string)) fail(`linux.namespaces[${i}]`, `duplicate namespace "${ns.type}"`);
      seen.add(ns.type as string);
      if (ns.path !== undefined) checkAbsolute(ns.path, `linux.namespaces[${i}].path`);
    });
  }
  if (spec.hostname !== undefined && !seen.has("uts")) {
    fail("hostname", "setting a hostname needs a new UTS namespace (linux.namespaces)");
  }
  if (linux.devices !== undefined) {
    if (!Array.isArray(linux.devices)) fail("linux.devices", "must be an array");
    linux.devices.forEach((d, i) => {
      if (!isObject(d)) fail(`linux.devices[${i}]`, "must be an object");
      checkAbsolute(d.path, `linux.devices[${i}].path`);
      if (!["c", "b", "u", "p"].includes(d.type as string)) {
        fail(`linux.devices[${i}].type`, "must be c, b, u or p");
      }
    });
  }
  for (const key of ["maskedPaths", "readonlyPaths"] as const) {
    if (linux[key] !== undefined) {
      checkStringArray(linux[key], `linux.${key}`);
      (linux[key] as string[]).forEach((p, i) => checkAbsolute(p, `linux.${key}[${i}]`));
    }
  }
  if (linux.seccomp !== undefined) {
    const problem = seccompProblem(linux.seccomp);
    if (problem !== undefined) {
      fail(["linux.seccomp", problem[0]].filter((s) => s !== "").join("."), problem[1]);
    }
  }
  if (linux.sysctl !== undefined) {
    validateSysctl(linux.sysctl, seen, linux.namespaces as Namespace[] | undefined, isHostNamespace);
  }
  if (linux.resources !== undefined) validateResources(linux.resources);
  if (linux.personality !== undefined) {
    checkObject(linux.personality, "linux.personality");
    const domain = linux.personality.domain;
    if (!PERSONALITY_DOMAINS.includes(domain as Personality["domain"])) {
      fail("linux.personality.domain", `must be LINUX or LINUX32, got ${JSON.stringify(domain)}`);
    }
    if (linux.personality.flags !== undefined) {
      checkStringArray(linux.personality.flags, "linux.personality.flags");
    }
  }
  if (linux.uidMappings !== undefined) checkIdMappings(linux.uidMappings, "linux.uidMappings");
  if (linux.gidMappings !== undefined) checkIdMappings(linux.gidMappings, "linux.gidMappings");
  if (linux.mountLabel !== undefined) checkString(linux.mountLabel, "linux.mountLabel");
  const prop = linux.rootfsPropagation;
  if (
    prop !== undefined &&
    !["private", "rprivate", "slave", "rslave", "shared", "rshared"].includes(prop as string)
  ) {
    fail("linux.rootfsPropagation", `unknown propagation ${JSON.stringify(prop)}`);
  }
}

/** Whether the namespace file at `path` is the caller's own namespace of `type`. */
export type HostNamespaceProbe = (type: NamespaceType, path: string) => boolean;

/** The /proc/self/ns/ file of each namespace type. */
const NS_FILES: Readonly<Record<NamespaceType, string>> = {
  pid: "pid",
  network: "net",
  mount: "mnt",
  ipc: "ipc",
  uts: "uts",
  user: "user",
  cgroup: "cgroup",
  time: "time",
};

/**
 * The real probe: the same namespace is the same nsfs inode. Called before
 * the init joins anything, so "our own" is the host's (the runtime and the
 * init share every namespace a sysctl can belong to).
 */
function isHostNamespace(type: NamespaceType, path: string): boolean {
  const joined = Deno.statSync(path);
  const own = Deno.statSync(`/proc/self/ns/${NS_FILES[type]}`);
  return joined.dev === own.dev && joined.ino === own.ino;
}

/** Options of `validateSpec`. */
export interface ValidateOptions {
  /**
   * Tells whether a joined namespace is the host's (sysctls are refused
   * there); by default its inode is compared with /proc/self/ns/. Asked only
   * for namespaces joined by path that a sysctl belongs to.
   */
  isHostNamespace?: HostNamespaceProbe;
}

/**
 * Which namespace a sysctl belongs to, by prefix (what the kernel keeps per
 * namespace); anything else is host-wide and refused, as runc does.
 */
const SYSCTL_NAMESPACES: readonly [RegExp, NamespaceType][] = [
  [/^net\./, "network"],
  [/^kernel\.(shm(max|all|mni)|shm_rmid_forced|msg(max|mnb|mni)|sem)$/, "ipc"],
  [/^fs\.mqueue\./, "ipc"],
  [/^kernel\.(hostname|domainname)$/, "uts"],
];

function validateSysctl(
  sysctl: unknown,
  namespaces: Set<string>,
  list: Namespace[] | undefined,
  isHostNamespace: HostNamespaceProbe,
): void {
  if (!isObject(sysctl)) fail("linux.sysctl", "must be an object");
  for (const [key, value] of Object.entries(sysctl)) {
    if (typeof value !== "string") fail(`linux.sysctl["${key}"]`, "must be a string");
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/.test(key)) {
      fail(`linux.sysctl["${key}"]`, "is not a sysctl name");
    }
    const ns = SYSCTL_NAMESPACES.find(([re]) => re.test(key))?.[1];
    if (ns === undefined) {
      fail(`linux.sysctl["${key}"]`, "is not namespaced: it would change the host (refused)");
    }
    if (!namespaces.has(ns)) {
      fail(`linux.sysctl["${key}"]`, `needs a ${ns} namespace of its own (linux.namespaces)`);
    }
    // A joined namespace may be the host's own (/proc/1/ns/net): refused
    // then, as runc does; another one (podman's /run/netns/..., with its
    // net.ipv4.ping_group_range) is the container's to set.
    const path = list?.find((n) => n.type === ns)?.path;
    if (path !== undefined) {
      let host: boolean;
      try {
        host = isHostNamespace(ns, path);
      } catch (err) {
        fail(
          `linux.sysctl["${key}"]`,
          `cannot check the ${ns} namespace "${path}": ${(err as Error).message}`,
        );
      }
      if (host) fail(`linux.sysctl["${key}"]`, `the ${ns} namespace "${path}" is the host's (refused)`);
    }
  }
}

function validateHooks(hooks: unknown): void {
  if (!isObject(hooks)) fail("hooks", "must be an object");
  for (const kind of HOOK_KINDS) {
    const list = hooks[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) fail(`hooks.${kind}`, "must be an array");
    list.forEach((h, i) => {
      const field = `hooks.${kind}[${i}]`;
      if (!isObject(h)) fail(field, "must be an object");
      checkAbsolute(h.path, `${field}.path`);
      if (h.args !== undefined) checkStringArray(h.args, `${field}.args`);
      if (h.env !== undefined) {
        checkStringArray(h.env, `${field}.env`);
        for (const e of h.env as string[]) {
          if (!e.includes("=") || e.startsWith("=")) {
            fail(`${field}.env`, `entry ${JSON.stringify(e)} is not KEY=VALUE`);
          }
        }
      }
      // config.md: "If set, timeout MUST be greater than zero" (whole seconds).
      if (h.timeout !== undefined && (!Number.isInteger(h.timeout) || (h.timeout as number) <= 0)) {
        fail(
          `${field}.timeout`,
          `must be a positive integer number of seconds, got ${JSON.stringify(h.timeout)}`,
        );
      }
    });
  }
}

/**
 * Checks that `value` is a usable runtime-spec configuration and returns it
 * typed. Unknown fields are ignored, as the spec requires.
 *
 * @throws {ConfigError} naming the first invalid field.
 */
export function validateSpec(value: unknown, options: ValidateOptions = {}): Spec {
  if (!isObject(value)) fail("config", "must be a JSON object");
  if (typeof value.ociVersion !== "string") fail("ociVersion", "must be a string");
  if (!isObject(value.root) || typeof value.root.path !== "string" || value.root.path === "") {
    fail("root.path", "must name the root filesystem");
  }
  if (value.process !== undefined) validateProcess(value.process);
  if (value.hostname !== undefined) {
    if (
      typeof value.hostname !== "string" || value.hostname.length > 64 ||
      !/^[A-Za-z0-9.-]*$/.test(value.hostname)
    ) {
      fail(
        "hostname",
        `${JSON.stringify(value.hostname)} is not a valid host name (letters, digits, '-', '.'; 64 at most)`,
      );
    }
  }
  if (value.mounts !== undefined) validateMounts(value.mounts);
  if (value.linux !== undefined) {
    validateLinux(value.linux, value, options.isHostNamespace ?? isHostNamespace);
  }
  if (value.hooks !== undefined) validateHooks(value.hooks);
  return value as unknown as Spec;
}

/** Reads and validates `<bundle>/config.json`. */
export function loadSpec(path: string): Spec {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new ConfigError(`Cannot read container configuration "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Cannot parse container configuration "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  return validateSpec(json);
}

/** What `unsupportedFeatures` needs to know about the host. */
export interface HostSecurity {
  /** AppArmor is enabled: /sys/kernel/security/apparmor exists. */
  apparmor: boolean;
  /** SELinux is enabled: /sys/fs/selinux exists. */
  selinux: boolean;
}

/** The paths that tell whether the host has AppArmor and SELinux (what runc's libraries look at). */
export const HOST_SECURITY_PATHS = {
  apparmor: "/sys/kernel/security/apparmor",
  selinux: "/sys/fs/selinux",
} as const;

function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Looks at the host for the security modules a config.json may name.
 *
 * @param exists How to test a path (tests pass their own).
 */
export function probeHostSecurity(exists: (path: string) => boolean = pathExists): HostSecurity {
  return { apparmor: exists(HOST_SECURITY_PATHS.apparmor), selinux: exists(HOST_SECURITY_PATHS.selinux) };
}

/**
 * What a valid configuration asks for that tinyo cannot honour here, one
 * line each, naming the field: the caller refuses to create the container
 * (silently running without an AppArmor profile or an SELinux label that
 * the configuration asked for would be a weaker container than intended).
 *
 * - process.apparmorProfile: refused when the host has no AppArmor (as
 *   runc does); otherwise the init applies it (runtime/container/labels.ts).
 * - process.selinuxLabel: the same with SELinux. linux.mountLabel is
 *   ignored on a host without SELinux (as runc's label code does), and
 *   refused on one with it (tinyo does not label mounts).
 * - user namespaces, linux.uidMappings/gidMappings and id-mapped mounts: a
 *   multi-threaded process (Deno) can neither create nor join a user
 *   namespace (shared/docs/PLATFORM.md).
 * - linux.intelRdt (resctrl) and linux.timeOffsets (a time namespace):
 *   tinyo has neither, so a configuration asking for them is refused.
 */
export function unsupportedFeatures(spec: Spec, host: HostSecurity = probeHostSecurity()): string[] {
  const out: string[] = [];
  const profile = spec.process?.apparmorProfile;
  if (profile !== undefined && profile !== "" && !host.apparmor) {
    out.push(`process.apparmorProfile "${profile}": AppArmor is not enabled on this host`);
  }
  const label = spec.process?.selinuxLabel;
  if (label !== undefined && label !== "" && !host.selinux) {
    out.push(`process.selinuxLabel "${label}": SELinux is not enabled on this host`);
  }
  const mountLabel = spec.linux?.mountLabel;
  if (mountLabel !== undefined && mountLabel !== "" && host.selinux) {
    out.push(`linux.mountLabel "${mountLabel}": tinyo cannot apply SELinux labels`);
  }
  const userNs = "tinyo cannot create or join a user namespace";
  if (spec.linux?.namespaces?.some((n) => n.type === "user")) out.push(`linux.namespaces: user: ${userNs}`);
  for (const key of ["uidMappings", "gidMappings"] as const) {
    if ((spec.linux?.[key] ?? []).length > 0) {
      out.push(`linux.${key}: id mappings need a user namespace: ${userNs}`);
    }
  }
  (spec.mounts ?? []).forEach((m, i) => {
    if ((m.uidMappings ?? []).length > 0 || (m.gidMappings ?? []).length > 0) {
      out.push(`mounts[${i}] "${m.destination}": id-mapped mounts are not supported`);
    }
  });
  const linux = spec.linux as Record<string, unknown> | undefined;
  if (linux?.intelRdt !== undefined) out.push("linux.intelRdt: Intel RDT is not supported");
  if (linux?.timeOffsets !== undefined) {
    out.push("linux.timeOffsets: time namespace offsets are not supported");
  }
  return out;
}

/**
 * Refuses, with one line, a configuration `unsupportedFeatures` finds
 * something in.
 *
 * @throws {ConfigError} listing everything tinyo cannot honour.
 */
export function assertSupported(spec: Spec, host: HostSecurity = probeHostSecurity()): void {
  const problems = unsupportedFeatures(spec, host);
  if (problems.length > 0) {
    throw new ConfigError(`Cannot honour the container configuration: ${problems.join("; ")}`);
  }
}

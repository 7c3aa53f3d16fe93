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
import type { SeccompProfile } from "./seccomp/compile.ts";
import { validateDeviceRules } from "./devices.ts";

/** The runtime-spec version tinyo writes and reports. */
export const OCI_VERSION = "1.2.0";

/** process.user */
export interface User {
  uid: number;
  gid: number;
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
}

/** mounts[] */
export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
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

/** linux */
export interface Linux {
  seccomp?: Seccomp;
  namespaces?: Namespace[];
  devices?: Device[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  cgroupsPath?: string;
  resources?: Record<string, unknown>;
  sysctl?: Record<string, string>;
}

/** The top-level config.json object. */
export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: Mount[];
  annotations?: Record<string, string>;
  linux?: Linux;
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
  if (p.rlimits !== undefined) {
    if (!Array.isArray(p.rlimits)) fail("process.rlimits", "must be an array");
    p.rlimits.forEach((r, i) => {
      if (!isObject(r) || typeof r.type !== "string") fail(`process.rlimits[${i}].type`, "must be a string");
      if (typeof r.soft !== "number" || typeof r.hard !== "number") {
        fail(`process.rlimits[${i}]`, "soft and hard must be numbers");
      }
    });
  }
}

function validateMounts(mounts: unknown): void {
  if (!Array.isArray(mounts)) fail("mounts", "must be an array");
  mounts.forEach((m, i) => {
    if (!isObject(m)) fail(`mounts[${i}]`, "must be an object");
    checkAbsolute(m.destination, `mounts[${i}].destination`);
    if (m.type !== undefined && typeof m.type !== "string") fail(`mounts[${i}].type`, "must be a string");
    if (m.source !== undefined && typeof m.source !== "string") {
      fail(`mounts[${i}].source`, "must be a string");
    }
    if (m.options !== undefined) checkStringArray(m.options, `mounts[${i}].options`);
  });
}

function validateLinux(linux: unknown, spec: Record<string, unknown>): void {
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
    const sc = linux.seccomp;
    if (!isObject(sc) || typeof sc.defaultAction !== "string") {
      fail("linux.seccomp.defaultAction", "must be a string");
    }
    if (sc.syscalls !== undefined && !Array.isArray(sc.syscalls)) {
      fail("linux.seccomp.syscalls", "must be an array");
    }
  }
  if (linux.sysctl !== undefined) {
    validateSysctl(linux.sysctl, seen, linux.namespaces as Namespace[] | undefined);
  }
  if (isObject(linux.resources) && linux.resources.devices !== undefined) {
    linux.resources.devices = validateDeviceRules(linux.resources.devices);
  }
  const prop = linux.rootfsPropagation;
  if (
    prop !== undefined &&
    !["private", "rprivate", "slave", "rslave", "shared", "rshared"].includes(prop as string)
  ) {
    fail("linux.rootfsPropagation", `unknown propagation ${JSON.stringify(prop)}`);
  }
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

function validateSysctl(sysctl: unknown, namespaces: Set<string>, list: Namespace[] | undefined): void {
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
    // A joined namespace may be the host's own (e.g. /proc/1/ns/net): only
    // sysctls of namespaces the container creates are allowed.
    if (!namespaces.has(ns) || list?.some((n) => n.type === ns && n.path !== undefined)) {
      fail(`linux.sysctl["${key}"]`, `needs a new ${ns} namespace (linux.namespaces)`);
    }
  }
}

/**
 * Checks that `value` is a usable runtime-spec configuration and returns it
 * typed. Unknown fields are ignored, as the spec requires.
 *
 * @throws {ConfigError} naming the first invalid field.
 */
export function validateSpec(value: unknown): Spec {
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
  if (value.linux !== undefined) validateLinux(value.linux, value);
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

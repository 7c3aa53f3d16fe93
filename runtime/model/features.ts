/**
 * The features document `tinyo features` prints: what tinyo recognises in a
 * config.json, per the runtime-spec's features.md and features-linux.md
 * (what runc, crun and youki print for `features`). It describes tinyo, not
 * the host: the spec asks for content fixed when the runtime is built.
 *
 * Each list is what the code that reads the spec accepts, and the tests
 * check that against it: mount option names against the option table of
 * runtime/container/mounts.ts, seccomp actions and operators against
 * seccomp/compile.ts, capabilities against capabilities.ts, namespaces
 * against namespaces.ts. What tinyo does not implement is reported as
 * disabled (Intel RDT, id-mapped mounts, the systemd
 * cgroup manager) or left out (user and time namespaces).
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/features.md
 * @see https://github.com/opencontainers/runtime-spec/blob/main/features-linux.md
 * @module
 */

import { type NamespaceType, OCI_VERSION } from "./spec.ts";
import { allCapabilities } from "./capabilities.ts";
import { SECCOMP_FILTER_FLAGS, X86_ARCHES } from "./seccomp/compile.ts";

/** The oldest runtime-spec version tinyo accepts in config.json (runc says the same). */
export const OCI_VERSION_MIN = "1.0.0";

/** The six hook kinds of config.md ("POSIX-platform Hooks"). */
const HOOKS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/**
 * Mount options runtime/container/mounts.ts turns into mount(2) flags (its
 * OPTIONS table, crun's mount_flags.perf idea); anything else is passed to
 * the filesystem as data, which features.md says not to list. Kept in step
 * with that table by tests/runtime/model/features_test.ts.
 */
const MOUNT_OPTIONS = [
  "async",
  "atime",
  "bind",
  "defaults",
  "dev",
  "diratime",
  "dirsync",
  "exec",
  "mand",
  "noatime",
  "nodev",
  "nodiratime",
  "noexec",
  "nomand",
  "norelatime",
  "nostrictatime",
  "nosuid",
  "private",
  "rbind",
  "relatime",
  "remount",
  "ro",
  "rprivate",
  "rshared",
  "rslave",
  "runbindable",
  "rw",
  "shared",
  "slave",
  "strictatime",
  "suid",
  "sync",
  "unbindable",
];

/**
 * Namespaces tinyo creates or joins. Not "user": a multi-threaded Deno
 * process cannot make one (PLATFORM.md), and not "time", which tinyo does
 * not set up (no linux.timeOffsets).
 */
const NAMESPACES: readonly NamespaceType[] = ["cgroup", "ipc", "mount", "network", "pid", "uts"];

/** Seccomp actions seccomp/compile.ts compiles (its `action` switch). */
const SECCOMP_ACTIONS = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_LOG",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_TRAP",
];

/** Argument operators seccomp/compile.ts compiles (its `emitArg` switch). */
const SECCOMP_OPERATORS = [
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_LE",
  "SCMP_CMP_LT",
  "SCMP_CMP_MASKED_EQ",
  "SCMP_CMP_NE",
];

/** features-linux.md "cgroup": which cgroup managers the runtime implements. */
export interface CgroupFeatures {
  v1: boolean;
  v2: boolean;
  systemd: boolean;
  systemdUser: boolean;
  rdma: boolean;
}

/** features-linux.md "seccomp". */
export interface SeccompFeatures {
  enabled: boolean;
  actions: string[];
  operators: string[];
  archs: string[];
  /** Names accepted in linux.seccomp.flags (none: tinyo ignores the field). */
  knownFlags: string[];
  supportedFlags: string[];
}

/** features-linux.md: the `linux` object. */
export interface LinuxFeatures {
  namespaces: NamespaceType[];
  capabilities: string[];
  cgroup: CgroupFeatures;
  seccomp: SeccompFeatures;
  apparmor: { enabled: boolean };
  selinux: { enabled: boolean };
  intelRdt: { enabled: boolean };
  mountExtensions: { idmap: { enabled: boolean } };
}

/** features.md: the whole document. */
export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: LinuxFeatures;
  annotations: Record<string, string>;
}

/** What `features` needs from outside the model. */
export interface FeaturesOptions {
  /** tinyo's version, reported as the "org.tinyo.version" annotation. */
  version?: string;
}

/**
 * The features document. Every call returns fresh objects, so a caller may
 * change its copy.
 *
 * @param options `version`: tinyo's version, for the annotations.
 * @returns The document, ready for `JSON.stringify`.
 *
 * @example Usage
 * ```ts
 * console.log(JSON.stringify(features({ version: "0.1.0" }), null, 2));
 * ```
 */
export function features(options: FeaturesOptions = {}): Features {
  return {
    ociVersionMin: OCI_VERSION_MIN,
    ociVersionMax: OCI_VERSION,
    hooks: [...HOOKS],
    mountOptions: [...MOUNT_OPTIONS],
    linux: {
      namespaces: [...NAMESPACES],
      capabilities: allCapabilities(),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: true },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS],
        operators: [...SECCOMP_OPERATORS],
        // x86_64, and the i386 and x32 ABIs when a profile lists them
        // (compile.ts kills any other architecture).
        archs: [...X86_ARCHES],
        knownFlags: Object.keys(SECCOMP_FILTER_FLAGS),
        // Passed to seccomp(2); TSYNC is accepted and needs nothing (the
        // init is the only thread that execs).
        supportedFlags: [
          "SECCOMP_FILTER_FLAG_TSYNC",
          "SECCOMP_FILTER_FLAG_LOG",
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        ],
      },
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: options.version === undefined ? {} : { "org.tinyo.version": options.version },
  };
}

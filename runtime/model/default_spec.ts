/**
 * The config.json `tinyo spec` writes: runc's `runc spec` template
 * (libcontainer/specconv/example.go, `Example`) with tinyo's values where
 * tinyo has its own (the mounts of `tinyo run`, the hostname).
 *
 * From runc: a shell on a terminal as root in "/", the capabilities
 * AUDIT_WRITE, KILL and NET_BIND_SERVICE in the bounding, effective and
 * permitted sets (runc dropped inheritable, and with it ambient, in
 * opencontainers/runc#4367), RLIMIT_NOFILE 1024, no_new_privs, a read-only
 * "rootfs", every device denied, new pid, network, ipc, uts, mount and cgroup
 * namespaces (runc adds cgroup on cgroup v2 hosts only; the spec here must
 * not depend on the host), and /sys/fs/cgroup mounted read-only.
 *
 * @module
 */

import { type Mount, OCI_VERSION, type Spec } from "./spec.ts";
import { ConfigError } from "../errors.ts";
import { DEFAULT_MASKED_PATHS, DEFAULT_PATH, DEFAULT_READONLY_PATHS, defaultMounts } from "./run_spec.ts";

/**
 * Paths runc's current template masks that DEFAULT_MASKED_PATHS (docker's
 * list, which `tinyo run` uses) lacks: the TPM's sysfs directory, in the
 * current example.go (the one importing github.com/opencontainers/cgroups).
 * runc's other masks are all in DEFAULT_MASKED_PATHS, which adds docker's
 * /sys/devices/virtual/powercap.
 */
const RUNC_EXTRA_MASKED_PATHS = ["/sys/devices/virtual/tpm"];

/** runc's three capabilities. */
const CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/** The read-only cgroup mount of runc's template (runc mounts cgroup2 there on a v2 host). */
const CGROUP_MOUNT: Mount = {
  destination: "/sys/fs/cgroup",
  type: "cgroup",
  source: "cgroup",
  options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
};

/** What `tinyo spec` was asked for. */
export interface DefaultSpecOptions {
  /** `--rootless`: refused, tinyo cannot make the user namespace it needs. */
  rootless?: boolean;
}

/**
 * The default config.json, as `runc spec` writes it. Every call returns fresh
 * objects, so a caller may edit the result.
 *
 * @param options `rootless`: a spec for a rootless container (refused).
 * @returns A spec that passes `validateSpec`.
 * @throws {ConfigError} when `rootless` is asked for.
 *
 * @example Usage
 * ```ts ignore
 * Deno.writeTextFileSync("config.json", JSON.stringify(defaultSpec(), null, "\t"));
 * ```
 */
export function defaultSpec(options: DefaultSpecOptions = {}): Spec {
  if (options.rootless) {
    // runc's ToRootless adds a user namespace with the caller's id mapped to root.
    throw new ConfigError("Cannot make a rootless spec: tinyo does not support user namespaces");
  }
  const masked = [
    ...DEFAULT_MASKED_PATHS,
    ...RUNC_EXTRA_MASKED_PATHS.filter((p) => !DEFAULT_MASKED_PATHS.includes(p)),
  ];
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: [`PATH=${DEFAULT_PATH}`, "TERM=xterm"],
      cwd: "/",
      capabilities: {
        bounding: [...CAPABILITIES],
        effective: [...CAPABILITIES],
        permitted: [...CAPABILITIES],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "tinyo",
    mounts: [...defaultMounts(), { ...CGROUP_MOUNT, options: [...CGROUP_MOUNT.options!] }],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: [
        { type: "pid" },
        { type: "network" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "cgroup" },
      ],
      maskedPaths: masked,
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
}

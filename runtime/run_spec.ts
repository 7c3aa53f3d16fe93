/**
 * `tinyo run` options → an OCI runtime-spec configuration, with the defaults
 * docker and `runc spec` users expect. Pure: no I/O.
 *
 * @module
 */

import { type Mount, type Namespace, OCI_VERSION, type Spec } from "./spec.ts";
import { DEFAULT_PATH } from "./exec_path.ts";
import { ConfigError } from "./errors.ts";

/** A `-v HOST:CTR[:ro]` volume. */
export interface Volume {
  source: string;
  destination: string;
  readonly: boolean;
}

/** What the user asked `tinyo run` for. */
export interface RunOptions {
  /** The tarball or directory named on the command line. */
  image: string;
  /** Command and arguments (empty: /bin/sh). */
  command: string[];
  env: string[];
  workdir?: string;
  hostname?: string;
  volumes: Volume[];
  readOnly: boolean;
  /** Write into a directory rootfs instead of an overlay on top of it. */
  rootfsRw: boolean;
  network: "none" | "host";
  user?: { uid: number; gid: number };
}

/** Host files the container sees at /etc/hostname, /etc/hosts and /etc/resolv.conf. */
export interface EtcFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

/** Parses `-v HOST:CTR[:ro|rw]`. */
export function parseVolume(value: string): Volume {
  const parts = value.split(":");
  const [source, destination, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || !source || !destination) {
    throw new ConfigError(`Invalid volume "${value}": expected HOST:CONTAINER[:ro]`);
  }
  if (!source.startsWith("/")) {
    throw new ConfigError(
      `Invalid volume "${value}": the host path must be absolute (named volumes are not supported)`,
    );
  }
  if (!destination.startsWith("/")) {
    throw new ConfigError(`Invalid volume "${value}": the container path must be absolute`);
  }
  if (mode !== undefined && mode !== "ro" && mode !== "rw") {
    throw new ConfigError(`Invalid volume "${value}": unknown mode "${mode}" (use ro or rw)`);
  }
  return { source, destination, readonly: mode === "ro" };
}

/** Parses `-e KEY=VALUE`, or `-e KEY` taking KEY from `hostEnv` (skipped when unset). */
export function parseEnv(value: string, hostEnv: (key: string) => string | undefined): string | undefined {
  const eq = value.indexOf("=");
  if (eq === 0) throw new ConfigError(`Invalid environment variable "${value}": the name is empty`);
  if (eq > 0) return value;
  const v = hostEnv(value);
  return v === undefined ? undefined : `${value}=${v}`;
}

/** The container's /etc/hosts for `hostname` (loopback only, as the network is). */
export function hostsFile(hostname: string): string {
  return [
    "127.0.0.1\tlocalhost localhost.localdomain",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    `127.0.1.1\t${hostname}`,
    "",
  ].join("\n");
}

/** The mounts every container gets (runc's `spec` template, docker's defaults). */
export function defaultMounts(): Mount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  ];
}

/**
 * Builds the container's spec.
 *
 * @param opts What the user asked for.
 * @param ctx The container id, its rootfs mount point and its /etc files.
 */
export function buildRunSpec(
  opts: RunOptions,
  ctx: { id: string; rootfs: string; etc: EtcFiles; hostEnv?: (key: string) => string | undefined },
): Spec {
  const hostname = opts.hostname ?? ctx.id.slice(0, 12);
  const env = new Map<string, string>([
    ["PATH", DEFAULT_PATH],
    ["HOSTNAME", hostname],
    ["HOME", opts.user === undefined || opts.user.uid === 0 ? "/root" : "/"],
  ]);
  for (const raw of opts.env) {
    const e = parseEnv(raw, ctx.hostEnv ?? (() => undefined));
    if (e === undefined) continue;
    const eq = e.indexOf("=");
    env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  const workdir = opts.workdir ?? "/";
  if (!workdir.startsWith("/")) {
    throw new ConfigError(`Invalid working directory "${workdir}": it must be absolute`);
  }
  const namespaces: Namespace[] = [{ type: "pid" }, { type: "mount" }, { type: "uts" }, { type: "ipc" }, {
    type: "cgroup",
  }];
  if (opts.network === "none") namespaces.push({ type: "network" });
  const mounts = defaultMounts();
  const bindFile = (source: string, destination: string): Mount => ({
    destination,
    type: "bind",
    source,
    options: ["rbind", "rprivate"],
  });
  mounts.push(bindFile(ctx.etc.hostname, "/etc/hostname"));
  mounts.push(bindFile(ctx.etc.hosts, "/etc/hosts"));
  mounts.push(bindFile(ctx.etc.resolvConf, "/etc/resolv.conf"));
  for (const v of opts.volumes) {
    mounts.push({
      destination: v.destination,
      type: "bind",
      source: v.source,
      options: ["rbind", "rprivate", ...(v.readonly ? ["ro"] : [])],
    });
  }
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: opts.user ?? { uid: 0, gid: 0 },
      args: opts.command.length > 0 ? opts.command : ["/bin/sh"],
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: workdir,
    },
    root: { path: ctx.rootfs, readonly: opts.readOnly },
    hostname,
    mounts,
    annotations: { "org.tinyo.image": opts.image },
    linux: { namespaces, rootfsPropagation: "rprivate" },
  };
}

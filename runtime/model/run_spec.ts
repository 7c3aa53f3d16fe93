/**
 * `tinyo run` options → an OCI runtime-spec configuration, with the defaults
 * docker and `runc spec` users expect. Pure: no I/O.
 *
 * @module
 */

import { type Mount, type Namespace, OCI_VERSION, type Spec } from "./spec.ts";
import { ConfigError } from "../errors.ts";
import { resolveCapabilities } from "./capabilities.ts";
import { loadSeccompProfile, resolveProfile } from "./seccomp/compile.ts";
import { DEFAULT_SECCOMP_PROFILE } from "./seccomp/default.ts";
import { ALLOW_ALL_DEVICES, DEFAULT_DEVICE_RULES } from "./devices.ts";
import type { PortMapping } from "./network.ts";

/** The PATH used when the container's environment sets none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The limits tinyo sets: OCI linux.resources (config-linux.md) flattened,
 * devices aside (runtime/model/devices.ts). An absent field is left as it
 * is (on `update` too); runtime/host/cgroups.ts maps each to the files of
 * cgroup v1 or v2.
 */
export interface CgroupResources {
  /** memory.limit: bytes; -1 unlimited. */
  memory?: number;
  /** memory.swap: memory plus swap in bytes; -1 for unlimited swap. */
  memorySwap?: number;
  /** memory.reservation: soft limit in bytes (v1 soft_limit_in_bytes, v2 memory.low). */
  memoryReservation?: number;
  /** memory.swappiness, 0..100 (v1 only; cgroup v2 has none and it is ignored there, as runc does). */
  memorySwappiness?: number;
  /** memory.disableOOMKiller (v1 memory.oom_control). */
  disableOOMKiller?: boolean;
  /** memory.checkBeforeUpdate: refuse a memory limit at or below current usage (v2). */
  memoryCheckBeforeUpdate?: boolean;
  /** cpu.quota and cpu.period: CFS quota and period in microseconds (quota -1: unlimited). */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** cpu.burst in microseconds. */
  cpuBurst?: number;
  /** cpu.shares: relative CPU weight (docker's --cpu-shares, 2..262144). */
  cpuShares?: number;
  /** cpu.realtimeRuntime and cpu.realtimePeriod in microseconds (v1 only). */
  cpuRealtimeRuntime?: number;
  cpuRealtimePeriod?: number;
  /** cpu.cpus and cpu.mems: cpuset lists such as "0-3,6". */
  cpusetCpus?: string;
  cpusetMems?: string;
  /** cpu.idle: 1 makes the cgroup SCHED_IDLE. */
  cpuIdle?: number;
  /** pids.limit: maximum number of tasks; -1 unlimited. */
  pidsLimit?: number;
  /** hugepageLimits: bytes of huge pages per page size ("2MB"). */
  hugepageLimits?: { pageSize: string; limit: number }[];
  /** blockIO.weight and blockIO.leafWeight (10..1000). */
  blkioWeight?: number;
  blkioLeafWeight?: number;
  /** blockIO.weightDevice. */
  blkioWeightDevice?: { major: number; minor: number; weight?: number; leafWeight?: number }[];
  /** blockIO.throttle*Device: bytes or operations per second per device (0 removes the limit). */
  blkioThrottleReadBpsDevice?: { major: number; minor: number; rate: number }[];
  blkioThrottleWriteBpsDevice?: { major: number; minor: number; rate: number }[];
  blkioThrottleReadIOPSDevice?: { major: number; minor: number; rate: number }[];
  blkioThrottleWriteIOPSDevice?: { major: number; minor: number; rate: number }[];
  /** network.classID (v1 net_cls). */
  netClassID?: number;
  /** network.priorities (v1 net_prio). */
  netPriorities?: { name: string; priority: number }[];
  /** rdma: per device, the HCA handles and objects allowed. */
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  /** unified: cgroup v2 interface files written as given, last. */
  unified?: Record<string, string>;
}

/** A resolved identity. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Home directory from /etc/passwd ("/" when unknown). */
  home: string;
}

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
  /** bridge (tinyo0, the default), none (loopback only) or host; container:NAME is in `share`. */
  network: "none" | "host" | "bridge";
  /** `-p`: ports to publish (bridge only). */
  publish?: PortMapping[];
  /** `--ip`: a fixed address on the bridge. */
  ip?: string;
  /** `--mac-address`. */
  mac?: string;
  /** `--dns`: the container's nameservers instead of the host's. */
  dns?: string[];
  /** `--add-host NAME:IP`: extra lines of /etc/hosts. */
  addHosts?: { name: string; ip: string }[];
  /**
   * `--init`: the host path of a tiny init (catatonit) to run as PID 1,
   * bind-mounted read-only at /dev/init, with the command as its child.
   */
  init?: string;
  /** `-u USER[:GROUP]`, resolved against the image by the runtime. */
  userSpec?: string;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** no_new_privs (default true). */
  noNewPrivileges?: boolean;
  /** "default", "unconfined" or a docker-format profile path (default "default"). */
  seccomp?: string;
  ulimits?: { type: string; soft: number; hard: number }[];
  tmpfs?: { destination: string; options: string[] }[];
  /** cgroup limits. */
  resources?: CgroupResources;
  /** `--name`. */
  name?: string;
  /** `-t`: a pseudo-terminal; `-i`: forward stdin to it. */
  tty?: boolean;
  interactive?: boolean;
  /** Namespaces to share with running containers (`--network container:NAME`, ...): type → name. */
  share?: { network?: string; ipc?: string; pid?: string; uts?: string };
}

/** Paths of namespaces to join instead of creating, by type. */
export interface NamespaceJoins {
  network?: string;
  ipc?: string;
  pid?: string;
  uts?: string;
}

/** Where `--init` puts the init inside the container (podman uses /run/podman-init, docker /sbin/docker-init). */
export const INIT_PATH = "/dev/init";

/** The paths runc's default spec masks (and docker's). */
export const DEFAULT_MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** The paths runc's default spec makes read-only. */
export const DEFAULT_READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** Parses `--ulimit NAME=SOFT[:HARD]` (`unlimited` or -1 for no limit). */
export function parseUlimit(value: string): { type: string; soft: number; hard: number } {
  const m = /^([a-z]+)=(-?\d+|unlimited)(?::(-?\d+|unlimited))?$/.exec(value.trim());
  const names = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
  ];
  if (m === null || !names.includes(m[1]!)) {
    throw new ConfigError(
      `Invalid ulimit "${value}": expected NAME=SOFT[:HARD] with NAME one of ${names.join(", ")}`,
    );
  }
  const num = (v: string): number => v === "unlimited" || v === "-1" ? -1 : Number(v);
  const soft = num(m[2]!);
  const hard = m[3] === undefined ? soft : num(m[3]);
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    throw new ConfigError(`Invalid ulimit "${value}": the soft limit exceeds the hard one`);
  }
  return { type: `RLIMIT_${m[1]!.toUpperCase()}`, soft, hard };
}

/** Parses `--tmpfs PATH[:OPTIONS]`. */
export function parseTmpfs(value: string): { destination: string; options: string[] } {
  const colon = value.indexOf(":");
  const destination = colon < 0 ? value : value.slice(0, colon);
  if (!destination.startsWith("/")) {
    throw new ConfigError(`Invalid --tmpfs "${value}": the path must be absolute`);
  }
  const options = colon < 0 ? [] : value.slice(colon + 1).split(",").filter((o) => o !== "");
  return { destination, options };
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

/**
 * The container's /etc/hosts for `hostname` without a bridge address
 * (loopback only, or the host's network), with `--add-host` lines.
 */
export function hostsFile(hostname: string, extra: readonly { name: string; ip: string }[] = []): string {
  return [
    "127.0.0.1\tlocalhost localhost.localdomain",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    `127.0.1.1\t${hostname}`,
    ...extra.map((h) => `${h.ip}\t${h.name}`),
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
  ctx: {
    id: string;
    rootfs: string;
    etc: EtcFiles;
    hostEnv?: (key: string) => string | undefined;
    /** The resolved `-u` identity. */
    user?: ResolvedUser;
    /** Capabilities tinyo itself holds (what --privileged and ALL can give). */
    availableCaps?: readonly string[];
    /** Namespaces joined instead of created. */
    joins?: NamespaceJoins;
  },
): Spec {
  const joins = ctx.joins ?? {};
  if (joins.uts !== undefined && opts.hostname !== undefined) {
    throw new ConfigError(
      "Cannot set --hostname together with --uts container:NAME: the host name is that container's",
    );
  }
  const hostname = opts.hostname ?? ctx.id.slice(0, 12);
  const user = ctx.user ?? { uid: 0, gid: 0, additionalGids: [], home: "/root" };
  const env = new Map<string, string>([
    ["PATH", DEFAULT_PATH],
    ["HOSTNAME", hostname],
    ["HOME", user.uid === 0 ? "/root" : user.home],
    ...(opts.tty ? [["TERM", "xterm"] as [string, string]] : []),
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
  const ns = (type: "pid" | "uts" | "ipc" | "network"): Namespace =>
    joins[type] !== undefined ? { type, path: joins[type]! } : { type };
  const namespaces: Namespace[] = [ns("pid"), { type: "mount" }, ns("uts"), ns("ipc"), { type: "cgroup" }];
  // A bridged container joins the namespace the runtime made and pinned
  // (runtime/host/network.ts), passed in `joins`.
  if (opts.network !== "host" || joins.network !== undefined) namespaces.push(ns("network"));
  const privileged = opts.privileged ?? false;
  const mounts = defaultMounts();
  if (privileged) {
    const sys = mounts.find((m) => m.destination === "/sys")!;
    sys.options = sys.options!.filter((o) => o !== "ro");
  }
  const bindFile = (source: string, destination: string): Mount => ({
    destination,
    type: "bind",
    source,
    options: ["rbind", "rprivate"],
  });
  mounts.push(bindFile(ctx.etc.hostname, "/etc/hostname"));
  mounts.push(bindFile(ctx.etc.hosts, "/etc/hosts"));
  mounts.push(bindFile(ctx.etc.resolvConf, "/etc/resolv.conf"));
  for (const t of opts.tmpfs ?? []) {
    mounts.push({
      destination: t.destination,
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "noexec", ...t.options],
    });
  }
  if (opts.init !== undefined) {
    // After /dev's tmpfs (a default mount): the file is made on it, read-only.
    mounts.push({
      destination: INIT_PATH,
      type: "bind",
      source: opts.init,
      options: ["bind", "ro", "nosuid", "nodev", "rprivate"],
    });
  }
  for (const v of opts.volumes) {
    mounts.push({
      destination: v.destination,
      type: "bind",
      source: v.source,
      options: ["rbind", "rprivate", ...(v.readonly ? ["ro"] : [])],
    });
  }
  // Capabilities: docker's default set, adjusted; all the runtime has with --privileged.
  let caps = resolveCapabilities(opts.capAdd ?? [], opts.capDrop ?? [], privileged);
  const available = ctx.availableCaps;
  if (available !== undefined) {
    const wantsAll = privileged || (opts.capAdd ?? []).some((c) => c.toUpperCase() === "ALL");
    const missing = caps.filter((c) => !available.includes(c));
    if (missing.length > 0 && !wantsAll) {
      throw new ConfigError(
        `Cannot grant ${missing.join(", ")}: tinyo itself does not hold ${
          missing.length > 1 ? "them" : "it"
        }`,
      );
    }
    caps = caps.filter((c) => available.includes(c));
  }
  // A non-root user gets the bounding set only (no file capabilities here), as with docker.
  const granted = user.uid === 0 ? caps : [];
  const seccompChoice = opts.seccomp ?? (privileged ? "unconfined" : "default");
  const seccomp = seccompChoice === "unconfined" ? undefined : resolveProfile(
    seccompChoice === "default" ? DEFAULT_SECCOMP_PROFILE : loadSeccompProfile(seccompChoice),
    {
      capabilities: caps,
    },
  );
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: opts.tty ?? false,
      user: {
        uid: user.uid,
        gid: user.gid,
        ...(user.additionalGids.length > 0 ? { additionalGids: user.additionalGids } : {}),
      },
      args: [
        // catatonit: forwards signals to its child, reaps every orphan.
        ...(opts.init !== undefined ? [INIT_PATH, "--"] : []),
        ...(opts.command.length > 0 ? opts.command : ["/bin/sh"]),
      ],
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: workdir,
      capabilities: {
        bounding: caps,
        effective: granted,
        permitted: granted,
        // None inheritable (CVE-2022-29162: they would survive an execve into
        // a file with inheritable file capabilities after a switch of user).
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: opts.noNewPrivileges ?? true,
      ...(opts.ulimits && opts.ulimits.length > 0 ? { rlimits: opts.ulimits } : {}),
    },
    root: { path: ctx.rootfs, readonly: opts.readOnly },
    ...(joins.uts === undefined ? { hostname } : {}),
    mounts,
    annotations: { "org.tinyo.image": opts.image },
    linux: {
      namespaces,
      rootfsPropagation: "rprivate",
      cgroupsPath: `tinyo/${ctx.id}`,
      resources: {
        ...ociResources(opts.resources ?? {}),
        // Every device denied but the safe ones (everything with --privileged, as docker).
        devices: (privileged ? ALLOW_ALL_DEVICES : DEFAULT_DEVICE_RULES).map((r) => ({ ...r })),
      },
      // ping without CAP_NET_RAW: ICMP datagram sockets for every group, in
      // the container's own network namespace only (podman does the same).
      ...(opts.network !== "host" && opts.share?.network === undefined
        ? { sysctl: { "net.ipv4.ping_group_range": "0 2147483647" } }
        : {}),
      ...(privileged ? {} : { maskedPaths: DEFAULT_MASKED_PATHS, readonlyPaths: DEFAULT_READONLY_PATHS }),
      ...(seccomp ? { seccomp } : {}),
    },
  };
}

/** Our flat limits in the OCI linux.resources shape. */
export function ociResources(r: CgroupResources): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.memory !== undefined || r.memorySwap !== undefined) {
    out.memory = {
      ...(r.memory !== undefined ? { limit: r.memory } : {}),
      ...(r.memorySwap !== undefined ? { swap: r.memorySwap } : {}),
    };
  }
  if (r.cpuQuota !== undefined || r.cpuShares !== undefined) {
    out.cpu = {
      ...(r.cpuQuota !== undefined ? { quota: r.cpuQuota, period: r.cpuPeriod ?? 100000 } : {}),
      ...(r.cpuShares !== undefined ? { shares: r.cpuShares } : {}),
    };
  }
  if (r.pidsLimit !== undefined) out.pids = { limit: r.pidsLimit };
  return out;
}

/**
 * OCI linux.resources back to our flat limits (what the runtime applies).
 * Fields that are absent or null stay absent; the deprecated kernel memory
 * limits (memory.kernel, memory.kernelTCP) and memory.useHierarchy are
 * ignored, as runc does. A field of the wrong type is a ConfigError naming it.
 */
export function flatResources(res: Record<string, unknown> | undefined): CgroupResources {
  const r: CgroupResources = {};
  const bad = (field: string, what: string): never => {
    throw new ConfigError(`Invalid container configuration: linux.resources.${field}: expected ${what}`);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> | undefined =>
    v === undefined || v === null
      ? undefined
      : typeof v === "object" && !Array.isArray(v)
      ? v as Record<string, unknown>
      : bad(field, "an object");
  const num = (v: unknown, field: string): number | undefined =>
    v === undefined || v === null ? undefined : Number.isInteger(v) ? v as number : bad(field, "an integer");
  const str = (v: unknown, field: string): string | undefined =>
    v === undefined || v === null ? undefined : typeof v === "string" ? v : bad(field, "a string");
  const list = <T>(
    v: unknown,
    field: string,
    item: (e: Record<string, unknown>, f: string) => T,
  ): T[] | undefined =>
    v === undefined || v === null
      ? undefined
      : Array.isArray(v)
      ? v.map((e, i) =>
        item(obj(e, `${field}[${i}]`) ?? bad(`${field}[${i}]`, "an object"), `${field}[${i}]`)
      )
      : bad(field, "an array");
  const bool = (v: unknown, field: string): boolean | undefined =>
    v === undefined || v === null ? undefined : typeof v === "boolean" ? v : bad(field, "true or false");
  const req = (v: unknown, field: string): number => num(v, field) ?? bad(field, "an integer");
  const set = <K extends keyof CgroupResources>(key: K, value: CgroupResources[K] | undefined): void => {
    if (value !== undefined) r[key] = value;
  };
  const all = obj(res, "") ?? {};
  const memory = obj(all.memory, "memory") ?? {};
  set("memory", num(memory.limit, "memory.limit"));
  set("memorySwap", num(memory.swap, "memory.swap"));
  set("memoryReservation", num(memory.reservation, "memory.reservation"));
  // -1 is how docker and runc say "unset".
  const swappiness = num(memory.swappiness, "memory.swappiness");
  if (swappiness !== -1) set("memorySwappiness", swappiness);
  set("disableOOMKiller", bool(memory.disableOOMKiller, "memory.disableOOMKiller"));
  set("memoryCheckBeforeUpdate", bool(memory.checkBeforeUpdate, "memory.checkBeforeUpdate"));
  const cpu = obj(all.cpu, "cpu") ?? {};
  set("cpuQuota", num(cpu.quota, "cpu.quota"));
  set("cpuPeriod", num(cpu.period, "cpu.period"));
  set("cpuBurst", num(cpu.burst, "cpu.burst"));
  set("cpuShares", num(cpu.shares, "cpu.shares"));
  set("cpuRealtimeRuntime", num(cpu.realtimeRuntime, "cpu.realtimeRuntime"));
  set("cpuRealtimePeriod", num(cpu.realtimePeriod, "cpu.realtimePeriod"));
  set("cpusetCpus", str(cpu.cpus, "cpu.cpus"));
  set("cpusetMems", str(cpu.mems, "cpu.mems"));
  set("cpuIdle", num(cpu.idle, "cpu.idle"));
  set("pidsLimit", num(obj(all.pids, "pids")?.limit, "pids.limit"));
  set(
    "hugepageLimits",
    list(all.hugepageLimits, "hugepageLimits", (e, f) => ({
      pageSize: str(e.pageSize, `${f}.pageSize`) ?? bad(`${f}.pageSize`, "a string"),
      limit: req(e.limit, `${f}.limit`),
    })),
  );
  const io = obj(all.blockIO, "blockIO") ?? {};
  set("blkioWeight", num(io.weight, "blockIO.weight"));
  set("blkioLeafWeight", num(io.leafWeight, "blockIO.leafWeight"));
  set(
    "blkioWeightDevice",
    list(io.weightDevice, "blockIO.weightDevice", (e, f) => {
      const weight = num(e.weight, `${f}.weight`);
      const leafWeight = num(e.leafWeight, `${f}.leafWeight`);
      return {
        major: req(e.major, `${f}.major`),
        minor: req(e.minor, `${f}.minor`),
        ...(weight !== undefined ? { weight } : {}),
        ...(leafWeight !== undefined ? { leafWeight } : {}),
      };
    }),
  );
  for (
    const [key, flat] of [
      ["throttleReadBpsDevice", "blkioThrottleReadBpsDevice"],
      ["throttleWriteBpsDevice", "blkioThrottleWriteBpsDevice"],
      ["throttleReadIOPSDevice", "blkioThrottleReadIOPSDevice"],
      ["throttleWriteIOPSDevice", "blkioThrottleWriteIOPSDevice"],
    ] as const
  ) {
    set(
      flat,
      list(io[key], `blockIO.${key}`, (e, f) => ({
        major: req(e.major, `${f}.major`),
        minor: req(e.minor, `${f}.minor`),
        rate: req(e.rate, `${f}.rate`),
      })),
    );
  }
  const net = obj(all.network, "network") ?? {};
  set("netClassID", num(net.classID, "network.classID"));
  set(
    "netPriorities",
    list(net.priorities, "network.priorities", (e, f) => ({
      name: str(e.name, `${f}.name`) ?? bad(`${f}.name`, "a string"),
      priority: req(e.priority, `${f}.priority`),
    })),
  );
  const rdma = obj(all.rdma, "rdma");
  if (rdma !== undefined) {
    r.rdma = {};
    for (const [device, v] of Object.entries(rdma)) {
      const limits = obj(v, `rdma[${JSON.stringify(device)}]`) ?? {};
      const hcaHandles = num(limits.hcaHandles, `rdma[${JSON.stringify(device)}].hcaHandles`);
      const hcaObjects = num(limits.hcaObjects, `rdma[${JSON.stringify(device)}].hcaObjects`);
      r.rdma[device] = {
        ...(hcaHandles !== undefined ? { hcaHandles } : {}),
        ...(hcaObjects !== undefined ? { hcaObjects } : {}),
      };
    }
  }
  const unified = obj(all.unified, "unified");
  if (unified !== undefined) {
    r.unified = {};
    for (const [key, v] of Object.entries(unified)) {
      r.unified[key] = str(v, `unified[${JSON.stringify(key)}]`) ??
        bad(`unified[${JSON.stringify(key)}]`, "a string");
    }
  }
  return r;
}

/**
 * docker's limit flags → limits: `-m` with k/m/g suffixes (at least 6 MiB),
 * `--memory-swap` (memory plus swap; -1 unlimited; default twice the memory),
 * `--cpus` (fractional CPUs as a CFS quota per 100 ms), `--cpu-shares`,
 * `--pids-limit` (-1 or 0: unlimited).
 */
export function parseResources(flags: {
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
}, parse: (v: string, what: string) => number): CgroupResources {
  const r: CgroupResources = {};
  if (flags.memory !== undefined) {
    r.memory = parse(flags.memory, "--memory");
    if (r.memory < 6 * 1024 * 1024) {
      throw new ConfigError(`Invalid --memory "${flags.memory}": the minimum is 6m`);
    }
  }
  if (flags.memorySwap !== undefined) {
    if (r.memory === undefined) throw new ConfigError("Invalid --memory-swap: it needs --memory too");
    r.memorySwap = flags.memorySwap === "-1" ? -1 : parse(flags.memorySwap, "--memory-swap");
    if (r.memorySwap !== -1 && r.memorySwap < r.memory) {
      throw new ConfigError(
        `Invalid --memory-swap "${flags.memorySwap}": it must be at least --memory (memory plus swap)`,
      );
    }
  } else if (r.memory !== undefined) r.memorySwap = 2 * r.memory;
  if (flags.cpus !== undefined) {
    const cpus = Number(flags.cpus);
    if (!Number.isFinite(cpus) || cpus <= 0 || cpus > 1024) {
      throw new ConfigError(`Invalid --cpus "${flags.cpus}": expected a positive number such as 0.5 or 2`);
    }
    r.cpuPeriod = 100000;
    r.cpuQuota = Math.max(1000, Math.round(cpus * 100000));
  }
  if (flags.cpuShares !== undefined) {
    const shares = Number(flags.cpuShares);
    if (!Number.isInteger(shares) || shares < 2 || shares > 262144) {
      throw new ConfigError(
        `Invalid --cpu-shares "${flags.cpuShares}": expected a whole number from 2 to 262144`,
      );
    }
    r.cpuShares = shares;
  }
  if (flags.pidsLimit !== undefined) {
    const n = Number(flags.pidsLimit);
    if (!Number.isInteger(n) || n < -1) {
      throw new ConfigError(`Invalid --pids-limit "${flags.pidsLimit}": expected a whole number`);
    }
    r.pidsLimit = n <= 0 ? -1 : n;
  }
  return r;
}

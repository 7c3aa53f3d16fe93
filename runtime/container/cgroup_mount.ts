/**
 * The `cgroup` mount of a config.json (`{destination: "/sys/fs/cgroup",
 * type: "cgroup", options: [..., "ro"]}` in runc's, podman's and
 * containerd's configurations): the container's own cgroups, where programs
 * read their limits (a JVM its memory, a Go runtime its CPU quota).
 *
 * Done by the init before pivot_root, after it joined its cgroup and made
 * its namespaces, while the host's /proc is still there to read: the host's
 * hierarchies from /proc/self/mountinfo, the init's place in each from
 * /proc/self/cgroup. Like runc (libcontainer/rootfs_linux.go,
 * mountCgroupV1 and mountCgroupV2):
 *
 * - cgroup v2 only: a fresh cgroup2 mount when the container has a cgroup
 *   namespace (its root is the container's cgroup); without one, the
 *   container's own cgroup directory bound from the host. (runc mounts a
 *   fresh cgroup2 there too, which shows the whole host tree; tinyo shows
 *   only the container's own part, as with a cgroup namespace.)
 * - v1 and hybrid: a tmpfs (mode 755), in it one directory per v1
 *   hierarchy named like the host's mount point (`memory`, `cpu,cpuacct`,
 *   `systemd` for name=systemd), each the container's cgroup of that
 *   hierarchy bound from the host, or with a cgroup namespace a fresh mount
 *   of the hierarchy (which then shows the namespace's root); the links a
 *   joint mount needs (`cpu -> cpu,cpuacct`); the cgroup2 hierarchy of a
 *   hybrid host as `unified` (runc leaves it out); then the tmpfs read-only
 *   when the options say "ro".
 *
 * Every mount is made read-only, nosuid, nodev and noexec as asked: a
 * fresh mount by its flags, a bind with mount_setattr(2) on its whole tree.
 * Everything is resolved inside the container's root by descriptor
 * (runtime/inroot.ts), with no symlink allowed on the way.
 *
 * The planning is pure (`planCgroupMount`); `mountCgroup` runs the plan.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { fsCalls, MOUNT_ATTR, MS, O, type Syscalls } from "../syscalls.ts";
import { fdPath, mountTargetInRoot, openInRoot } from "../inroot.ts";

/** One line of /proc/self/mountinfo (proc(5)). */
export interface MountinfoEntry {
  id: number;
  parent: number;
  /** "major:minor" of the filesystem: one per cgroup hierarchy. */
  dev: string;
  /** The directory of the filesystem that is mounted (a cgroup path for cgroupfs). */
  root: string;
  mountPoint: string;
  options: string[];
  fstype: string;
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/self/mountinfo text. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const out: MountinfoEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const fields = line.split(" ");
    // Optional fields (shared:N, master:N, ...) end with a lone "-".
    const dash = fields.indexOf("-", 6);
    if (fields.length < 10 || dash < 0 || fields.length < dash + 4) {
      throw new ConfigError(`Cannot parse /proc/self/mountinfo: ${JSON.stringify(line.slice(0, 80))}`);
    }
    out.push({
      id: Number(fields[0]),
      parent: Number(fields[1]),
      dev: fields[2]!,
      root: unescapeOctal(fields[3]!),
      mountPoint: unescapeOctal(fields[4]!),
      options: fields[5]!.split(","),
      fstype: fields[dash + 1]!,
      source: unescapeOctal(fields[dash + 2]!),
      superOptions: fields[dash + 3]!.split(","),
    });
  }
  return out;
}

/** One line of /proc/self/cgroup (cgroups(7)): `4:memory:/path`, `0::/path` for v2. */
export interface ProcCgroupEntry {
  id: number;
  /** The hierarchy's controllers and name= (empty for v2). */
  controllers: string[];
  path: string;
}

/** Parses /proc/self/cgroup text. */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m === null) {
      throw new ConfigError(`Cannot parse /proc/self/cgroup: ${JSON.stringify(line.slice(0, 80))}`);
    }
    out.push({ id: Number(m[1]), controllers: m[2] === "" ? [] : m[2]!.split(","), path: m[3]! });
  }
  return out;
}

/** What the host looks like to the init: the two files' text. */
export interface CgroupHost {
  mountinfo: string;
  procCgroup: string;
}

/** Reads the init's /proc/self/mountinfo and /proc/self/cgroup (before pivot_root: the host's /proc). */
export function readCgroupHost(): CgroupHost {
  const read = (path: string): string => {
    try {
      return Deno.readTextFileSync(path);
    } catch (err) {
      throw new ConfigError(`Cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  return { mountinfo: read("/proc/self/mountinfo"), procCgroup: read("/proc/self/cgroup") };
}

/** A `cgroup` or `cgroup2` mount to make. */
export interface CgroupMountRequest {
  /** Where, in the container. */
  destination: string;
  type: "cgroup" | "cgroup2";
  /** The MS_* flags of the spec mount's options (ro, nosuid, ...). */
  flags: number;
  /** Its filesystem options, given to a fresh cgroup2 mount. */
  data: string;
  /** The container has a cgroup namespace (made or joined). */
  cgroupns: boolean;
}

/**
 * One step of the plan. `path` is relative to the destination ("" is the
 * destination itself); `source` of a bind is a host path.
 */
export type CgroupMountStep =
  | { op: "mount"; path: string; source: string; fstype: string; flags: number; data: string }
  | { op: "bind"; path: string; source: string; attrs: number }
  | { op: "symlink"; path: string; target: string }
  | { op: "readonly"; path: string };

/** Flags every cgroup mount gets (runc's defaultMountFlags): nothing to execute, no devices, no set-id. */
const BASE_FLAGS = MS.NOSUID | MS.NODEV | MS.NOEXEC;

/** `path` relative to `root` ("" for root itself), or undefined when it is not below it. */
function below(root: string, path: string): string | undefined {
  if (root === "/") return path.replace(/^\/+/, "");
  if (path === root) return "";
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined;
}

function basename(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop()!;
}

/**
 * Plans a `cgroup` (or `cgroup2`) mount from the host's mount table and the
 * init's /proc/self/cgroup (see the module comment for what it builds).
 *
 * @throws {ConfigError} when the host has no cgroup filesystem, or when the
 *   container's cgroup is not visible in the host's mount of a hierarchy
 *   (with a cgroup namespace, but `cgroupns` not set).
 */
export function planCgroupMount(request: CgroupMountRequest, host: CgroupHost): CgroupMountStep[] {
  const { destination, cgroupns } = request;
  const refuse = (problem: string): never => {
    throw new ConfigError(`Cannot mount ${request.type} on "${destination}": ${problem}`);
  };
  const groups = parseProcCgroup(host.procCgroup);
  const ro = (request.flags & MS.RDONLY) !== 0;
  // One mount per hierarchy (the first listed: the host's own), matched to
  // the init's line for it. A hierarchy without a line is one this process
  // is not in, which cgroup v1 does not allow: skipped all the same.
  const seen = new Set<string>();
  const v1: { mount: MountinfoEntry; group: ProcCgroupEntry }[] = [];
  let v2: MountinfoEntry | undefined;
  for (const mount of parseMountinfo(host.mountinfo)) {
    if (mount.fstype === "cgroup2") v2 ??= mount;
    if (mount.fstype !== "cgroup" || seen.has(mount.dev)) continue;
    seen.add(mount.dev);
    const group = groups.find((g) =>
      g.id !== 0 && g.controllers.length > 0 && g.controllers.every((c) => mount.superOptions.includes(c))
    );
    if (group !== undefined) v1.push({ mount, group });
  }
  const unified = groups.find((g) => g.id === 0 && g.controllers.length === 0);

  /** The host directory of the container's cgroup in `mount`. */
  const ownDir = (mount: MountinfoEntry, path: string): string => {
    const rel = below(mount.root, path);
    if (rel === undefined) {
      refuse(
        `the container's cgroup "${path}" is outside the host's mount of it at "${mount.mountPoint}" (root "${mount.root}"); with a cgroup namespace it needs a fresh mount`,
      );
    }
    return rel === "" ? mount.mountPoint : `${mount.mountPoint}/${rel}`;
  };
  const bindAttrs = MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC | (ro ? MOUNT_ATTR.RDONLY : 0);
  const cgroup2 = (path: string, flags: number, data: string): CgroupMountStep => {
    if (cgroupns) return { op: "mount", path, source: "cgroup2", fstype: "cgroup2", flags, data };
    if (v2 === undefined || unified === undefined) return refuse("the host has no cgroup2 hierarchy to bind");
    return { op: "bind", path, source: ownDir(v2, unified.path), attrs: bindAttrs };
  };

  if (request.type === "cgroup2" || v1.length === 0) {
    if (request.type === "cgroup" && v2 === undefined) refuse("the host has no cgroup filesystem");
    return [cgroup2("", request.flags | BASE_FLAGS, request.data)];
  }

  const steps: CgroupMountStep[] = [
    { op: "mount", path: "", source: "tmpfs", fstype: "tmpfs", flags: BASE_FLAGS, data: "mode=755" },
  ];
  const names = new Set<string>();
  const subFlags = BASE_FLAGS | (ro ? MS.RDONLY : 0);
  for (const { mount, group } of v1) {
    const name = basename(mount.mountPoint);
    if (names.has(name)) continue;
    names.add(name);
    steps.push(
      cgroupns
        ? {
          op: "mount",
          path: name,
          source: "cgroup",
          fstype: "cgroup",
          flags: subFlags,
          data: group.controllers.join(","),
        }
        : { op: "bind", path: name, source: ownDir(mount, group.path), attrs: bindAttrs },
    );
  }
  if (v2 !== undefined && unified !== undefined && !names.has(basename(v2.mountPoint))) {
    names.add(basename(v2.mountPoint));
    steps.push(cgroup2(basename(v2.mountPoint), subFlags, ""));
  }
  // A joint mount's controllers by their own names too, as on the host.
  for (const name of [...names]) {
    if (!name.includes(",")) continue;
    for (const part of name.split(",")) {
      if (part === "" || names.has(part)) continue;
      names.add(part);
      steps.push({ op: "symlink", path: part, target: name });
    }
  }
  if (ro) steps.push({ op: "readonly", path: "" });
  return steps;
}

/** Runs `fn` with a descriptor, closed afterwards. */
function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    fsCalls.close(fd);
  }
}

/**
 * Makes the `cgroup` (or `cgroup2`) mount in the root behind `rootFd`:
 * plans it from `host` (by default the init's own /proc files) and runs the
 * steps. Each target is opened inside the root with no symlink on the way;
 * a bind gets its attributes with mount_setattr(2) on the new mount.
 */
export function mountCgroup(
  sys: Syscalls,
  rootFd: number,
  request: CgroupMountRequest & { host?: CgroupHost },
): void {
  const dest = request.destination.replace(/\/+$/, "") || "/";
  const at = (path: string): string => path === "" ? dest : `${dest === "/" ? "" : dest}/${path}`;
  const target = (path: string): number => mountTargetInRoot(rootFd, at(path), { noSymlinks: true });
  for (const step of planCgroupMount(request, request.host ?? readCgroupHost())) {
    switch (step.op) {
      case "mount":
        withFd(
          target(step.path),
          (fd) =>
            sys.mount(step.source, fdPath(fd), { fstype: step.fstype, flags: step.flags, data: step.data }),
        );
        break;
      case "bind":
        withFd(target(step.path), (fd) => sys.mount(step.source, fdPath(fd), { flags: MS.BIND | MS.REC }));
        // Opened again: the new mount, not the directory under it.
        withFd(target(step.path), (fd) => sys.mountSetattr(fd, step.attrs, 0, true));
        break;
      case "symlink":
        withFd(
          openInRoot(rootFd, dest, O.DIRECTORY, true),
          (fd) => fsCalls.symlinkat(step.target, fd, step.path),
        );
        break;
      case "readonly":
        // Only the tmpfs itself: the hierarchies below have their own flags.
        withFd(
          openInRoot(rootFd, at(step.path), 0, true),
          (fd) => sys.mountSetattr(fd, MOUNT_ATTR.RDONLY, 0, false),
        );
        break;
    }
  }
}

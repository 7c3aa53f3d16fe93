/**
 * `linux.cgroupsPath` → the container's cgroup, as a path below the root of
 * each cgroup hierarchy ("/tinyo/<id>"). Pure: the host side joins it with
 * the mount point of the v2 hierarchy or of each v1 controller.
 *
 * The runtime-spec leaves the meaning open (config-linux.md, "Cgroups
 * path"): an absolute path is relative to the cgroups mount point, a
 * relative one MAY be taken relative to a runtime-chosen place. The callers
 * tinyo serves write:
 *
 * - podman (cgroupfs manager): "/podman-smoke.123/libpod-<id>" (absolute);
 * - containerd (cgroupfs): "/ctr-smoke-123/smk1", or "/default/<id>";
 * - podman or containerd with `--systemd-cgroup`: "machine.slice:libpod:<id>",
 *   "system.slice:containerd:<id>" (systemd's "slice:prefix:name" form);
 * - `tinyo run`: "tinyo/<id>" (relative; run_spec.ts).
 *
 * Decisions, each checked against runc and crun:
 *
 * - Relative paths hang from the hierarchy root, as absolute ones do:
 *   "a/b" is "/a/b". This is crun's rule (src/libcrun/cgroup-cgroupfs.c,
 *   `make_cgroup_path`: a path without a leading "/" gets one). runc instead
 *   puts a relative path under the cgroup the runtime itself runs in
 *   (libcontainer/cgroups/fs/paths.go: `GetOwnCgroupPath`; fs2/defaultpath.go:
 *   the parent of the cgroup in /proc/self/cgroup). That depends on who
 *   started the runtime (a login session's scope, conmon's, a systemd
 *   service's), so the same config.json would land in different places, and
 *   the answer could not be computed here without reading /proc; it would
 *   also move `tinyo run`'s "tinyo/<id>" away from /sys/fs/cgroup/tinyo/<id>,
 *   where runtime/host/cgroups.ts keeps it.
 * - No path: "/tinyo/<id>", tinyo's own sub-tree (runc uses "/<id>", crun
 *   "/<id>"). With `--systemd-cgroup` and no path, runc's default unit
 *   ("system.slice:runc:<id>") in tinyo's name: "/system.slice/tinyo-<id>.scope".
 * - "slice:prefix:name" is only read with `--systemd-cgroup` (runc:
 *   libcontainer/specconv/spec_linux.go), and then it is the only form
 *   accepted. tinyo does not talk to systemd: the form is mapped onto the
 *   directories systemd itself would use, as runc computes them
 *   (libcontainer/cgroups/systemd/common.go, `ExpandSlice` and
 *   `getUnitName`; v2.go joins slice and unit): "a-b.slice" expands to
 *   "/a.slice/a-b.slice", an empty slice is "system.slice" (runc's parent for
 *   root), "-.slice" is the root slice, and the unit is "<prefix>-<name>.scope",
 *   or `name` itself when it ends in ".slice". An empty prefix gives
 *   "-<name>.scope", as both runc and crun (`get_systemd_scope_and_slice` in
 *   src/libcrun/cgroup-systemd.c) produce.
 * - Without `--systemd-cgroup`, a path with two colons and no "/" is taken
 *   for the systemd form and refused, rather than becoming a directory
 *   named "system.slice:libpod:abc" at the root (write "/a:b:c" for that).
 * - Components are checked, not silently cleaned as runc's `CleanPath` does:
 *   no NUL, no newline (the kernel refuses it in cgroup names,
 *   kernel/cgroup/cgroup.c `cgroup_mkdir`, since /proc/PID/cgroup is
 *   line-based), no empty component (so no "//" and no trailing "/"), at most
 *   255 bytes each (NAME_MAX); "." is dropped and ".." removes the previous
 *   component, but may not climb above the root; the root cgroup itself is
 *   refused (a container there could not be limited nor removed).
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#cgroups-path
 * @module
 */

import { ConfigError } from "../errors.ts";

/** The parent of containers' cgroups when the spec names none. */
export const DEFAULT_CGROUP_PARENT = "tinyo";

/** NAME_MAX: the longest directory name, in bytes. */
const NAME_MAX = 255;

/** How to read `linux.cgroupsPath`. */
export interface CgroupsPathOptions {
  /** The `--systemd-cgroup` global flag: read the "slice:prefix:name" form. */
  systemd: boolean;
}

function fail(cgroupsPath: string, problem: string): never {
  throw new ConfigError(`Invalid cgroupsPath ${JSON.stringify(cgroupsPath)}: ${problem}`);
}

/** Whether a cgroupfs path looks like systemd's "slice:prefix:name". */
function looksSystemd(path: string): boolean {
  return !path.includes("/") && path.split(":").length === 3;
}

/**
 * Normalises an absolute path (`abs`, derived from the user's `original`):
 * drops ".", applies "..", and checks each component.
 */
function normalise(abs: string, original: string): string {
  const out: string[] = [];
  const parts = abs.split("/").slice(1);
  if (abs === "/") fail(original, "it names the root cgroup itself");
  for (const [i, c] of parts.entries()) {
    if (c === "") fail(original, `component ${i + 1} is empty`);
    if (c === ".") continue;
    if (c === "..") {
      if (out.length === 0) fail(original, `".." climbs above the cgroup root`);
      out.pop();
      continue;
    }
    const bytes = new TextEncoder().encode(c).length;
    if (bytes > NAME_MAX) fail(original, `component ${i + 1} is ${bytes} bytes long (${NAME_MAX} at most)`);
    out.push(c);
  }
  if (out.length === 0) fail(original, "it names the root cgroup itself");
  return `/${out.join("/")}`;
}

/**
 * A systemd slice name as its cgroup path (runc's `ExpandSlice`):
 * "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" → "/".
 */
function expandSlice(slice: string, original: string): string {
  const bad = (): never => fail(original, `${JSON.stringify(slice)} is not a valid systemd slice name`);
  if (!slice.endsWith(".slice") || slice === ".slice" || slice.includes("/")) bad();
  const base = slice.slice(0, -".slice".length);
  if (base === "-") return "/";
  let path = "";
  let prefix = "";
  for (const part of base.split("-")) {
    // "a--b.slice" and "-a.slice" name no slice.
    if (part === "") bad();
    path += `/${prefix}${part}.slice`;
    prefix += `${part}-`;
  }
  return path;
}

/** Checks that `id` can name the default cgroup ("<id>", or the unit "tinyo-<id>.scope"). */
function checkId(id: string, systemd: boolean): void {
  const room = NAME_MAX - (systemd ? `${DEFAULT_CGROUP_PARENT}-.scope`.length : 0);
  const why = id === "" || id === "." || id === ".."
    ? "it is not a directory name"
    : /[/\0\n]/.test(id)
    ? `it contains "/", a NUL byte or a newline`
    : new TextEncoder().encode(id).length > room
    ? `it is longer than ${room} bytes`
    : undefined;
  if (why !== undefined) {
    throw new ConfigError(`Cannot name a cgroup after container id ${JSON.stringify(id)}: ${why}`);
  }
}

/** The systemd form ("slice:prefix:name") as the path systemd would give the unit. */
function systemdPath(path: string, id: string): string {
  if (path === "") return normalise(`/system.slice/${DEFAULT_CGROUP_PARENT}-${id}.scope`, path);
  const parts = path.split(":");
  if (parts.length !== 3) {
    fail(path, `expected the "slice:prefix:name" form for systemd cgroups (--systemd-cgroup)`);
  }
  const [slice, prefix, name] = parts as [string, string, string];
  if (name === "") fail(path, "the name (after the second colon) is empty");
  if (prefix.includes("/") || name.includes("/")) fail(path, `the prefix and name may not contain "/"`);
  const parent = slice === "" ? "/system.slice" : expandSlice(slice, path);
  let unit = `${prefix}-${name}.scope`;
  if (name.endsWith(".slice")) {
    expandSlice(name, path);
    unit = name;
  }
  return normalise(`${parent === "/" ? "" : parent}/${unit}`, path);
}

/**
 * Resolves `linux.cgroupsPath` to the container's cgroup: a path starting
 * with "/", relative to the root of each cgroup hierarchy. See the module
 * documentation for the rules and where they come from.
 *
 * @param cgroupsPath `linux.cgroupsPath` from config.json (undefined or "" when absent).
 * @param id The container id (used when the spec names no path).
 * @param options `systemd`: whether `--systemd-cgroup` was given.
 * @returns The cgroup path, e.g. "/tinyo/<id>" or "/machine.slice/libpod-<id>.scope".
 * @throws {ConfigError} for a path in the wrong form or with an invalid component.
 *
 * @example Usage
 * ```ts
 * resolveCgroupsPath(undefined, "web", { systemd: false }); // "/tinyo/web"
 * resolveCgroupsPath("machine.slice:libpod:web", "web", { systemd: true });
 * // "/machine.slice/libpod-web.scope"
 * ```
 */
export function resolveCgroupsPath(
  cgroupsPath: string | undefined,
  id: string,
  options: CgroupsPathOptions,
): string {
  const path = cgroupsPath ?? "";
  if (path.includes("\0")) fail(path, "it contains a NUL byte");
  if (path.includes("\n")) fail(path, "it contains a newline");
  if (path === "") checkId(id, options.systemd);
  if (options.systemd) return systemdPath(path, id);
  if (path === "") return normalise(`/${DEFAULT_CGROUP_PARENT}/${id}`, path);
  if (looksSystemd(path)) {
    fail(path, `the "slice:prefix:name" form needs systemd cgroups (--systemd-cgroup)`);
  }
  return normalise(path.startsWith("/") ? path : `/${path}`, path);
}

/**
 * Namespaces: spec types to clone flags, and which ones the init creates or
 * joins. The PID namespace is special: only a new child can enter one, so
 * the runtime handles it around spawning the init (runtime/spawn.ts), and
 * the init handles all the others on its own main thread.
 *
 * @module
 */

import type { NamespaceType, Spec } from "./spec.ts";
import { CLONE, type Syscalls } from "./syscalls.ts";

/** Clone flag of each namespace type. */
export const NAMESPACE_FLAGS: Readonly<Record<NamespaceType, number>> = {
  pid: CLONE.NEWPID,
  network: CLONE.NEWNET,
  mount: CLONE.NEWNS,
  ipc: CLONE.NEWIPC,
  uts: CLONE.NEWUTS,
  user: CLONE.NEWUSER,
  cgroup: CLONE.NEWCGROUP,
  time: CLONE.NEWTIME,
};

/** What the init does about namespaces: flags to unshare, paths to join. */
export interface NamespacePlan {
  /** Flags for one unshare(2) call (0 for none). */
  unshareFlags: number;
  /** Existing namespaces to join with setns(2), in order. */
  join: { type: NamespaceType; path: string; flag: number }[];
}

/**
 * Plans the init's namespace work from the spec. PID is left to the runtime;
 * user namespaces are refused (a multi-threaded Deno process cannot create
 * one, see PLATFORM.md), so they never reach this point.
 */
export function planNamespaces(spec: Spec): NamespacePlan {
  let unshareFlags = 0;
  const join: NamespacePlan["join"] = [];
  for (const ns of spec.linux?.namespaces ?? []) {
    if (ns.type === "pid" || ns.type === "user") continue;
    if (ns.path !== undefined) join.push({ type: ns.type, path: ns.path, flag: NAMESPACE_FLAGS[ns.type] });
    else unshareFlags |= NAMESPACE_FLAGS[ns.type];
  }
  // The mount namespace last: namespace files are opened by their host path
  // (/proc/PID/ns/...), which another mount namespace's /proc would not show.
  join.sort((a, b) => Number(a.type === "mount") - Number(b.type === "mount"));
  return { unshareFlags, join };
}

/** Joins and creates the namespaces of `plan` on the calling thread. */
export function applyNamespaces(sys: Syscalls, plan: NamespacePlan): void {
  for (const ns of plan.join) {
    // setns into a mount namespace needs a private fs_struct (root, cwd).
    if (ns.flag === CLONE.NEWNS) sys.unshare(CLONE.FS);
    sys.setns(ns.path, ns.flag);
  }
  if (plan.unshareFlags !== 0) sys.unshare(plan.unshareFlags);
}

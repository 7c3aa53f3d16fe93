/**
 * Namespaces as data: the clone flag of each spec type, and what the init
 * will do about them (create or join). The PID namespace is special: only a
 * new child can enter one, so the runtime handles it around spawning the
 * init (runtime/host/spawn.ts), and the init handles all the others on its
 * own main thread (runtime/container/namespaces.ts).
 *
 * @module
 */

import type { NamespaceType, Spec } from "./spec.ts";
import { CLONE } from "../../ffi/constants.ts";

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

/**
 * Joining and creating namespaces on the init's main thread (the plan comes
 * from runtime/model/namespaces.ts).
 *
 * @module
 */

import { CLONE, type Syscalls } from "../syscalls.ts";
import type { NamespacePlan } from "../model/namespaces.ts";

/** Joins and creates the namespaces of `plan` on the calling thread. */
export function applyNamespaces(sys: Syscalls, plan: NamespacePlan): void {
  for (const ns of plan.join) {
    // setns into a mount namespace needs a private fs_struct (root, cwd).
    if (ns.flag === CLONE.NEWNS) sys.unshare(CLONE.FS);
    sys.setns(ns.path, ns.flag);
  }
  if (plan.unshareFlags !== 0) sys.unshare(plan.unshareFlags);
}

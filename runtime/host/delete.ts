/**
 * `delete`: removes a container that has stopped (or was only created), and
 * with `force` one that still runs, after killing it. What is removed, in
 * the order that cannot leak (runtime/host/records.ts reapContainer): its
 * processes, its cgroups, then its directory and record.
 *
 * @module
 */

import { type ContainerRecord, type Layout, reapContainer } from "./records.ts";
import { statusOf } from "./status.ts";
import { killAndWait } from "./handle.ts";
import { freezeCgroup, killCgroupProcesses } from "./cgroups.ts";
import { TinyoError } from "../errors.ts";
import { configOf } from "./start.ts";
import { runHooksWarn } from "../hooks.ts";
import { hooksOf, hookState } from "../model/hooks.ts";

/**
 * Deletes `rec`; throws when it runs and `force` is not given. Then runs
 * the poststop hooks of an OCI container (a failing one only warns).
 */
export function deleteContainer(
  layout: Layout,
  rec: ContainerRecord,
  force: boolean,
  warn: (message: string) => void = () => {},
): void {
  const { status } = statusOf(layout, rec);
  if ((status === "running" || status === "paused") && !force) {
    throw new TinyoError(
      `Cannot delete container "${rec.name ?? rec.id}": it is ${status} (stop it first, or use --force)`,
    );
  }
  if (status !== "stopped") {
    // Thawed first: a frozen process dies of SIGKILL only once it runs again.
    if (status === "paused") freezeCgroup(rec.cgroups ?? [], false);
    if (rec.detached) killAndWait(rec.ownerPid, rec.ownerStartTime);
    killAndWait(rec.pid, rec.pidStartTime);
    killCgroupProcesses(rec.cgroups ?? [], rec.cgroupPath);
  }
  // Read before the container's directory goes with it.
  const spec = configOf(layout, rec.id);
  if (!reapContainer(layout, rec)) {
    throw new TinyoError(
      `Cannot delete container "${rec.name ?? rec.id}": its cgroup is still busy (try again)`,
    );
  }
  const hooks = spec === undefined ? [] : hooksOf(spec, "poststop");
  if (hooks.length > 0) {
    const state = hookState({
      id: rec.id,
      bundle: rec.bundle,
      status: "stopped",
      annotations: spec!.annotations,
    });
    for (const failure of runHooksWarn("poststop", hooks, state)) warn(failure.message);
  }
}

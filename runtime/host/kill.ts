/**
 * `kill`: a signal to a container's init (its PID 1), or with `all` to every
 * process of its cgroup, always through pidfds checked against the recorded
 * start time (or cgroup membership): never a bare pid.
 *
 * @module
 */

import type { ContainerRecord, Layout } from "./records.ts";
import { statusOf } from "./status.ts";
import { signalProcess } from "./handle.ts";
import { freezeCgroup, signalCgroup } from "./cgroups.ts";
import { TinyoError } from "../errors.ts";
import { SIGNALS } from "../syscalls.ts";

/** Sends `signal` (a number) to the container; throws when it is not running. */
export function killContainer(layout: Layout, rec: ContainerRecord, signal: number, all = false): void {
  const { status } = statusOf(layout, rec);
  if (status !== "running" && status !== "created" && status !== "paused") {
    throw new TinyoError(`Cannot kill container "${rec.name ?? rec.id}": it is not running`);
  }
  if (all) {
    signalCgroup(rec.cgroups ?? [], signal, rec.cgroupPath);
    // A frozen process takes a signal only once thawed: let SIGKILL work.
    if (status === "paused" && signal === SIGNALS.SIGKILL) freezeCgroup(rec.cgroups ?? [], false);
    return;
  }
  if (!signalProcess(rec.pid, rec.pidStartTime, signal)) {
    throw new TinyoError(`Cannot kill container "${rec.name ?? rec.id}": it is not running`);
  }
  if (status === "paused" && signal === SIGNALS.SIGKILL) freezeCgroup(rec.cgroups ?? [], false);
}

/**
 * A container's status, derived from facts, never trusted from its record:
 * an exit file (conmon's) or a recorded end means stopped; a live init (pid
 * and start time) with its exec FIFO still there means created; a live init
 * in a frozen cgroup means paused, otherwise running; anything else
 * (the init gone, a host reboot, a SIGKILLed monitor) means stopped.
 *
 * @module
 */

import { containerDir, type ContainerRecord, type Layout, listRecords } from "./records.ts";
import { isAlive } from "./proc.ts";
import { findIn } from "./lookup.ts";

/** Whether the container's cgroup is frozen (v2 cgroup.freeze, v1 freezer). */
export function isFrozen(rec: ContainerRecord): boolean {
  for (const dir of rec.cgroups ?? []) {
    try {
      if (/\/freezer\//.test(dir)) {
        if (Deno.readTextFileSync(`${dir}/freezer.state`).trim() === "FROZEN") return true;
      } else if (/^frozen 1$/m.test(Deno.readTextFileSync(`${dir}/cgroup.events`))) return true;
    } catch {
      // Not this kind of cgroup, or gone.
    }
  }
  return false;
}

/** Where conmon writes exit codes. */
export function exitDir(layout: Layout): string {
  return `${layout.stateDir}/exits`;
}

/** A container's status, derived from facts (the OCI statuses). */
export type Status = "creating" | "created" | "running" | "paused" | "stopped";

/** The exit code conmon recorded, if any. */
export function recordedExit(layout: Layout, id: string): number | undefined {
  try {
    const n = Number(Deno.readTextFileSync(`${exitDir(layout)}/${id}`).trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Derives a container's status from its exit file, its init and its FIFO. */
export function statusOf(layout: Layout, rec: ContainerRecord): { status: Status; exitCode?: number } {
  const exit = recordedExit(layout, rec.id) ?? rec.exitCode;
  if (recordedExit(layout, rec.id) !== undefined || rec.finishedAt !== undefined) {
    return { status: "stopped", ...(exit !== undefined ? { exitCode: exit } : {}) };
  }
  if (rec.pid !== undefined && isAlive(rec.pid, rec.pidStartTime)) {
    if (exists(`${containerDir(layout, rec.id)}/exec.fifo`)) return { status: "created" };
    return { status: isFrozen(rec) ? "paused" : "running" };
  }
  const ownerAlive = isAlive(rec.ownerPid, rec.ownerStartTime);
  if (rec.pid === undefined && ownerAlive) return { status: "creating" };
  // The command ended but its monitor is still writing the exit code down:
  // not finished yet (conmon reaps, writes the exit file, then runs cleanup).
  if (rec.detached && ownerAlive) return { status: "running" };
  return { status: "stopped", ...(exit !== undefined ? { exitCode: exit } : {}) };
}

/** Any container (running or not) by name, id or unique id prefix. */
export function findContainer(layout: Layout, ref: string): ContainerRecord {
  return findIn(listRecords(layout), ref);
}

/**
 * `pause` and `resume`: freezing every process of a container's cgroup
 * (cgroup v2 `cgroup.freeze`, the v1 freezer).
 *
 * @module
 */

import type { ContainerRecord, Layout } from "./records.ts";
import { statusOf } from "./status.ts";
import { freezeCgroup } from "./cgroups.ts";
import { TinyoError } from "../errors.ts";

/** Pauses (true) or resumes (false) a container. */
export function pauseContainer(layout: Layout, rec: ContainerRecord, pause: boolean): void {
  const { status } = statusOf(layout, rec);
  const want = pause ? "running" : "paused";
  if (status !== want) {
    throw new TinyoError(
      `Cannot ${pause ? "pause" : "resume"} container "${rec.name ?? rec.id}": it is ${status}, not ${want}`,
    );
  }
  if ((rec.cgroups ?? []).length === 0) {
    throw new TinyoError(`Cannot ${pause ? "pause" : "resume"} container "${rec.id}": it has no cgroup`);
  }
  freezeCgroup(rec.cgroups!, pause);
}

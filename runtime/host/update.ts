/**
 * `update`: new resource limits for a running container, from an OCI
 * `linux.resources` object (what `runc update --resources FILE` reads),
 * written to its cgroup; the container's own copy of config.json is updated
 * too, so `state` and later `update`s see them.
 *
 * @module
 */

import { containerDir, type ContainerRecord, type Layout, writeAtomic } from "./records.ts";
import { cgroupManager, hostLayout } from "./cgroups.ts";
import { flatResources } from "../model/run_spec.ts";
import { loadSpec } from "../model/spec.ts";
import { ConfigError, TinyoError } from "../errors.ts";
import { statusOf } from "./status.ts";

/** Applies `resources` (OCI linux.resources) to the container. */
export function updateContainer(layout: Layout, rec: ContainerRecord, resources: unknown): void {
  if (typeof resources !== "object" || resources === null || Array.isArray(resources)) {
    throw new ConfigError("Invalid resources: expected a JSON object (OCI linux.resources)");
  }
  const { status } = statusOf(layout, rec);
  if (status === "stopped") throw new TinyoError(`Cannot update container "${rec.id}": it is stopped`);
  const layoutOfCgroups = hostLayout();
  if (layoutOfCgroups === undefined || rec.cgroupPath === undefined) {
    throw new TinyoError(`Cannot update container "${rec.id}": it has no cgroup`);
  }
  const flat = flatResources(resources as Record<string, unknown>);
  cgroupManager(layoutOfCgroups, rec.cgroupPath).update(flat);
  const path = `${containerDir(layout, rec.id)}/config.json`;
  const spec = loadSpec(path);
  const linux = spec.linux ?? {};
  // Merged per section: updating memory.limit keeps memory.swap.
  const merged: Record<string, unknown> = { ...(linux.resources ?? {}) };
  for (const [key, value] of Object.entries(resources as Record<string, unknown>)) {
    const old = merged[key];
    merged[key] = isPlainObject(old) && isPlainObject(value) ? { ...old, ...value } : value;
  }
  linux.resources = merged;
  spec.linux = linux;
  writeAtomic(path, JSON.stringify(spec, null, 2) + "\n", 0o600);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

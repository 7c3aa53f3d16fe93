/**
 * `state`, `list` and `ps`: what the OCI CLI reports about containers. The
 * state is runc's (runtime-spec "State" plus `rootfs`, `created`, `owner`),
 * with the status derived from facts (runtime/host/status.ts).
 *
 * @module
 */

import type { ContainerRecord, Layout } from "./records.ts";
import { statusOf } from "./status.ts";
import { cgroupPids } from "./cgroups.ts";
import { OCI_VERSION } from "../model/spec.ts";

/** The OCI state of a container, as runc prints it. */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** The state of `rec`. */
export function ociState(layout: Layout, rec: ContainerRecord): OciState {
  const { status } = statusOf(layout, rec);
  return {
    ociVersion: OCI_VERSION,
    id: rec.id,
    pid: status === "stopped" ? 0 : rec.pid ?? 0,
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs ?? `${rec.bundle}/rootfs`,
    created: rec.created,
    owner: "",
    ...(rec.annotations !== undefined ? { annotations: rec.annotations } : {}),
  };
}

/** The host pids of the processes in a container. */
export function containerPids(rec: ContainerRecord): number[] {
  return cgroupPids(rec.cgroups ?? []);
}

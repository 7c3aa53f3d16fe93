/**
 * Installing the compiled device filter (runtime/model/devices.ts) on a
 * cgroup v2 directory: BPF_PROG_LOAD, then BPF_PROG_ATTACH with
 * BPF_F_ALLOW_MULTI. The cgroup keeps the program; both descriptors are closed.
 *
 * @module
 */

import { TinyoError } from "../errors.ts";
import { BPF_ATTACH_TYPE, BPF_F, BPF_PROG_TYPE, bpfCalls, O } from "../syscalls.ts";
import { compileDeviceFilter, type DeviceRule } from "../model/devices.ts";

/**
 * Installs the device filter for `rules` on the cgroup v2 directory
 * `cgroupDir`: loads the program, attaches it as BPF_CGROUP_DEVICE with
 * BPF_F_ALLOW_MULTI, and closes both descriptors (the cgroup keeps the
 * program until the cgroup is removed). Applies to every process in the
 * cgroup, present and future, from the next device access on.
 *
 * BPF_F_ALLOW_MULTI: programs on ancestor cgroups keep running too, and
 * every one must allow an access; attaching a second program here never
 * widens what the first allows. Needs CAP_SYS_ADMIN (or CAP_BPF and
 * CAP_NET_ADMIN on recent kernels).
 *
 * @throws {ConfigError} for invalid rules.
 * @throws {TinyoError} when the kernel refuses to load or attach.
 */
export function attachDeviceFilter(cgroupDir: string, rules: readonly DeviceRule[]): void {
  const insns = compileDeviceFilter(rules);
  let progFd = -1;
  let dirFd = -1;
  try {
    progFd = bpfCalls.progLoad(BPF_PROG_TYPE.CGROUP_DEVICE, insns, {
      license: "Apache-2.0",
      expectedAttachType: BPF_ATTACH_TYPE.CGROUP_DEVICE,
      name: "tinyo_dev",
    });
    dirFd = bpfCalls.open(cgroupDir, O.RDONLY | O.DIRECTORY | O.CLOEXEC);
    bpfCalls.progAttach(dirFd, progFd, BPF_ATTACH_TYPE.CGROUP_DEVICE, BPF_F.ALLOW_MULTI);
  } catch (err) {
    throw new TinyoError(`Cannot install the device filter on "${cgroupDir}": ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    if (dirFd >= 0) bpfCalls.close(dirFd);
    if (progFd >= 0) bpfCalls.close(progFd);
  }
}

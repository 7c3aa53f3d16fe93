/**
 * bpf(2), just the part tinyo needs: load an eBPF program of a given type
 * and attach it to a cgroup (the cgroup v2 device controller is such a
 * program, BPF_PROG_TYPE_CGROUP_DEVICE), and list what is attached.
 *
 * union bpf_attr layouts are from include/uapi/linux/bpf.h.
 *
 * @module
 */

import { libc } from "./_libc.ts";
import { cString } from "./cstring.ts";
import { lastErrno, SyscallError } from "./errno.ts";
import { SYS } from "./constants.ts";

/** bpf(2) commands (enum bpf_cmd). */
export const BPF_CMD = {
  PROG_LOAD: 5,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_QUERY: 16,
} as const;

/** Program types (enum bpf_prog_type). */
export const BPF_PROG_TYPE = {
  CGROUP_DEVICE: 15,
} as const;

/** Attach types (enum bpf_attach_type). */
export const BPF_ATTACH_TYPE = {
  CGROUP_DEVICE: 6,
} as const;

/** Attach flags. */
export const BPF_F = {
  ALLOW_OVERRIDE: 1,
  ALLOW_MULTI: 2,
} as const;

function ptrOf(buf: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

function bpf(cmd: number, attr: Uint8Array<ArrayBuffer>, what: string): number {
  const ret = libc.bpf(BigInt(SYS.bpf), BigInt(cmd), attr, attr.byteLength);
  if (ret < 0n) throw new SyscallError({ syscall: "bpf", errno: lastErrno(), path: what });
  return Number(ret);
}

/**
 * BPF_PROG_LOAD: loads `insns` (8-byte `struct bpf_insn`s) as a program of
 * `type`; returns its descriptor. On a verifier error the kernel's log is
 * added to the message.
 */
export function bpfProgLoad(
  type: number,
  insns: Uint8Array<ArrayBuffer>,
  options: { license?: string; expectedAttachType?: number; name?: string } = {},
): number {
  if (insns.byteLength === 0 || insns.byteLength % 8 !== 0) {
    throw new TypeError(`Cannot load BPF program: ${insns.byteLength} bytes is not whole instructions`);
  }
  const license = cString(options.license ?? "Apache-2.0", "license");
  const attr = new Uint8Array(128);
  const v = new DataView(attr.buffer);
  v.setUint32(0, type, true); // prog_type
  v.setUint32(4, insns.byteLength / 8, true); // insn_cnt
  v.setBigUint64(8, ptrOf(insns), true); // insns
  v.setBigUint64(16, ptrOf(license), true); // license
  const name = new TextEncoder().encode((options.name ?? "").slice(0, 15));
  attr.set(name, 48); // prog_name[16]
  v.setUint32(68, options.expectedAttachType ?? 0, true); // expected_attach_type
  try {
    // No verifier log first: a log that overflows fails the load with ENOSPC
    // even when the program is fine (libbpf does the same: log only on retry).
    return bpf(BPF_CMD.PROG_LOAD, attr, `BPF_PROG_LOAD type ${type}`);
  } catch (first) {
    const log = new Uint8Array(256 * 1024);
    v.setUint32(24, 1, true); // log_level
    v.setUint32(28, log.byteLength, true); // log_size
    v.setBigUint64(32, ptrOf(log), true); // log_buf
    try {
      return bpf(BPF_CMD.PROG_LOAD, attr, `BPF_PROG_LOAD type ${type}`);
    } catch {
      const end = log.indexOf(0);
      const text = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end)).trim();
      if (text !== "" && first instanceof SyscallError) {
        first.message = `${first.message}: verifier: ${text.split("\n").slice(-3).join(" / ")}`;
      }
      throw first;
    } finally {
      // The buffers must outlive the call (the attr holds raw pointers to them).
      void log.byteLength;
    }
  } finally {
    void insns.byteLength, license.byteLength;
  }
}

/** BPF_PROG_ATTACH: attaches program `progFd` to the cgroup directory `cgroupFd`. */
export function bpfProgAttach(cgroupFd: number, progFd: number, attachType: number, flags: number): void {
  const attr = new Uint8Array(20);
  const v = new DataView(attr.buffer);
  v.setUint32(0, cgroupFd, true); // target_fd
  v.setUint32(4, progFd, true); // attach_bpf_fd
  v.setUint32(8, attachType, true); // attach_type
  v.setUint32(12, flags, true); // attach_flags
  bpf(BPF_CMD.PROG_ATTACH, attr, `BPF_PROG_ATTACH cgroup fd ${cgroupFd}`);
}

/** BPF_PROG_DETACH: detaches program `progFd` from the cgroup `cgroupFd`. */
export function bpfProgDetach(cgroupFd: number, progFd: number, attachType: number): void {
  const attr = new Uint8Array(20);
  const v = new DataView(attr.buffer);
  v.setUint32(0, cgroupFd, true);
  v.setUint32(4, progFd, true);
  v.setUint32(8, attachType, true);
  bpf(BPF_CMD.PROG_DETACH, attr, `BPF_PROG_DETACH cgroup fd ${cgroupFd}`);
}

/** BPF_PROG_QUERY: the ids of the programs attached to `cgroupFd` for `attachType`. */
export function bpfProgQuery(cgroupFd: number, attachType: number): number[] {
  const ids = new Uint32Array(64);
  const idsBytes = new Uint8Array(ids.buffer);
  const attr = new Uint8Array(40);
  const v = new DataView(attr.buffer);
  v.setUint32(0, cgroupFd, true); // target_fd
  v.setUint32(4, attachType, true); // attach_type
  v.setUint32(8, 0, true); // query_flags
  v.setBigUint64(16, ptrOf(idsBytes), true); // prog_ids
  v.setUint32(24, ids.length, true); // prog_cnt
  bpf(BPF_CMD.PROG_QUERY, attr, `BPF_PROG_QUERY cgroup fd ${cgroupFd}`);
  const count = v.getUint32(24, true);
  return Array.from(ids.subarray(0, Math.min(count, ids.length)));
}

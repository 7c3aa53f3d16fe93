/**
 * Linux capabilities: names ↔ numbers, the default set, and
 * `--cap-add` / `--cap-drop` arithmetic. Pure; applying them is in init.ts.
 *
 * @see capabilities(7)
 * @module
 */

import { ConfigError } from "../errors.ts";

/** Capability names (without CAP_) by number, up to CAP_CHECKPOINT_RESTORE (40). */
export const CAPABILITIES: readonly string[] = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
];

/**
 * tinyo's default capability set: podman's 11, which is docker's 14 less
 * MKNOD (making device nodes; the device cgroup already makes them useless,
 * this is the second wall), NET_RAW (raw sockets: forging packets on a
 * bridge shared with other containers; ping still works through ICMP
 * datagram sockets, which `net.ipv4.ping_group_range` opens to every group
 * in the container's own network namespace) and AUDIT_WRITE (writing to the
 * host's audit log). `--cap-add` gives any of them back.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
];

/** `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN` → `CAP_NET_ADMIN`. */
export function normalizeCap(name: string): string {
  const upper = name.trim().toUpperCase();
  const bare = upper.startsWith("CAP_") ? upper.slice(4) : upper;
  if (!CAPABILITIES.includes(bare)) throw new ConfigError(`Unknown capability "${name}"`);
  return `CAP_${bare}`;
}

/** The number of a `CAP_*` name. */
export function capNumber(name: string): number {
  const n = CAPABILITIES.indexOf(normalizeCap(name).slice(4));
  return n;
}

/** Every capability name up to `lastCap`. */
export function allCapabilities(lastCap = CAPABILITIES.length - 1): string[] {
  return CAPABILITIES.slice(0, lastCap + 1).map((c) => `CAP_${c}`);
}

/**
 * docker's arithmetic: start from the default set (or all for
 * `privileged`), drop `--cap-drop` (ALL empties it), then add `--cap-add`
 * (ALL adds everything).
 */
export function resolveCapabilities(
  add: readonly string[],
  drop: readonly string[],
  privileged = false,
): string[] {
  const adds = add.map((c) => c.trim().toUpperCase());
  const drops = drop.map((c) => c.trim().toUpperCase());
  let set = new Set(privileged ? allCapabilities() : DEFAULT_CAPABILITIES);
  if (drops.includes("ALL")) set = new Set();
  else for (const d of drops) set.delete(normalizeCap(d));
  if (adds.includes("ALL")) { for (const c of allCapabilities()) set.add(c); }
  else for (const a of adds) set.add(normalizeCap(a));
  return [...set].sort((a, b) => capNumber(a) - capNumber(b));
}

/** A 64-bit mask (as two 32-bit words, low first) of capability names. */
export function capMask(names: readonly string[]): [number, number] {
  let lo = 0;
  let hi = 0;
  for (const n of names) {
    const bit = capNumber(n);
    if (bit < 32) lo |= 1 << bit;
    else hi |= 1 << (bit - 32);
  }
  return [lo >>> 0, hi >>> 0];
}

/** Parses a hex capability mask as in /proc/self/status (`CapBnd: 000001ffffffffff`) into names. */
export function capsFromMask(hex: string): string[] {
  const v = BigInt(`0x${hex}`);
  return CAPABILITIES.map((c, i) => ((v >> BigInt(i)) & 1n) === 1n ? `CAP_${c}` : "").filter((c) => c !== "");
}

/**
 * What `tinyo stats` and `tinyo top` read: a container's use of CPU, memory
 * and pids from its own cgroup (v1 controllers or the v2 unified files),
 * and its processes as the host sees them (/proc of each pid in its cgroup).
 *
 * @module
 */

import { cgroupPids } from "./cgroups.ts";

/** One reading of a container's cgroup. */
export interface Usage {
  /** CPU time used so far, in nanoseconds (v1 cpuacct.usage, v2 cpu.stat usage_usec). */
  cpuNs: number;
  /** Memory in use, bytes (v1 memory.usage_in_bytes, v2 memory.current). */
  memory: number;
  /** The memory limit, bytes; undefined when there is none. */
  memoryLimit?: number;
  /** Processes and threads (pids.current). */
  pids: number;
}

/** v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX in bytes); v2 as "max". */
const V1_UNLIMITED = 2 ** 62;

function readIn(dirs: readonly string[], file: string): string | undefined {
  for (const dir of dirs) {
    try {
      return Deno.readTextFileSync(`${dir}/${file}`).trim();
    } catch {
      // Not this hierarchy's file.
    }
  }
  return undefined;
}

/** The `key value` lines of a flat-keyed cgroup file (cpu.stat). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined && /^\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/** A memory limit file's value: bytes, or undefined for none ("max", or v1's huge number). */
export function parseMemoryLimit(text: string | undefined): number | undefined {
  if (text === undefined || text === "max" || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= V1_UNLIMITED ? undefined : n;
}

/** Reads the container's cgroup now. */
export function readUsage(dirs: readonly string[]): Usage {
  const v2cpu = readIn(dirs, "cpu.stat");
  const v1cpu = readIn(dirs, "cpuacct.usage");
  const cpuNs = v1cpu !== undefined
    ? Number(v1cpu)
    : (parseFlatKeyed(v2cpu ?? "").get("usage_usec") ?? 0) * 1000;
  const memory = Number(readIn(dirs, "memory.current") ?? readIn(dirs, "memory.usage_in_bytes") ?? 0);
  const limit = parseMemoryLimit(readIn(dirs, "memory.max") ?? readIn(dirs, "memory.limit_in_bytes"));
  const pids = Number(readIn(dirs, "pids.current") ?? cgroupPids(dirs).length);
  return { cpuNs, memory, ...(limit !== undefined ? { memoryLimit: limit } : {}), pids };
}

/** CPU use between two readings `ms` apart, in percent of one CPU (docker's column can exceed 100). */
export function cpuPercent(before: Usage, after: Usage, ms: number): number {
  if (ms <= 0) return 0;
  return Math.max(0, ((after.cpuNs - before.cpuNs) / (ms * 1e6)) * 100);
}

/** One process of a container, as the host sees it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  /** CPU time used, seconds. */
  cpuSeconds: number;
  command: string;
}

/** The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
export function parseStat(text: string): { ppid: number; ticks: number } | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(" ");
  // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  const ppid = Number(f[1]);
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(ppid) && Number.isFinite(ticks) ? { ppid, ticks } : undefined;
}

/** The processes in the container's cgroup (gone ones skipped). */
export function containerProcesses(dirs: readonly string[], clockTicks = 100): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const pid of cgroupPids(dirs)) {
    try {
      const stat = parseStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
      if (stat === undefined) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1] ?? -1);
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((a) => a !== "");
      const comm = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
      out.push({
        pid,
        ppid: stat.ppid,
        uid,
        cpuSeconds: stat.ticks / clockTicks,
        // The container chooses both: no control character reaches the terminal (ps prints "?" too).
        // deno-lint-ignore no-control-regex
        command: (cmdline.length > 0 ? cmdline.join(" ") : `[${comm}]`).replace(/[\x00-\x1f\x7f-\x9f]/g, "?"),
      });
    } catch {
      // Ended meanwhile.
    }
  }
  return out;
}

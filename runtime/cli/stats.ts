/**
 * `tinyo stats [--no-stream] [--format table|json] [NAME...]` and
 * `tinyo top NAME`: what containers use (CPU, memory and its limit, pids),
 * from their cgroups on v1 and v2, and their processes as the host sees
 * them (runtime/host/stats.ts).
 *
 * @module
 */

import { parseArgs } from "./args.ts";
import { TinyoError, UsageError } from "../errors.ts";
import { type ContainerRecord, type Layout, listRecords } from "../host/records.ts";
import { findContainer, statusOf } from "../host/status.ts";
import { containerProcesses, cpuPercent, readUsage, type Usage } from "../host/stats.ts";
import { binaryScale } from "../model/units.ts";

function say(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

/** Bytes for a person: 12.3MiB, docker's style. */
export function humanBytes(n: number): string {
  const { value, unit } = binaryScale(n);
  return `${unit === "B" ? value : value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)}${unit}`;
}

function hostMemory(): number {
  const m = /^MemTotal:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/meminfo"));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** One row of `stats`. */
export interface StatsRow {
  id: string;
  name: string;
  cpuPercent: number;
  memory: number;
  /** The container's limit, or the host's memory when it has none (as docker shows it). */
  memoryLimit: number;
  limited: boolean;
  memoryPercent: number;
  pids: number;
}

function running(layout: Layout, names: readonly string[]): ContainerRecord[] {
  const recs = names.length > 0
    ? names.map((n) => findContainer(layout, n))
    : listRecords(layout).filter((r) => statusOf(layout, r).status === "running");
  for (const r of recs) {
    if (statusOf(layout, r).status !== "running") {
      throw new TinyoError(
        `Cannot show the stats of container "${r.name ?? r.id.slice(0, 12)}": it is not running`,
      );
    }
    if ((r.cgroups ?? []).length === 0) {
      throw new TinyoError(
        `Cannot show the stats of container "${r.name ?? r.id.slice(0, 12)}": it has no cgroup`,
      );
    }
  }
  return recs;
}

/** Two readings `ms` apart, as rows. */
async function sample(recs: readonly ContainerRecord[], ms: number): Promise<StatsRow[]> {
  const before = new Map<string, { u: Usage; t: number }>();
  for (const r of recs) before.set(r.id, { u: readUsage(r.cgroups!), t: performance.now() });
  await new Promise((res) => setTimeout(res, ms));
  const total = hostMemory();
  return recs.map((r) => {
    const u = readUsage(r.cgroups!);
    const b = before.get(r.id)!;
    const limit = u.memoryLimit ?? total;
    return {
      id: r.id,
      name: r.name ?? "",
      cpuPercent: cpuPercent(b.u, u, performance.now() - b.t),
      memory: u.memory,
      memoryLimit: limit,
      limited: u.memoryLimit !== undefined,
      memoryPercent: limit > 0 ? (u.memory / limit) * 100 : 0,
      pids: u.pids,
    };
  });
}

function table(rows: readonly StatsRow[]): string {
  const lines = [
    ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"],
    ...rows.map((r) => [
      r.id.slice(0, 12),
      r.name,
      `${r.cpuPercent.toFixed(2)}%`,
      `${humanBytes(r.memory)} / ${humanBytes(r.memoryLimit)}`,
      `${r.memoryPercent.toFixed(2)}%`,
      String(r.pids),
    ]),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd()).join("\n");
}

/** `tinyo stats`. */
export async function statsCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(
    argv,
    [
      { long: "no-stream", help: "Print one reading and exit" },
      { long: "format", value: true, arg: "table|json", help: "Output format" },
      { long: "help", help: "Show this help" },
    ],
    "stats",
    { interleaved: true },
  );
  if (p.flags.has("help")) {
    say(
      "Usage: tinyo stats [--no-stream] [--format table|json] [CONTAINER...]\n\n" +
        "What running containers use, from their cgroups: CPU (percent of one CPU over the last second),\n" +
        "memory in use and its limit (the host's memory when there is none), and processes. Refreshed\n" +
        "every second until Ctrl-C, or once with --no-stream.",
    );
    return 0;
  }
  const format = p.values.get("format")?.at(-1) ?? "table";
  if (format !== "table" && format !== "json") {
    throw new UsageError(`tinyo stats: unknown --format "${format}"`);
  }
  const show = (rows: StatsRow[]): string => format === "json" ? JSON.stringify(rows) : table(rows);
  if (p.flags.has("no-stream")) {
    say(show(await sample(running(layout, p.rest), 500)));
    return 0;
  }
  let stop = false;
  const onInt = (): void => {
    stop = true;
  };
  Deno.addSignalListener("SIGINT", onInt);
  try {
    while (!stop) {
      const rows = await sample(running(layout, p.rest), 1000);
      if (stop) break;
      // A terminal is redrawn in place; a pipe gets one block per second.
      say(Deno.stdout.isTerminal() && format === "table" ? `\x1b[2J\x1b[H${show(rows)}` : show(rows));
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
  }
  return 0;
}

/** `tinyo top CONTAINER`: its processes as the host sees them. */
export function topCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, [{ long: "help", help: "Show this help" }], "top");
  if (p.flags.has("help")) {
    say("Usage: tinyo top CONTAINER\n\nThe container's processes as the host sees them (host pids).");
    return 0;
  }
  if (p.rest.length !== 1) throw new UsageError("tinyo top: expected one container");
  const [rec] = running(layout, p.rest);
  const procs = containerProcesses(rec!.cgroups!);
  const lines = [
    ["UID", "PID", "PPID", "TIME", "CMD"],
    ...procs.map((q) => {
      const s = Math.floor(q.cpuSeconds);
      const time = `${String(Math.floor(s / 3600)).padStart(2, "0")}:${
        String(Math.floor(s / 60) % 60).padStart(2, "0")
      }:${String(s % 60).padStart(2, "0")}`;
      return [String(q.uid), String(q.pid), String(q.ppid), time, q.command];
    }),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines) say(l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]!))).join("   "));
  return 0;
}

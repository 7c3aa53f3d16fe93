/**
 * Managing containers: `ps`, `inspect`, `wait`, `logs`, `stop`, `kill`,
 * `rm`, and the OCI-style `create` / `start` / `cleanup` that conmon runs.
 *
 * @module
 */

import { type OptionSpec, parseArgs } from "./args.ts";
import { ContainerNotFoundError, TinyoError, UsageError } from "../errors.ts";
import { containerDir, type ContainerRecord, type Layout, listRecords, readRecord } from "../host/records.ts";
import { cleanupContainer, killAndRemove, waitForExitCommand } from "../host/detached.ts";
import { findContainer, statusOf } from "../host/status.ts";
import { ago } from "./images.ts";
import { loadSpec } from "../model/spec.ts";
import { signalProcess } from "../host/handle.ts";
import { formatPort } from "../model/network.ts";

function say(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

const HELP: OptionSpec = { long: "help", help: "Show this help" };

/** "Up 3 minutes" / "Exited (137) 2 minutes ago" / "Created". */
export function statusText(
  rec: ContainerRecord,
  status: string,
  exitCode: number | undefined,
  now = Date.now(),
): string {
  if (status === "running") return `Up ${ago(rec.startedAt ?? rec.created, now).replace(/ ago$/, "")}`;
  if (status === "created" || status === "creating") return "Created";
  return `Exited (${exitCode ?? "?"}) ${rec.finishedAt ? ago(rec.finishedAt, now) : ""}`.trim();
}

/** `tinyo ps [-a] [--format json] [-q]`. */
export function psCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, [
    { long: "all", short: "a", help: "Show all containers (default: running)" },
    { long: "format", value: true, arg: "table|json", help: "Output format" },
    { long: "quiet", short: "q", help: "Only ids" },
    HELP,
  ], "ps");
  if (p.flags.has("help")) {
    say("Usage: tinyo ps [-a] [-q] [--format table|json]\n\nList containers (running ones unless -a).");
    return 0;
  }
  const format = p.values.get("format")?.at(-1) ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError(`tinyo ps: unknown --format "${format}"`);
  const rows = listRecords(layout).map((rec) => ({ rec, ...statusOf(layout, rec) }))
    .filter((r) => p.flags.has("all") || r.status === "running" || r.status === "created")
    .sort((a, b) => b.rec.created.localeCompare(a.rec.created));
  if (p.flags.has("quiet")) {
    for (const r of rows) say(r.rec.id.slice(0, 12));
    return 0;
  }
  if (format === "json") {
    say(JSON.stringify(
      rows.map(({ rec, status, exitCode }) => ({
        id: rec.id,
        name: rec.name ?? "",
        image: rec.imageRef ?? "",
        command: (rec.command ?? []).join(" "),
        status,
        ...(exitCode !== undefined ? { exitCode } : {}),
        statusText: statusText(rec, status, exitCode),
        pid: status === "running" || status === "created" ? rec.pid ?? 0 : 0,
        ...(rec.network?.ip !== undefined && status !== "stopped" ? { ip: rec.network.ip } : {}),
        ports: status === "stopped" ? [] : (rec.network?.ports ?? []).map((port) => formatPort(port)),
        created: rec.created,
      })),
      null,
      2,
    ));
    return 0;
  }
  const table = [
    ["CONTAINER ID", "NAME", "IMAGE", "COMMAND", "STATUS", "PORTS", "PID"],
    ...rows.map(({ rec, status, exitCode }) => {
      const cmd = (rec.command ?? []).join(" ");
      return [
        rec.id.slice(0, 12),
        rec.name ?? "",
        (rec.imageRef ?? "").split("/").pop()!,
        JSON.stringify(cmd.length > 30 ? `${cmd.slice(0, 27)}...` : cmd),
        statusText(rec, status, exitCode),
        status === "stopped" ? "" : (rec.network?.ports ?? []).map((port) => formatPort(port)).join(", "),
        status === "running" ? String(rec.pid ?? "") : "",
      ];
    }),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) say(row.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd());
  return 0;
}

/** `tinyo inspect NAME...`: the full records as JSON. */
export function inspectCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, [HELP], "inspect");
  if (p.flags.has("help") || p.rest.length === 0) {
    if (!p.flags.has("help")) {
      throw new UsageError("tinyo inspect: expected a container (see 'tinyo inspect --help')");
    }
    say(
      "Usage: tinyo inspect CONTAINER...\n\nPrint containers' records (a superset of the OCI state) as JSON.",
    );
    return 0;
  }
  const out = p.rest.map((ref) => {
    const rec = findContainer(layout, ref);
    const { status, exitCode } = statusOf(layout, rec);
    let config: unknown;
    try {
      config = loadSpec(`${containerDir(layout, rec.id)}/config.json`);
    } catch {
      config = undefined;
    }
    return { ...rec, status, ...(exitCode !== undefined ? { exitCode } : {}), config };
  });
  say(JSON.stringify(out, null, 2));
  return 0;
}

async function waitStopped(
  layout: Layout,
  rec: ContainerRecord,
  timeoutMs = Infinity,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fresh = readRecord(layout, rec.id) ?? rec;
    const s = statusOf(layout, fresh);
    if (s.status === "stopped") return s.exitCode ?? -1;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `tinyo wait NAME...`: blocks until each ends, prints exit codes. */
export async function waitCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, [HELP], "wait");
  if (p.rest.length === 0) throw new UsageError("tinyo wait: expected a container");
  for (const ref of p.rest) say(String(await waitStopped(layout, findContainer(layout, ref))));
  return 0;
}

/** Prints the k8s-file log from byte `from`; returns the new offset. */
function printLog(path: string, from: number): number {
  let data: Uint8Array;
  try {
    data = Deno.readFileSync(path);
  } catch {
    return from;
  }
  if (data.length < from) from = 0; // truncated by conmon's size cap
  const text = new TextDecoder().decode(data.subarray(from));
  const end = text.lastIndexOf("\n") + 1;
  const enc = new TextEncoder();
  for (const line of text.slice(0, end).split("\n")) {
    // 2026-11-22T17:00:00.000000000+00:00 stdout F text
    const m = /^\S+ (stdout|stderr) ([PF]) ?(.*)$/.exec(line);
    if (m === null) continue;
    const out = m[1] === "stderr" ? Deno.stderr : Deno.stdout;
    out.writeSync(enc.encode(m[2] === "F" ? `${m[3]}\n` : m[3]!));
  }
  return from + enc.encode(text.slice(0, end)).length;
}

/** `tinyo logs [-f] NAME`. */
export async function logsCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(
    argv,
    [{ long: "follow", short: "f", help: "Follow until the container ends" }, HELP],
    "logs",
  );
  if (p.rest.length !== 1) throw new UsageError("tinyo logs: expected one container");
  const rec = findContainer(layout, p.rest[0]!);
  const path = `${containerDir(layout, rec.id)}/ctr.log`;
  let offset = printLog(path, 0);
  while (p.flags.has("follow")) {
    const stopped = statusOf(layout, readRecord(layout, rec.id) ?? rec).status === "stopped";
    await new Promise((r) => setTimeout(r, 100));
    offset = printLog(path, offset);
    if (stopped) break;
  }
  return 0;
}

/** `tinyo stop [-t SECONDS] NAME...`: SIGTERM, then SIGKILL after the grace period. */
export async function stopCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, [{
    long: "time",
    short: "t",
    value: true,
    arg: "SECONDS",
    help: "Grace period (default 10)",
  }, HELP], "stop");
  if (p.rest.length === 0) throw new UsageError("tinyo stop: expected a container");
  const grace = Number(p.values.get("time")?.at(-1) ?? "10");
  if (!Number.isFinite(grace) || grace < 0) {
    throw new UsageError(`tinyo stop: invalid -t "${p.values.get("time")?.at(-1)}"`);
  }
  for (const ref of p.rest) {
    const rec = findContainer(layout, ref);
    if (statusOf(layout, rec).status === "stopped") {
      say(ref);
      continue;
    }
    signalProcess(rec.pid, rec.pidStartTime, "SIGTERM");
    if (await waitStopped(layout, rec, grace * 1000) === undefined) {
      signalProcess(rec.pid, rec.pidStartTime, "SIGKILL");
      await waitStopped(layout, rec, 10_000);
    }
    say(ref);
  }
  return 0;
}

/** `tinyo rm [-f] NAME...`. */
export async function rmCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(
    argv,
    [{ long: "force", short: "f", help: "Kill a running container first" }, HELP],
    "rm",
  );
  if (p.rest.length === 0) throw new UsageError("tinyo rm: expected a container");
  let failed = 0;
  for (const ref of p.rest) {
    try {
      const rec = findContainer(layout, ref);
      const { status } = statusOf(layout, rec);
      if (status !== "stopped") {
        if (!p.flags.has("force")) {
          throw new TinyoError(
            `Cannot remove container "${ref}": it is ${status} (stop it first, or use rm -f)`,
          );
        }
        signalProcess(rec.pid, rec.pidStartTime, "SIGKILL");
        await waitStopped(layout, rec, 10_000);
      }
      if (rec.detached) await waitForExitCommand(rec.id);
      killAndRemove(layout, readRecord(layout, rec.id) ?? rec);
      say(ref);
    } catch (err) {
      if (p.rest.length === 1 || !(err instanceof TinyoError)) throw err;
      // deno-lint-ignore no-console
      console.error(`tinyo: ${err.message}`);
      failed++;
    }
  }
  return failed > 0 ? 125 : 0;
}

/** `tinyo cleanup ID` (conmon's exit command). */
export function cleanupCommand(layout: Layout, argv: readonly string[]): number {
  const id = argv[0];
  if (id === undefined) throw new UsageError("tinyo cleanup: expected a container id");
  if (readRecord(layout, id) === undefined) throw new ContainerNotFoundError(`No such container: "${id}"`);
  cleanupContainer(layout, id);
  return 0;
}

/**
 * The OCI runtime command line: runc's verbs, flags and output, so that
 * podman (through conmon), containerd's shim and CRI-O drive tinyo as they
 * drive runc. Options may come before or after the container id
 * (`create ID --bundle B`), as `--flag value` or `--flag=value`.
 *
 * Where a verb also exists in the docker-style front end (`kill`, `ps`,
 * `exec`, `run`), one command serves both: see each function.
 *
 * @module
 */

import { explainTo } from "../explain.ts";
import { netCalls, pidCalls } from "../syscalls.ts";
import { formatOptions, type OptionSpec, parseArgs, type ParsedArgs } from "./args.ts";
import { ConfigError, ContainerNotFoundError, TinyoError, UsageError } from "../errors.ts";
import { type ContainerRecord, type Layout, listRecords, readRecord } from "../host/records.ts";
import { checkId, createContainer } from "../host/create.ts";
import { startContainer } from "../host/start.ts";
import { findContainer, statusOf } from "../host/status.ts";
import { killContainer } from "../host/kill.ts";
import { deleteContainer } from "../host/delete.ts";
import { pauseContainer } from "../host/pause.ts";
import { updateContainer } from "../host/update.ts";
import { containerPids, ociState } from "../host/state.ts";
import { exitCodeFromStatus } from "../host/run.ts";
import { features } from "../model/features.ts";
import { defaultSpec } from "../model/default_spec.ts";
import { VERSION } from "./version.ts";
import { SIGNALS } from "../syscalls.ts";

/** The global flags of the OCI CLI (runc's), given before the verb. */
export interface GlobalFlags {
  /** `--log FILE`: where errors (and with --debug, more) are appended. */
  log?: string;
  /** `--log-format text|json`. */
  logFormat: "text" | "json";
  debug: boolean;
  /** `--systemd-cgroup`: cgroupsPath is "slice:prefix:name". */
  systemdCgroup: boolean;
  /** Prints a warning (stderr, and the --log). */
  warn: (message: string) => void;
}

function say(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

const HELP: OptionSpec = { long: "help", short: "h", help: "Show this help" };

function parse(argv: readonly string[], specs: readonly OptionSpec[], verb: string): ParsedArgs {
  return parseArgs(argv, [...specs, HELP], verb, { interleaved: true });
}

function last(p: ParsedArgs, name: string): string | undefined {
  return p.values.get(name)?.at(-1);
}

function usage(p: ParsedArgs, text: string, specs: readonly OptionSpec[]): boolean {
  if (!p.flags.has("help")) return false;
  say(`${text}${specs.length > 0 ? `\n\nOptions:\n${formatOptions([...specs, HELP])}` : ""}`);
  return true;
}

/** Exactly one container id among the positional arguments. */
function oneId(p: ParsedArgs, verb: string): string {
  if (p.rest.length !== 1) {
    throw new UsageError(
      `tinyo ${verb}: expected one container id, got ${p.rest.length} (see 'tinyo ${verb} --help')`,
    );
  }
  return p.rest[0]!;
}

/** The record of container `id` (exact id, as runc), or runc's error. */
function byId(layout: Layout, id: string): ContainerRecord {
  const rec = readRecord(layout, id);
  if (rec === undefined) throw new ContainerNotFoundError(`container "${id}" does not exist`);
  return rec;
}

/** A non-negative integer option. */
function count(p: ParsedArgs, name: string): number | undefined {
  const v = last(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`tinyo: --${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

/**
 * A signal by name (`KILL`, `SIGKILL`, any case) or number; undefined when
 * `value` is neither.
 */
export function parseSignal(value: string): number | undefined {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n >= 1 && n <= 64 ? n : undefined;
  }
  const upper = value.toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  return (SIGNALS as Readonly<Record<string, number>>)[name];
}

const CREATE_OPTIONS: readonly OptionSpec[] = [
  {
    long: "bundle",
    short: "b",
    value: true,
    arg: "DIR",
    help: "The bundle (default: the current directory)",
  },
  { long: "pid-file", value: true, arg: "FILE", help: "Write the container process's host pid to FILE" },
  {
    long: "console-socket",
    value: true,
    arg: "SOCK",
    help: "Send the pty master of a terminal container to this unix socket",
  },
  { long: "preserve-fds", value: true, arg: "N", help: "Pass descriptors 3 .. 3+N-1 to the container" },
  { long: "no-pivot", help: "Accepted for runc compatibility (tinyo always uses pivot_root)" },
  { long: "no-new-keyring", help: "Accepted for runc compatibility" },
  {
    long: "explain",
    optionalValue: true,
    arg: "FILE",
    help: "Print each system call of the set-up, with why, on stderr (or into FILE)",
  },
];

function createOptions(p: ParsedArgs, globals: GlobalFlags): Parameters<typeof createContainer>[2] {
  const pidFile = last(p, "pid-file");
  const consoleSocket = last(p, "console-socket");
  const preserveFds = count(p, "preserve-fds");
  return {
    bundle: last(p, "bundle") ?? Deno.cwd(),
    ...(pidFile === undefined ? {} : { pidFile }),
    ...(consoleSocket === undefined ? {} : { consoleSocket }),
    ...(preserveFds === undefined ? {} : { preserveFds }),
    systemdCgroup: globals.systemdCgroup,
    warn: globals.warn,
  };
}

/** `tinyo create [OPTIONS] ID`: the container set up and waiting for `start`. */
export function createCommand(layout: Layout, argv: readonly string[], globals: GlobalFlags): number {
  const p = parse(argv, CREATE_OPTIONS, "create");
  if (
    usage(
      p,
      "Usage: tinyo create [OPTIONS] ID\n\nCreate a container from a bundle (config.json and its root filesystem):\n" +
        "its process is set up and waits for 'tinyo start ID'.",
      CREATE_OPTIONS,
    )
  ) return 0;
  const id = oneId(p, "create");
  if (p.flags.has("explain")) explainTo(last(p, "explain") ?? true, pidCalls, netCalls);
  const created = createContainer(layout, id, createOptions(p, globals));
  created.child.unref();
  return 0;
}

/** `tinyo start ID`. */
export async function startCommand(
  layout: Layout,
  argv: readonly string[],
  globals: GlobalFlags,
): Promise<number> {
  const p = parse(argv, [], "start");
  if (usage(p, "Usage: tinyo start ID\n\nStart a created container's process.", [])) return 0;
  await startContainer(layout, oneId(p, "start"), globals.warn);
  return 0;
}

/** `tinyo state ID`: the OCI state as JSON. */
export function stateCommand(layout: Layout, argv: readonly string[]): number {
  const p = parse(argv, [], "state");
  if (usage(p, "Usage: tinyo state ID\n\nPrint a container's OCI state as JSON.", [])) return 0;
  say(JSON.stringify(ociState(layout, byId(layout, oneId(p, "state"))), null, 2));
  return 0;
}

const KILL_OPTIONS: readonly OptionSpec[] = [
  { long: "all", short: "a", help: "Signal every process of the container (OCI)" },
  { long: "signal", short: "s", value: true, arg: "SIGNAL", help: "The signal (name or number)" },
];

/**
 * `kill`, both forms:
 * - OCI: `tinyo kill [--all] ID [SIGNAL]`, default SIGTERM (runc's);
 * - docker: `tinyo kill [-s SIGNAL] NAME...`, default SIGKILL (docker's),
 *   names or id prefixes, each printed once signalled.
 * Two positional arguments of which the second is a signal and not a
 * container are the OCI form.
 */
export function killCommand(layout: Layout, argv: readonly string[]): number {
  const p = parse(argv, KILL_OPTIONS, "kill");
  if (
    usage(
      p,
      "Usage: tinyo kill [--all] ID [SIGNAL]     (OCI; default SIGTERM)\n" +
        "       tinyo kill [-s SIGNAL] CONTAINER...  (default SIGKILL)\n\nSend a signal to containers.",
      KILL_OPTIONS,
    )
  ) return 0;
  if (p.rest.length === 0) throw new UsageError("tinyo kill: expected a container (see 'tinyo kill --help')");
  const given = last(p, "signal");
  const second = p.rest[1];
  // An OCI container's kill is always `ID [SIGNAL]` (runc's); otherwise a
  // second argument that is a signal and no container is one too.
  const first = readRecord(layout, p.rest[0]!);
  const ociForm = given === undefined && p.rest.length <= 2 &&
    (first?.oci === true ||
      (p.rest.length === 2 && parseSignal(second!) !== undefined &&
        readRecord(layout, second!) === undefined));
  const refs = ociForm ? [p.rest[0]!] : p.rest;
  const raw = ociForm ? second : given;
  for (const ref of refs) {
    const rec = ociForm || p.flags.has("all") ? byId(layout, ref) : findContainer(layout, ref);
    const signal = raw === undefined ? (rec.oci ? SIGNALS.SIGTERM : SIGNALS.SIGKILL) : parseSignal(raw);
    if (signal === undefined) throw new UsageError(`tinyo kill: unknown signal "${raw}"`);
    killContainer(layout, rec, signal, p.flags.has("all"));
    if (!ociForm && !rec.oci) say(ref);
  }
  return 0;
}

/** `tinyo delete [--force] ID`. */
export function deleteCommand(layout: Layout, argv: readonly string[], globals: GlobalFlags): number {
  const options: OptionSpec[] = [{ long: "force", short: "f", help: "Kill a running container first" }];
  const p = parse(argv, options, "delete");
  if (
    usage(
      p,
      "Usage: tinyo delete [--force] ID\n\nDelete a stopped (or created) container and everything it holds; " +
        "with --force a running one too.\nWith --force a container that does not exist is not an error.",
      options,
    )
  ) return 0;
  const id = oneId(p, "delete");
  const force = p.flags.has("force");
  const rec = readRecord(layout, id);
  if (rec === undefined) {
    if (force) return 0;
    throw new ContainerNotFoundError(`container "${id}" does not exist`);
  }
  deleteContainer(layout, rec, force, globals.warn);
  return 0;
}

const LIST_OPTIONS: readonly OptionSpec[] = [
  { long: "format", short: "f", value: true, arg: "table|json", help: "Output format (default table)" },
  { long: "quiet", short: "q", help: "Only the ids" },
];

/** `tinyo list [--format table|json] [-q]`: every container, as runc lists them. */
export function listCommand(layout: Layout, argv: readonly string[]): number {
  const p = parse(argv, LIST_OPTIONS, "list");
  if (usage(p, "Usage: tinyo list [OPTIONS]\n\nList containers with their OCI state.", LIST_OPTIONS)) {
    return 0;
  }
  if (p.rest.length > 0) throw new UsageError("tinyo list: takes no arguments");
  const format = last(p, "format") ?? "table";
  if (format !== "table" && format !== "json") {
    throw new UsageError(`tinyo list: unknown --format "${format}"`);
  }
  const states = listRecords(layout).sort((a, b) => a.created.localeCompare(b.created)).map((r) =>
    ociState(layout, r)
  );
  if (p.flags.has("quiet")) {
    for (const s of states) say(s.id);
    return 0;
  }
  if (format === "json") {
    say(JSON.stringify(states));
    return 0;
  }
  const rows = [
    ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
    ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner || "root"]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) say(r.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd());
  return 0;
}

/**
 * `tinyo ps [--format table|json] ID [PS-ARGS...]` (OCI): the container's
 * processes; json is the list of host pids (what containerd's shim reads),
 * table runs the host's `ps` (default `-ef`) and keeps the container's rows.
 */
export async function ociPsCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const options: OptionSpec[] = [
    { long: "format", short: "f", value: true, arg: "table|json", help: "Output format (default table)" },
  ];
  const p = parse(argv, options, "ps");
  const [id, ...psArgs] = p.rest;
  if (id === undefined) throw new UsageError("tinyo ps: expected a container id");
  const rec = byId(layout, id);
  const format = last(p, "format") ?? "table";
  const { status } = statusOf(layout, rec);
  const pids = status === "stopped" ? [] : containerPids(rec);
  if (format === "json") {
    say(JSON.stringify(pids));
    return 0;
  }
  if (format !== "table") throw new UsageError(`tinyo ps: unknown --format "${format}"`);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ps", { args: psArgs.length > 0 ? psArgs : ["-ef"], stdin: "null" })
      .output();
  } catch (err) {
    throw new TinyoError(`tinyo ps: cannot run ps: ${(err as Error).message}`);
  }
  if (!out.success) {
    throw new TinyoError(`tinyo ps: ps failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  const lines = new TextDecoder().decode(out.stdout).split("\n");
  const header = lines[0] ?? "";
  const pidColumn = header.trim().split(/\s+/).indexOf("PID");
  if (pidColumn < 0) throw new TinyoError("tinyo ps: the ps output has no PID column");
  const wanted = new Set(pids.map(String));
  say(header);
  for (const line of lines.slice(1)) {
    if (wanted.has(line.trim().split(/\s+/)[pidColumn] ?? "")) say(line);
  }
  return 0;
}

/** `tinyo pause ID` / `tinyo resume ID`. */
export function pauseCommand(layout: Layout, argv: readonly string[], pause: boolean): number {
  const verb = pause ? "pause" : "resume";
  const p = parse(argv, [], verb);
  if (
    usage(
      p,
      `Usage: tinyo ${verb} ID\n\n${
        pause ? "Freeze every process of a container" : "Thaw a paused container"
      } (cgroup v2 cgroup.freeze, the v1 freezer).`,
      [],
    )
  ) return 0;
  pauseContainer(layout, byId(layout, oneId(p, verb)), pause);
  return 0;
}

const UPDATE_OPTIONS: readonly OptionSpec[] = [
  { long: "resources", short: "r", value: true, arg: "FILE", help: "OCI linux.resources JSON ('-': stdin)" },
  { long: "memory", value: true, arg: "BYTES", help: "Memory limit" },
  { long: "memory-reservation", value: true, arg: "BYTES", help: "Memory soft limit" },
  { long: "memory-swap", value: true, arg: "BYTES", help: "Memory plus swap limit" },
  { long: "pids-limit", value: true, arg: "N", help: "Maximum number of processes" },
  { long: "cpu-shares", value: true, arg: "N", help: "CPU shares (relative weight)" },
  { long: "cpu-quota", value: true, arg: "USEC", help: "CPU time per period" },
  { long: "cpu-period", value: true, arg: "USEC", help: "CPU period" },
  { long: "cpuset-cpus", value: true, arg: "LIST", help: "CPUs to run on" },
  { long: "cpuset-mems", value: true, arg: "LIST", help: "Memory nodes to allocate from" },
];

/** Reads all of stdin. */
async function readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

function integerFlag(p: ParsedArgs, name: string): number | undefined {
  const v = last(p, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`tinyo update: --${name} must be an integer, got "${v}"`);
  return Number(v);
}

/** `tinyo update [--resources FILE|-] [--memory N ...] ID`. */
export async function updateCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parse(argv, UPDATE_OPTIONS, "update");
  if (
    usage(
      p,
      "Usage: tinyo update [OPTIONS] ID\n\nChange a running container's resource limits (its cgroup).",
      UPDATE_OPTIONS,
    )
  ) return 0;
  const id = oneId(p, "update");
  let resources: Record<string, Record<string, unknown>> = {};
  const file = last(p, "resources");
  if (file !== undefined) {
    let text: string;
    try {
      text = file === "-" ? await readStdin() : Deno.readTextFileSync(file);
    } catch (err) {
      throw new ConfigError(`Cannot read resources "${file}": ${(err as Error).message}`);
    }
    try {
      resources = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`Cannot parse resources "${file}": ${(err as Error).message}`);
    }
    if (typeof resources !== "object" || resources === null || Array.isArray(resources)) {
      throw new ConfigError(`Invalid resources "${file}": expected a JSON object (OCI linux.resources)`);
    }
  }
  const set = (section: string, key: string, value: unknown): void => {
    if (value === undefined) return;
    resources[section] = { ...(resources[section] ?? {}), [key]: value };
  };
  set("memory", "limit", integerFlag(p, "memory"));
  set("memory", "reservation", integerFlag(p, "memory-reservation"));
  set("memory", "swap", integerFlag(p, "memory-swap"));
  set("pids", "limit", integerFlag(p, "pids-limit"));
  set("cpu", "shares", integerFlag(p, "cpu-shares"));
  set("cpu", "quota", integerFlag(p, "cpu-quota"));
  set("cpu", "period", integerFlag(p, "cpu-period"));
  set("cpu", "cpus", last(p, "cpuset-cpus"));
  set("cpu", "mems", last(p, "cpuset-mems"));
  updateContainer(layout, byId(layout, id), resources);
  return 0;
}

/** `tinyo features`: what tinyo implements of the runtime-spec, as JSON. */
export function featuresCommand(argv: readonly string[]): number {
  const p = parse(argv, [], "features");
  if (usage(p, "Usage: tinyo features\n\nPrint the runtime-spec features document (features.md).", [])) {
    return 0;
  }
  say(JSON.stringify(features({ version: VERSION }), null, 2));
  return 0;
}

/** `tinyo spec [--bundle DIR]`: writes a default config.json, as `runc spec` does. */
export function specCommand(argv: readonly string[]): number {
  const options: OptionSpec[] = [
    { long: "bundle", short: "b", value: true, arg: "DIR", help: "Where to write config.json (default: .)" },
    { long: "rootless", help: "A spec for a rootless container (not supported)" },
  ];
  const p = parse(argv, options, "spec");
  if (
    usage(
      p,
      "Usage: tinyo spec [--bundle DIR]\n\nWrite a default config.json (what 'runc spec' writes): the rootfs in\n" +
        "'rootfs' beside it, 'sh' with a terminal.",
      options,
    )
  ) return 0;
  const spec = defaultSpec({ rootless: p.flags.has("rootless") });
  const path = `${last(p, "bundle") ?? "."}/config.json`;
  try {
    Deno.writeTextFileSync(path, JSON.stringify(spec, null, "\t") + "\n", { createNew: true });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new TinyoError(`File ${path} exists. Remove it first`);
    }
    throw new TinyoError(`Cannot write ${path}: ${(err as Error).message}`);
  }
  return 0;
}

/**
 * `tinyo run --bundle DIR [--detach] ID` (OCI): create, start, and without
 * --detach wait for the process and delete the container, returning its
 * exit code (runc run). Only with an explicit --bundle; otherwise `run` is
 * the docker-style command.
 */
export async function ociRunCommand(
  layout: Layout,
  argv: readonly string[],
  globals: GlobalFlags,
): Promise<number> {
  const options = [...CREATE_OPTIONS, { long: "detach", short: "d", help: "Return once the process runs" }];
  const p = parse(argv, options, "run");
  const id = oneId(p, "run");
  checkId(id);
  const created = createContainer(layout, id, createOptions(p, globals));
  try {
    await startContainer(layout, id, globals.warn);
  } catch (err) {
    const rec = readRecord(layout, id);
    if (rec !== undefined) deleteContainer(layout, rec, true, globals.warn);
    throw err;
  }
  if (p.flags.has("detach")) {
    created.child.unref();
    return 0;
  }
  const status = await created.child.status;
  const rec = readRecord(layout, id);
  if (rec !== undefined) deleteContainer(layout, rec, true, globals.warn);
  return exitCodeFromStatus(status);
}

/** `checkpoint` and `restore`: refused, clearly. */
export function unsupportedCommand(verb: string): number {
  throw new TinyoError(
    `tinyo ${verb}: not supported (tinyo has no CRIU integration; checkpoint/restore needs runc or crun)`,
  );
}

/**
 * The `tinyo` command line: global options, then one verb.
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs } from "./args.ts";
import { TinyoError, UsageError } from "../errors.ts";
import { collectGarbage, resolveLayout } from "../host/records.ts";
import type { GlobalFlags } from "./oci.ts";
import { VERSION, versionText } from "./version.ts";
import { mark, timelineState } from "../timeline.ts";

export { VERSION };

/**
 * Verbs that do not collect garbage first: no state, or the OCI verbs an
 * engine calls on one container (they must not wait on, or act on, others).
 */
const GC_FREE_VERBS = new Set([
  "unpack",
  "version",
  "create",
  "start",
  "state",
  "delete",
  "kill",
  "pause",
  "resume",
  "update",
  "features",
  "spec",
  "cleanup",
  "list",
]);

const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    long: "root",
    value: true,
    arg: "DIR",
    help: "Keep images, containers and state under DIR (env TINYO_ROOT)",
  },
  { long: "log", value: true, arg: "FILE", help: "Append errors to FILE (OCI runtimes' --log)" },
  { long: "log-format", value: true, arg: "text|json", help: "Format of --log lines (default text)" },
  { long: "debug", help: "Also log debug messages to --log" },
  { long: "systemd-cgroup", help: "linux.cgroupsPath is systemd's slice:prefix:name (mapped onto cgroupfs)" },
  { long: "rootless", value: true, arg: "true|false|auto", help: "Accepted: tinyo runs as root only" },
  { long: "criu", value: true, arg: "PATH", help: "Accepted for runc compatibility (no checkpointing)" },
  { long: "help", help: "Show this help" },
  { long: "version", short: "v", help: "Show the version" },
];

/** Top-level help. */
export const MAIN_HELP = `Usage: tinyo [OPTIONS] COMMAND

A Linux container runtime in TypeScript on Deno.

Commands (docker-style):
  run        Run a command in a new container
  exec       Run a command in a running container
  ps         List containers (-a: all)
  inspect    Print a container's record as JSON
  logs       Show what a detached container wrote (-f: follow)
  wait       Wait for containers to end, print their exit codes
  stop       Stop containers (SIGTERM, then SIGKILL after -t seconds)
  kill       Send a signal to containers
  rm         Remove containers (-f: running ones too)
  port       List a container's published ports
  attach     Connect this terminal to a container started with run -dit (Ctrl-P Ctrl-Q detaches)
  cp         Copy files between the host and a running container
  stats      CPU, memory and pids of running containers (--no-stream: once)
  top        A container's processes as the host sees them
  network    The bridge network: ls, inspect, prune
  pull       Download an Alpine image (alpine[:TAG]) into the cache
  import     Register a local minirootfs tarball as an image
  images     List cached images
  rmi        Remove images
  unpack     Extract a tarball into a directory, safely
  version    Show the version

Commands (the OCI runtime CLI, as runc; what podman, containerd and CRI-O call):
  create     Create a container from a bundle; it waits for start
  start      Start a created container
  state      Print a container's OCI state
  kill       Signal a container (kill [--all] ID [SIGNAL])
  delete     Delete a container (--force: even a running or gone one)
  list       List containers with their state
  ps         A container's processes (ps [--format json] ID)
  pause      Freeze a container
  resume     Thaw a paused container
  update     Change a container's resource limits
  exec       Run a process in a container (--process FILE, --detach, ...)
  run        create + start + wait + delete (run --bundle DIR ID)
  spec       Write a default config.json
  features   Print what tinyo implements of the runtime-spec

Options:
${formatOptions(GLOBAL_OPTIONS)}

Run 'tinyo COMMAND --help' for a command's options.`;

/** Appends one line to the --log file, as runc writes it (text or json). */
function logLine(
  globals: Omit<GlobalFlags, "warn">,
  level: "error" | "warning" | "debug",
  msg: string,
): void {
  if (globals.log === undefined) return;
  const time = new Date().toISOString();
  const line = globals.logFormat === "json"
    ? JSON.stringify({ level, msg, time })
    : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
  try {
    Deno.writeTextFileSync(globals.log, `${line}\n`, { append: true, create: true, mode: 0o600 });
  } catch {
    // The log is the caller's; an error still goes to stderr.
  }
}

/** Runs the CLI and returns the exit code. Errors propagate to main.ts. */
export async function cliMain(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, GLOBAL_OPTIONS, "");
  const logFormat = p.values.get("log-format")?.at(-1) ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new UsageError(`tinyo: --log-format must be text or json, got "${logFormat}"`);
  }
  const log = p.values.get("log")?.at(-1);
  const base = {
    ...(log === undefined ? {} : { log }),
    logFormat: logFormat as "text" | "json",
    debug: p.flags.has("debug"),
    systemdCgroup: p.flags.has("systemd-cgroup"),
  };
  const globals: GlobalFlags = {
    ...base,
    warn: (message) => {
      // deno-lint-ignore no-console
      console.error(`tinyo: warning: ${message}`);
      logLine(base, "warning", message);
    },
  };
  if (globals.debug) logLine(globals, "debug", `tinyo ${argv.join(" ")}`);
  try {
    return await dispatch(p, globals);
  } catch (err) {
    logLine(globals, "error", err instanceof Error ? err.message : String(err));
    throw err;
  }
}

// Each verb's module is loaded when it is called: an engine's `state` or
// `kill` does not pay for parsing `run`'s image code, and the reverse.
const oci = (): Promise<typeof import("./oci.ts")> => import("./oci.ts");
const lifecycle = (): Promise<typeof import("./lifecycle.ts")> => import("./lifecycle.ts");
const images = (): Promise<typeof import("./images.ts")> => import("./images.ts");
/** `run`'s modules (the image code, the container's preparation), timed under TINYO_TIMELINE. */
async function runVerb(): Promise<typeof import("./run.ts")> {
  const mod = await import("./run.ts");
  if (timelineState.on) mark("run modules loaded");
  return mod;
}

async function dispatch(p: ReturnType<typeof parseArgs>, globals: GlobalFlags): Promise<number> {
  if (p.flags.has("version")) {
    // deno-lint-ignore no-console
    console.log(versionText());
    return 0;
  }
  if (p.values.get("rootless")?.at(-1) === "true") {
    throw new TinyoError(
      "tinyo: --rootless true is not supported (tinyo needs root and has no user namespaces)",
    );
  }
  const [verb, ...rest] = p.rest;
  if (p.flags.has("help") || verb === undefined || verb === "help") {
    // deno-lint-ignore no-console
    console.log(MAIN_HELP);
    return verb === undefined && !p.flags.has("help") ? 125 : 0;
  }
  const layout = resolveLayout(p.values.get("root")?.at(-1) ?? Deno.env.get("TINYO_ROOT"));
  // Every command first finishes what killed runtimes left behind, so that
  // one more tinyo command of any kind leaves the host clean (the verbs an
  // engine calls on one container excepted).
  if (Deno.uid() === 0 && !GC_FREE_VERBS.has(verb)) collectGarbage(layout);
  if (timelineState.on) mark("cli: parsed, garbage collected");
  switch (verb) {
    case "run":
      return /^(-b|--bundle)(=|$)/.test(rest[0] ?? "") || rest.some((a) => /^--bundle(=|$)/.test(a))
        ? await (await oci()).ociRunCommand(layout, rest, globals)
        : await (await runVerb()).runCommand(layout, rest);
    case "ps":
      // `ps ID` is the OCI verb (a container's processes), `ps [-a]` docker's.
      return rest.some((a, i) => !a.startsWith("-") && !["--format", "-f"].includes(rest[i - 1] ?? ""))
        ? await (await oci()).ociPsCommand(layout, rest)
        : (await lifecycle()).psCommand(layout, rest);
    case "inspect":
      return (await lifecycle()).inspectCommand(layout, rest);
    case "logs":
      return await (await lifecycle()).logsCommand(layout, rest);
    case "wait":
      return await (await lifecycle()).waitCommand(layout, rest);
    case "stop":
      return await (await lifecycle()).stopCommand(layout, rest);
    case "kill":
      return (await oci()).killCommand(layout, rest);
    case "rm":
      return await (await lifecycle()).rmCommand(layout, rest);
    case "create":
      return (await oci()).createCommand(layout, rest, globals);
    case "start":
      return await (await oci()).startCommand(layout, rest, globals);
    case "state":
      return (await oci()).stateCommand(layout, rest);
    case "delete":
      return (await oci()).deleteCommand(layout, rest, globals);
    case "list":
      return (await oci()).listCommand(layout, rest);
    case "pause":
      return (await oci()).pauseCommand(layout, rest, true);
    case "resume":
      return (await oci()).pauseCommand(layout, rest, false);
    case "update":
      return await (await oci()).updateCommand(layout, rest);
    case "features":
      return (await oci()).featuresCommand(rest);
    case "spec":
      return (await oci()).specCommand(rest);
    case "checkpoint":
    case "restore":
      return (await oci()).unsupportedCommand(verb);
    case "cleanup":
      return (await lifecycle()).cleanupCommand(layout, rest);
    case "exec":
      return await (await import("./exec.ts")).execCommand(layout, rest);
    case "attach":
      return await (await import("./attach.ts")).attachCommand(layout, rest);
    case "cp":
      return (await import("./cp.ts")).cpCommand(layout, rest);
    case "stats":
      return await (await import("./stats.ts")).statsCommand(layout, rest);
    case "top":
      return (await import("./stats.ts")).topCommand(layout, rest);
    case "network":
      return (await import("./network.ts")).networkCommand(layout, rest);
    case "port":
      return (await import("./network.ts")).portCommand(layout, rest);
    case "pull":
      return await (await images()).pullCommand(layout, rest);
    case "import":
      return await (await images()).importCommand(layout, rest);
    case "images":
      return (await images()).imagesCommand(layout, rest);
    case "rmi":
      return (await images()).rmiCommand(layout, rest);
    case "unpack":
      return await (await import("./unpack.ts")).unpackCommand(rest);
    case "version":
      // deno-lint-ignore no-console
      console.log(versionText());
      return 0;
    default:
      throw new UsageError(`tinyo: unknown command "${verb}" (see 'tinyo --help')`);
  }
}

/**
 * The `tinyo` command line: global options, then one verb.
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs } from "./args.ts";
import { UsageError } from "../errors.ts";
import { collectGarbage, resolveLayout } from "../host/records.ts";
import { runCommand } from "./run.ts";
import { unpackCommand } from "./unpack.ts";
import { execCommand } from "./exec.ts";
import {
  cleanupCommand,
  createCommand,
  inspectCommand,
  killCommand,
  logsCommand,
  psCommand,
  rmCommand,
  startCommand,
  stopCommand,
  waitCommand,
} from "./lifecycle.ts";
import { imagesCommand, importCommand, pullCommand, rmiCommand } from "./images.ts";

/** Verbs that do not collect garbage first: no state, or conmon's own calls. */
const GC_FREE_VERBS = new Set(["unpack", "version", "create", "start", "cleanup"]);

/** tinyo's version. */
export const VERSION = "0.1.0";

const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    long: "root",
    value: true,
    arg: "DIR",
    help: "Keep images, containers and state under DIR (env TINYO_ROOT)",
  },
  { long: "help", help: "Show this help" },
  { long: "version", help: "Show the version" },
];

/** Top-level help. */
export const MAIN_HELP = `Usage: tinyo [OPTIONS] COMMAND

A Linux container runtime in TypeScript on Deno.

Commands:
  run        Run a command in a new container
  exec       Run a command in a running container
  ps         List containers (-a: all)
  inspect    Print a container's record as JSON
  logs       Show what a detached container wrote (-f: follow)
  wait       Wait for containers to end, print their exit codes
  stop       Stop containers (SIGTERM, then SIGKILL after -t seconds)
  kill       Send a signal to containers
  rm         Remove containers (-f: running ones too)
  pull       Download an Alpine image (alpine[:TAG]) into the cache
  import     Register a local minirootfs tarball as an image
  images     List cached images
  rmi        Remove images
  unpack     Extract a tarball into a directory, safely
  version    Show the version

Options:
${formatOptions(GLOBAL_OPTIONS)}

Run 'tinyo COMMAND --help' for a command's options.`;

/** Runs the CLI and returns the exit code. Errors propagate to main.ts. */
export async function cliMain(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, GLOBAL_OPTIONS, "");
  if (p.flags.has("version")) {
    // deno-lint-ignore no-console
    console.log(`tinyo version ${VERSION}`);
    return 0;
  }
  const [verb, ...rest] = p.rest;
  if (p.flags.has("help") || verb === undefined || verb === "help") {
    // deno-lint-ignore no-console
    console.log(MAIN_HELP);
    return verb === undefined && !p.flags.has("help") ? 125 : 0;
  }
  const layout = resolveLayout(p.values.get("root")?.at(-1) ?? Deno.env.get("TINYO_ROOT"));
  // Every command first finishes what killed runtimes left behind, so that
  // one more tinyo command of any kind leaves the host clean (conmon's own
  // calls excepted: they act on one container and must not wait on others).
  if (Deno.uid() === 0 && !GC_FREE_VERBS.has(verb)) collectGarbage(layout);
  switch (verb) {
    case "run":
      return await runCommand(layout, rest);
    case "ps":
      return psCommand(layout, rest);
    case "inspect":
      return inspectCommand(layout, rest);
    case "logs":
      return await logsCommand(layout, rest);
    case "wait":
      return await waitCommand(layout, rest);
    case "stop":
      return await stopCommand(layout, rest);
    case "kill":
      return killCommand(layout, rest);
    case "rm":
      return await rmCommand(layout, rest);
    case "create":
      return createCommand(layout, rest);
    case "start":
      return await startCommand(layout, rest);
    case "cleanup":
      return cleanupCommand(layout, rest);
    case "exec":
      return await execCommand(layout, rest);
    case "pull":
      return await pullCommand(layout, rest);
    case "import":
      return await importCommand(layout, rest);
    case "images":
      return imagesCommand(layout, rest);
    case "rmi":
      return rmiCommand(layout, rest);
    case "unpack":
      return await unpackCommand(rest);
    case "version":
      // deno-lint-ignore no-console
      console.log(`tinyo version ${VERSION}`);
      return 0;
    default:
      throw new UsageError(`tinyo: unknown command "${verb}" (see 'tinyo --help')`);
  }
}

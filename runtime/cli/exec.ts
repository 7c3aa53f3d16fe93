/**
 * `tinyo exec [OPTIONS] CONTAINER COMMAND [ARG...]`.
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs } from "./args.ts";
import { UsageError } from "../errors.ts";
import { execInContainer } from "../host/exec.ts";
import type { Layout } from "../host/records.ts";

const OPTIONS: readonly OptionSpec[] = [
  { long: "env", short: "e", value: true, arg: "KEY=VALUE", help: "Set an environment variable" },
  {
    long: "workdir",
    short: "w",
    value: true,
    arg: "DIR",
    help: "Working directory (default: the container's)",
  },
  {
    long: "user",
    short: "u",
    value: true,
    arg: "USER[:GROUP]",
    help: "Run as this user (names from the container)",
  },
  { long: "interactive", short: "i", help: "Keep stdin open (with -t: forward it to the terminal)" },
  { long: "tty", short: "t", help: "Allocate a pseudo-terminal (-it for an interactive shell)" },
  { long: "help", help: "Show this help" },
];

/** `tinyo exec`: returns the command's exit code. */
export async function execCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS, "exec");
  if (p.flags.has("help")) {
    // deno-lint-ignore no-console
    console.log(`Usage: tinyo exec [OPTIONS] CONTAINER COMMAND [ARG...]

Run a command in a running container: its namespaces, root, cgroup,
capabilities, seccomp profile and no_new_privs. CONTAINER is a name, an id or
a unique id prefix. The exit status is the command's, as with 'tinyo run'.

Options:
${formatOptions(OPTIONS)}`);
    return 0;
  }
  const [container, ...command] = p.rest;
  if (container === undefined || command.length === 0) {
    throw new UsageError("tinyo exec: expected CONTAINER and COMMAND (see 'tinyo exec --help')");
  }
  const workdir = p.values.get("workdir")?.at(-1);
  const user = p.values.get("user")?.at(-1);
  return await execInContainer(layout, {
    container,
    command: command[0] === "--" ? command.slice(1) : command,
    env: p.values.get("env") ?? [],
    ...(workdir === undefined ? {} : { workdir }),
    ...(user === undefined ? {} : { userSpec: user }),
    ...(p.flags.has("tty") ? { tty: true } : {}),
    ...(p.flags.has("interactive") ? { interactive: true } : {}),
  });
}

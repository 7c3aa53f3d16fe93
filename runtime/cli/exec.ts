/**
 * `tinyo exec [OPTIONS] CONTAINER [COMMAND [ARG...]]`: one command for both
 * front ends. docker's flags (`-i`, `-t`, `-e`, `-w`, `-u USER[:GROUP]`) and
 * runc's (`--process FILE`, `--detach`, `--pid-file`, `--console-socket`,
 * `--cwd`, `--cap`, `--no-new-privs`, `--preserve-fds`, ...) may be mixed.
 * Options end at the container: what follows is the command.
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs } from "./args.ts";
import { ConfigError, UsageError } from "../errors.ts";
import { execInContainer, type ExecOptions } from "../host/exec.ts";
import type { Layout } from "../host/records.ts";
import type { Process } from "../model/spec.ts";

const OPTIONS: readonly OptionSpec[] = [
  { long: "env", short: "e", value: true, arg: "KEY=VALUE", help: "Set an environment variable" },
  {
    long: "workdir",
    short: "w",
    value: true,
    arg: "DIR",
    help: "Working directory (default: the container's)",
  },
  { long: "cwd", value: true, arg: "DIR", help: "Same as --workdir (runc's name)" },
  {
    long: "user",
    short: "u",
    value: true,
    arg: "USER[:GROUP]",
    help: "Run as this user (names from the container, or uid[:gid])",
  },
  { long: "additional-gids", short: "g", value: true, arg: "GID", help: "Add a supplementary group" },
  { long: "interactive", short: "i", help: "Keep stdin open (with -t: forward it to the terminal)" },
  { long: "tty", short: "t", help: "Allocate a pseudo-terminal in the container's devpts" },
  { long: "detach", short: "d", help: "Return once the command runs (OCI; the caller reaps it)" },
  { long: "process", short: "p", value: true, arg: "FILE", help: "The process as OCI process JSON" },
  { long: "pid-file", value: true, arg: "FILE", help: "Write the process's host pid to FILE" },
  {
    long: "console-socket",
    value: true,
    arg: "SOCK",
    help: "With a terminal: send the pty master to this unix socket",
  },
  { long: "cap", short: "c", value: true, arg: "CAP", help: "Add a capability to the process" },
  { long: "no-new-privs", help: "Set no_new_privs for the process" },
  { long: "preserve-fds", value: true, arg: "N", help: "Pass descriptors 3 .. 3+N-1 to the process" },
  { long: "process-label", value: true, arg: "LABEL", help: "SELinux label (refused: not supported)" },
  { long: "apparmor", value: true, arg: "PROFILE", help: "AppArmor profile (refused: not supported)" },
  { long: "ignore-paused", help: "Accepted for runc compatibility" },
  {
    long: "explain",
    optionalValue: true,
    arg: "FILE",
    help: "Print each system call of the set-up, with why, on stderr (or into FILE)",
  },
  { long: "help", help: "Show this help" },
];

/** The OCI process JSON of `--process FILE`. */
function readProcess(path: string): Process {
  let value: unknown;
  try {
    value = JSON.parse(Deno.readTextFileSync(path));
  } catch (err) {
    throw new ConfigError(`Cannot read process "${path}": ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`Invalid process "${path}": expected a JSON object (OCI process)`);
  }
  return value as Process;
}

/** `tinyo exec`: returns the command's exit code (0 with --detach). */
export async function execCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS, "exec");
  if (p.flags.has("explain")) {
    const { explainTo } = await import("../explain.ts");
    const { pidCalls } = await import("../syscalls.ts");
    explainTo(p.values.get("explain")?.at(-1) ?? true, pidCalls);
  }
  if (p.flags.has("help")) {
    // deno-lint-ignore no-console
    console.log(`Usage: tinyo exec [OPTIONS] CONTAINER COMMAND [ARG...]
       tinyo exec --process FILE [OPTIONS] ID

Run a command in a running container: its namespaces, root, cgroup,
capabilities, seccomp profile and no_new_privs. CONTAINER is a name, an id or
a unique id prefix. The exit status is the command's, as with 'tinyo run'.

Options:
${formatOptions(OPTIONS)}`);
    return 0;
  }
  for (const refused of ["process-label", "apparmor"]) {
    if (p.values.has(refused)) {
      throw new ConfigError(
        `tinyo exec: --${refused} is not supported (no SELinux or AppArmor support in tinyo)`,
      );
    }
  }
  const [container, ...command] = p.rest;
  const processFile = p.values.get("process")?.at(-1);
  if (container === undefined || (command.length === 0 && processFile === undefined)) {
    throw new UsageError("tinyo exec: expected CONTAINER and COMMAND (see 'tinyo exec --help')");
  }
  const workdir = p.values.get("workdir")?.at(-1) ?? p.values.get("cwd")?.at(-1);
  const user = p.values.get("user")?.at(-1);
  const pidFile = p.values.get("pid-file")?.at(-1);
  const consoleSocket = p.values.get("console-socket")?.at(-1);
  const preserve = p.values.get("preserve-fds")?.at(-1);
  if (preserve !== undefined && !/^\d+$/.test(preserve)) {
    throw new UsageError(`tinyo exec: --preserve-fds must be a non-negative integer, got "${preserve}"`);
  }
  const gids = (p.values.get("additional-gids") ?? []).map((g) => {
    if (!/^\d+$/.test(g)) throw new UsageError(`tinyo exec: --additional-gids must be a number, got "${g}"`);
    return Number(g);
  });
  const options: ExecOptions = {
    container,
    command: command[0] === "--" ? command.slice(1) : command,
    env: p.values.get("env") ?? [],
    ...(workdir === undefined ? {} : { workdir }),
    ...(user === undefined ? {} : { userSpec: user }),
    ...(gids.length > 0 ? { additionalGids: gids } : {}),
    ...(p.flags.has("tty") ? { tty: true } : {}),
    ...(p.flags.has("interactive") ? { interactive: true } : {}),
    ...(p.flags.has("detach") ? { detach: true } : {}),
    ...(processFile === undefined ? {} : { process: readProcess(processFile) }),
    ...(pidFile === undefined ? {} : { pidFile }),
    ...(consoleSocket === undefined ? {} : { consoleSocket }),
    ...(p.values.has("cap") ? { caps: p.values.get("cap")! } : {}),
    ...(p.flags.has("no-new-privs") ? { noNewPrivs: true } : {}),
    ...(preserve === undefined ? {} : { preserveFds: Number(preserve) }),
  };
  return await execInContainer(layout, options);
}

/**
 * `tinyo run [OPTIONS] IMAGE [COMMAND [ARG...]]`: argument parsing into
 * `RunOptions`, and the glue to `runContainer`.
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs } from "./args.ts";
import { parseVolume, type RunOptions } from "../run_spec.ts";
import { UsageError } from "../errors.ts";
import { runContainer } from "../container.ts";
import type { Layout } from "../state.ts";
import type { PullPolicy } from "../../rootfs/mod.ts";
import { mirrorFrom } from "./images.ts";
import { progressReporter } from "./progress.ts";

/** The options of `tinyo run`. */
export const RUN_OPTIONS: readonly OptionSpec[] = [
  {
    long: "env",
    short: "e",
    value: true,
    arg: "KEY=VALUE",
    help: "Set an environment variable (KEY alone: copy it from the host)",
  },
  {
    long: "workdir",
    short: "w",
    value: true,
    arg: "DIR",
    help: "Working directory inside the container (created if missing)",
  },
  {
    long: "volume",
    short: "v",
    value: true,
    arg: "HOST:CTR[:ro]",
    help: "Bind-mount a host path, read-only with :ro",
  },
  {
    long: "hostname",
    short: "h",
    value: true,
    arg: "NAME",
    help: "Container host name (default: the short container id)",
  },
  {
    long: "user",
    short: "u",
    value: true,
    arg: "UID[:GID]",
    help: "Run the command as this numeric user and group",
  },
  { long: "read-only", help: "Mount the container's root filesystem read-only" },
  { long: "rootfs", value: true, arg: "DIR", help: "Use an unpacked root filesystem directory as the image" },
  { long: "rootfs-rw", help: "Write into the --rootfs directory itself instead of an overlay" },
  {
    long: "network",
    value: true,
    arg: "none|host",
    help: "none: own network namespace, loopback only (default); host",
  },
  {
    long: "pull",
    value: true,
    arg: "POLICY",
    help: "Pull an image reference: missing (default), always, never",
  },
  { long: "mirror", value: true, arg: "URL", help: "Alpine mirror for pulls (env TINYO_ALPINE_MIRROR)" },
  { long: "quiet", short: "q", help: "No pull progress output" },
  { long: "interactive", short: "i", help: "Keep stdin open (always the case: stdin is passed through)" },
  { long: "rm", help: "Remove the container when it ends (always the case for foreground runs)" },
  { long: "help", help: "Show this help" },
];

/** Help text of `tinyo run`. */
export const RUN_HELP = `Usage: tinyo run [OPTIONS] IMAGE [COMMAND [ARG...]]
       tinyo run [OPTIONS] --rootfs DIR [COMMAND [ARG...]]

Run COMMAND (default /bin/sh) in a new container. IMAGE is an Alpine
minirootfs tarball (.tar.gz or .tar), a root filesystem directory, or an
image reference: alpine[:TAG] (pulled when missing) or a name given to
'tinyo import'. A path that exists wins over a reference.
Options end at IMAGE: everything after it is the command and its arguments.

Options:
${formatOptions(RUN_OPTIONS)}

Exit status: the command's own; 128+N when signal N killed it; 125 when tinyo
failed; 126 when the command cannot be executed; 127 when it does not exist.`;

function parseUser(value: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(value);
  if (m === null) throw new UsageError(`tinyo run: invalid --user "${value}": expected UID[:GID] (numbers)`);
  const uid = Number(m[1]);
  const gid = m[2] === undefined ? uid : Number(m[2]);
  if (uid > 0xfffffffe || gid > 0xfffffffe) {
    throw new UsageError(`tinyo run: invalid --user "${value}": out of range`);
  }
  return { uid, gid };
}

/** How `tinyo run` gets its image. */
export interface RunImageOptions {
  pull: PullPolicy;
  mirror: string;
  quiet: boolean;
}

/** The image options of `tinyo run` (pull policy, mirror, quiet). */
export function parseRunImageOptions(argv: readonly string[]): RunImageOptions {
  const p = parseArgs(argv, RUN_OPTIONS, "run");
  const pull = p.values.get("pull")?.at(-1) ?? "missing";
  if (pull !== "missing" && pull !== "always" && pull !== "never") {
    throw new UsageError(`tinyo run: unknown --pull "${pull}" (use missing, always or never)`);
  }
  return { pull, mirror: mirrorFrom(p.values.get("mirror")?.at(-1)), quiet: p.flags.has("quiet") };
}

/** Turns `tinyo run` arguments into `RunOptions`, or `"help"`. */
export function parseRunArgs(argv: readonly string[]): RunOptions | "help" {
  const p = parseArgs(argv, RUN_OPTIONS, "run");
  if (p.flags.has("help")) return "help";
  const last = (name: string): string | undefined => p.values.get(name)?.at(-1);
  const rootfsDir = last("rootfs");
  let image: string;
  let command: string[];
  if (rootfsDir !== undefined) {
    image = rootfsDir;
    command = p.rest;
  } else {
    if (p.rest.length === 0) {
      throw new UsageError("tinyo run: missing IMAGE (a tarball or a directory; see 'tinyo run --help')");
    }
    image = p.rest[0]!;
    command = p.rest.slice(1);
  }
  if (command[0] === "--") command = command.slice(1);
  const network = last("network") ?? "none";
  if (network !== "none" && network !== "host") {
    throw new UsageError(`tinyo run: unsupported --network "${network}" (use none or host)`);
  }
  if (p.flags.has("rootfs-rw") && rootfsDir === undefined) {
    throw new UsageError("tinyo run: --rootfs-rw needs --rootfs DIR");
  }
  const user = last("user");
  const workdir = last("workdir");
  const hostname = last("hostname");
  return {
    image,
    command,
    env: p.values.get("env") ?? [],
    volumes: (p.values.get("volume") ?? []).map(parseVolume),
    readOnly: p.flags.has("read-only"),
    rootfsRw: p.flags.has("rootfs-rw"),
    network,
    ...(workdir === undefined ? {} : { workdir }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(user === undefined ? {} : { user: parseUser(user) }),
  };
}

/** `tinyo run`: returns the exit code. */
export async function runCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const opts = parseRunArgs(argv);
  if (opts === "help") {
    // deno-lint-ignore no-console
    console.log(RUN_HELP);
    return 0;
  }
  const image = parseRunImageOptions(argv);
  const onProgress = progressReporter({ quiet: image.quiet });
  return await runContainer(layout, opts, {
    pull: image.pull,
    mirror: image.mirror,
    ...(onProgress ? { onProgress } : {}),
  });
}

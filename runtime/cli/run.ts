/**
 * `tinyo run [OPTIONS] IMAGE [COMMAND [ARG...]]`: argument parsing into
 * `RunOptions`, and the glue to `runContainer`.
 *
 * @module
 */

import { formatOptions, type OptionSpec, parseArgs, type ParsedArgs } from "./args.ts";
import { parseResources, parseTmpfs, parseUlimit, parseVolume, type RunOptions } from "../model/run_spec.ts";
import { parseSize } from "../model/units.ts";
import { UsageError } from "../errors.ts";
import { runContainer } from "../host/run.ts";
import { runDetached } from "../host/detached.ts";
import type { Layout } from "../host/records.ts";
import type { PullPolicy } from "../../rootfs/mod.ts";
import { ALLOW_HTTP_OPTION, allowHttpFrom, mirrorFrom } from "./images.ts";
import { progressReporter } from "./progress.ts";
import { isHostname, parseAddHost, parseDns, parseIPv4, parseMac, parsePublish } from "../model/network.ts";

/** Checks `--ip`'s form (whether it is inside the subnet is checked when the network is made). */
function parseIPv4Flag(value: string): void {
  try {
    parseIPv4(value);
  } catch {
    throw new UsageError(`Invalid --ip "${value}": not an IPv4 address`);
  }
}

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
    arg: "USER[:GROUP]",
    help: "Run as this user and group (names from the image, or numbers)",
  },
  { long: "read-only", help: "Mount the container's root filesystem read-only" },
  { long: "rootfs", value: true, arg: "DIR", help: "Use an unpacked root filesystem directory as the image" },
  { long: "rootfs-rw", help: "Write into the --rootfs directory itself instead of an overlay" },
  {
    long: "network",
    value: true,
    arg: "MODE",
    help: "bridge: eth0 on tinyo0 with NAT (default); none: loopback only; host; container:NAME",
  },
  {
    long: "publish",
    short: "p",
    value: true,
    arg: "[IP:]HOST:CTR[/udp]",
    help: "Publish a container port on the host (CTR alone: a free host port)",
  },
  { long: "ip", value: true, arg: "ADDR", help: "Fixed address on the bridge (inside its subnet)" },
  { long: "mac-address", value: true, arg: "MAC", help: "MAC address of eth0 on the bridge" },
  { long: "dns", value: true, arg: "ADDR", help: "Nameserver for /etc/resolv.conf (instead of the host's)" },
  { long: "add-host", value: true, arg: "NAME:IP", help: "Add a line to the container's /etc/hosts" },
  { long: "memory", short: "m", value: true, arg: "SIZE", help: "Memory limit, e.g. 64m or 1g" },
  {
    long: "memory-swap",
    value: true,
    arg: "SIZE",
    help: "Memory plus swap (-1: unlimited; default twice --memory)",
  },
  { long: "cpus", value: true, arg: "N", help: "CPU limit, fractional (0.5 = half a CPU)" },
  { long: "cpu-shares", value: true, arg: "N", help: "Relative CPU weight (default 1024)" },
  { long: "pids-limit", value: true, arg: "N", help: "Maximum number of processes (-1: unlimited)" },
  { long: "tty", short: "t", help: "Allocate a pseudo-terminal (with -i: an interactive shell)" },
  { long: "detach", short: "d", help: "Run in the background (monitored by conmon); print the id" },
  { long: "name", value: true, arg: "NAME", help: "Name the container (unique among running ones)" },
  {
    long: "ipc",
    value: true,
    arg: "container:NAME",
    help: "Share another running container's IPC namespace",
  },
  {
    long: "pid",
    value: true,
    arg: "container:NAME",
    help: "Share another running container's PID namespace",
  },
  {
    long: "uts",
    value: true,
    arg: "container:NAME",
    help: "Share another running container's UTS namespace",
  },
  { long: "cap-add", value: true, arg: "CAP", help: "Add a capability to the default set (ALL for all)" },
  { long: "cap-drop", value: true, arg: "CAP", help: "Drop a capability (ALL for all)" },
  { long: "privileged", help: "All capabilities, no seccomp, no masked paths, writable /sys" },
  {
    long: "security-opt",
    value: true,
    arg: "OPT",
    help: "no-new-privileges[=false], seccomp=unconfined|PROFILE.json",
  },
  {
    long: "ulimit",
    value: true,
    arg: "NAME=SOFT[:HARD]",
    help: "Set a resource limit, e.g. nofile=1024:2048",
  },
  { long: "tmpfs", value: true, arg: "PATH[:OPTS]", help: "Mount a tmpfs (noexec,nosuid,nodev plus OPTS)" },
  {
    long: "pull",
    value: true,
    arg: "POLICY",
    help: "Pull an image reference: missing (default), always, never",
  },
  { long: "mirror", value: true, arg: "URL", help: "Alpine mirror for pulls (env TINYO_ALPINE_MIRROR)" },
  ALLOW_HTTP_OPTION,
  { long: "quiet", short: "q", help: "No pull progress output" },
  { long: "interactive", short: "i", help: "Keep stdin open (with -t: forward it to the terminal)" },
  { long: "rm", help: "Remove a detached container when it ends (foreground ones always are)" },
  {
    long: "init",
    help: "Run a tiny init (catatonit) as PID 1: forwards signals, reaps zombies (env TINYO_INIT_PATH)",
  },
  {
    long: "explain",
    optionalValue: true,
    arg: "FILE",
    help: "Print each system call of the set-up, with why, on stderr (or into FILE)",
  },
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

/** Parses `--security-opt` values into no_new_privs and seccomp choices. */
export function parseSecurityOpts(
  values: readonly string[],
): { noNewPrivileges?: boolean; seccomp?: string } {
  const out: { noNewPrivileges?: boolean; seccomp?: string } = {};
  for (const v of values) {
    const m = /^(no-new-privileges)(?:[=:](true|false))?$/.exec(v);
    if (m !== null) {
      out.noNewPrivileges = m[2] !== "false";
      continue;
    }
    const sc = /^seccomp[=:](.+)$/.exec(v);
    if (sc !== null) {
      out.seccomp = sc[1]!;
      continue;
    }
    throw new UsageError(
      `tinyo run: unsupported --security-opt "${v}" (use no-new-privileges[=true|false] or seccomp=unconfined|PROFILE.json)`,
    );
  }
  return out;
}

/** How `tinyo run` gets its image. */
export interface RunImageOptions {
  pull: PullPolicy;
  mirror: string;
  allowHttp: boolean;
  quiet: boolean;
}

/** The image options of `tinyo run` (pull policy, mirror, quiet). */
export function parseRunImageOptions(argv: readonly string[]): RunImageOptions {
  return imageOptionsFrom(parseArgs(argv, RUN_OPTIONS, "run"));
}

function imageOptionsFrom(p: ParsedArgs): RunImageOptions {
  const pull = p.values.get("pull")?.at(-1) ?? "missing";
  if (pull !== "missing" && pull !== "always" && pull !== "never") {
    throw new UsageError(`tinyo run: unknown --pull "${pull}" (use missing, always or never)`);
  }
  return {
    pull,
    mirror: mirrorFrom(p.values.get("mirror")?.at(-1)),
    allowHttp: allowHttpFrom(p.flags.has("allow-http")),
    quiet: p.flags.has("quiet"),
  };
}

/** Turns `tinyo run` arguments into `RunOptions`, or `"help"`. */
export function parseRunArgs(argv: readonly string[]): RunOptions | "help" {
  return runOptionsFrom(parseArgs(argv, RUN_OPTIONS, "run"));
}

function runOptionsFrom(p: ParsedArgs): RunOptions | "help" {
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
  const networkFlag = last("network") ?? "bridge";
  const share: Record<string, string> = {};
  const containerOf = (flag: string, value: string | undefined): void => {
    if (value === undefined) return;
    const m = /^container:(.+)$/.exec(value);
    if (m === null) throw new UsageError(`tinyo run: unsupported --${flag} "${value}" (use container:NAME)`);
    share[flag] = m[1]!;
  };
  let network: "none" | "host" | "bridge" = "none";
  if (networkFlag === "host" || networkFlag === "bridge") network = networkFlag;
  else if (networkFlag.startsWith("container:")) containerOf("network", networkFlag);
  else if (networkFlag !== "none") {
    throw new UsageError(
      `tinyo run: unknown network "${networkFlag}" (use bridge, none, host or container:NAME)`,
    );
  }
  const publish = (p.values.get("publish") ?? []).map(parsePublish);
  const ip = last("ip");
  const mac = last("mac-address");
  for (
    const [flag, given] of [["-p", publish.length > 0], ["--ip", ip !== undefined], [
      "--mac-address",
      mac !== undefined,
    ]] as const
  ) {
    if (given && network !== "bridge") {
      throw new UsageError(`tinyo run: ${flag} needs the bridge network (not --network ${networkFlag})`);
    }
  }
  if (ip !== undefined) parseIPv4Flag(ip);
  if (mac !== undefined) parseMac(mac);
  const dns = (p.values.get("dns") ?? []).map(parseDns);
  const addHosts = (p.values.get("add-host") ?? []).map(parseAddHost);
  if ((dns.length > 0 || addHosts.length > 0) && share.network !== undefined) {
    throw new UsageError("tinyo run: --dns and --add-host cannot be used with --network container:NAME");
  }
  for (const flag of ["ipc", "pid", "uts"]) containerOf(flag, last(flag));
  const name = last("name");
  if (p.flags.has("rootfs-rw") && rootfsDir === undefined) {
    throw new UsageError("tinyo run: --rootfs-rw needs --rootfs DIR");
  }
  const user = last("user");
  const workdir = last("workdir");
  const hostname = last("hostname");
  // It goes into /etc/hosts and /etc/hostname: a name, nothing else.
  if (hostname !== undefined && !isHostname(hostname)) {
    throw new UsageError(
      `Invalid --hostname ${JSON.stringify(hostname)}: not a valid host name (letters, digits, '-', '.')`,
    );
  }
  const security = parseSecurityOpts(p.values.get("security-opt") ?? []);
  return {
    image,
    command,
    env: p.values.get("env") ?? [],
    volumes: (p.values.get("volume") ?? []).map(parseVolume),
    readOnly: p.flags.has("read-only"),
    rootfsRw: p.flags.has("rootfs-rw"),
    network,
    ...(publish.length > 0 ? { publish } : {}),
    ...(ip !== undefined ? { ip } : {}),
    ...(mac !== undefined ? { mac } : {}),
    ...(dns.length > 0 ? { dns } : {}),
    ...(addHosts.length > 0 ? { addHosts } : {}),
    capAdd: p.values.get("cap-add") ?? [],
    capDrop: p.values.get("cap-drop") ?? [],
    privileged: p.flags.has("privileged"),
    ulimits: (p.values.get("ulimit") ?? []).map(parseUlimit),
    tmpfs: (p.values.get("tmpfs") ?? []).map(parseTmpfs),
    resources: parseResources({
      ...(last("memory") !== undefined ? { memory: last("memory")! } : {}),
      ...(last("memory-swap") !== undefined ? { memorySwap: last("memory-swap")! } : {}),
      ...(last("cpus") !== undefined ? { cpus: last("cpus")! } : {}),
      ...(last("cpu-shares") !== undefined ? { cpuShares: last("cpu-shares")! } : {}),
      ...(last("pids-limit") !== undefined ? { pidsLimit: last("pids-limit")! } : {}),
    }, parseSize),
    ...security,
    ...(name === undefined ? {} : { name }),
    ...(p.flags.has("tty") ? { tty: true } : {}),
    ...(p.flags.has("interactive") ? { interactive: true } : {}),
    ...(Object.keys(share).length > 0 ? { share } : {}),
    ...(workdir === undefined ? {} : { workdir }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(user === undefined ? {} : { userSpec: user }),
    ...(p.flags.has("init") ? { init: initBinary() } : {}),
  };
}

/** The init binary `--init` runs: TINYO_INIT_PATH, or catatonit where Debian and podman install it. */
export function initBinary(env: (k: string) => string | undefined = (k) => Deno.env.get(k)): string {
  const given = env("TINYO_INIT_PATH");
  const candidates = given !== undefined ? [given] : ["/usr/bin/catatonit", "/usr/libexec/podman/catatonit"];
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there.
    }
  }
  throw new UsageError(
    given !== undefined
      ? `tinyo run: --init: TINYO_INIT_PATH="${given}" is not a file`
      : "tinyo run: --init needs catatonit, which is not installed (Debian: apt-get install catatonit)",
  );
}

/** `tinyo run`: returns the exit code. */
export async function runCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, RUN_OPTIONS, "run");
  const opts = runOptionsFrom(parsed);
  if (opts === "help") {
    // deno-lint-ignore no-console
    console.log(RUN_HELP);
    return 0;
  }
  const image = imageOptionsFrom(parsed);
  const onProgress = progressReporter({ quiet: image.quiet });
  const flags = parsed.flags;
  // Explaining is set up only when asked: without it, nothing is wrapped.
  if (flags.has("explain")) {
    const { explainTo } = await import("../explain.ts");
    const { netCalls, pidCalls } = await import("../syscalls.ts");
    explainTo(parsed.values.get("explain")?.at(-1) ?? true, pidCalls, netCalls);
  }
  if (flags.has("detach")) {
    const id = await runDetached(layout, { ...opts, autoRemove: flags.has("rm") }, {
      pull: image.pull,
      mirror: image.mirror,
      allowHttp: image.allowHttp,
      ...(onProgress ? { onProgress } : {}),
    });
    // deno-lint-ignore no-console
    console.log(id);
    return 0;
  }
  return await runContainer(layout, opts, {
    pull: image.pull,
    mirror: image.mirror,
    allowHttp: image.allowHttp,
    ...(onProgress ? { onProgress } : {}),
  });
}

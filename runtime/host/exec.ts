/**
 * `tinyo exec`: a new process inside a running container. The runtime
 * spawns the init into the container's PID namespace (setns on its spawning
 * thread, as for `run`); the init joins the container's cgroup and its other
 * namespaces (the mount namespace last, which also puts it in the
 * container's root), then applies the container's own capabilities, seccomp
 * profile and no_new_privs before it execs the command.
 *
 * @module
 */

import { containerDir, type Layout, writeAtomic } from "./records.ts";
import { findRunning } from "./lookup.ts";
import { loadSpec, type Process, type Spec, validateSpec } from "../model/spec.ts";
import { normalizeCap } from "../model/capabilities.ts";
import { requireRoot, superviseInit } from "./run.ts";
import { type Launch, launchInit, NS_FILES } from "./launch.ts";
import { waitForInit } from "./channel.ts";
import { connectConsole, NO_STDIO } from "./create.ts";
import { NAMESPACE_FLAGS } from "../model/namespaces.ts";
import { TinyoError } from "../errors.ts";
import { openProcess } from "./handle.ts";
import { fsCalls, O, pidCalls } from "../syscalls.ts";
import { parseEnv } from "../model/run_spec.ts";
import { resolveUser } from "./users.ts";
import type { InitBootstrap } from "../model/bootstrap.ts";
import { requireTerminal } from "./tty.ts";
import { statusOf } from "./status.ts";

/** What `tinyo exec` was asked for. */
export interface ExecOptions {
  /** Container name, id or id prefix. */
  container: string;
  command: string[];
  env: string[];
  workdir?: string;
  /** `-u USER[:GROUP]`: names from the container's files, or numbers. */
  userSpec?: string;
  /** `-t` (and `-i` to forward stdin to it). */
  tty?: boolean;
  interactive?: boolean;
  /**
   * OCI `--process FILE`: the whole process (args, env, cwd, user,
   * capabilities, terminal, ...) instead of the container's with changes.
   */
  process?: Process;
  /** OCI `--detach`: return once the command runs; it outlives tinyo. */
  detach?: boolean;
  /** OCI `--pid-file`: where the process's host pid goes. */
  pidFile?: string;
  /** OCI `--console-socket`: the pty master goes there (with a terminal). */
  consoleSocket?: string;
  /** OCI `--cap`: capabilities added to the container's. */
  caps?: string[];
  /** OCI `--no-new-privs`. */
  noNewPrivs?: boolean;
  /** OCI `--preserve-fds N`. */
  preserveFds?: number;
  /** OCI `--additional-gids`: supplementary groups added to the process's. */
  additionalGids?: number[];
}

/** The spec of the exec'd process: the container's, with every namespace joined. */
export function execSpec(
  container: Spec,
  pid: number,
  opts: ExecOptions,
  ctx: { hostEnv: (k: string) => string | undefined; rootOfContainer: () => number },
): Spec {
  const base = container.process!;
  const env = new Map((base.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  for (const raw of opts.env) {
    const e = parseEnv(raw, ctx.hostEnv);
    if (e !== undefined) env.set(e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1));
  }
  let user = base.user;
  if (opts.userSpec !== undefined) {
    const root = ctx.rootOfContainer();
    let u;
    try {
      u = resolveUser(root, opts.userSpec);
    } finally {
      pidCalls.close(root);
    }
    user = {
      uid: u.uid,
      gid: u.gid,
      ...(u.additionalGids.length > 0 ? { additionalGids: u.additionalGids } : {}),
    };
    if (!opts.env.some((e) => e.startsWith("HOME="))) env.set("HOME", u.uid === 0 ? "/root" : u.home);
  }
  const granted = user.uid === 0 ? base.capabilities?.bounding ?? [] : [];
  const { hostname: _hostname, ...rest } = container;
  let process: Process = {
    ...base,
    args: opts.command,
    env: [...env].map(([k, v]) => `${k}=${v}`),
    cwd: opts.workdir ?? base.cwd,
    user,
    terminal: opts.tty ?? false,
    ...(base.capabilities
      ? {
        capabilities: {
          ...base.capabilities,
          effective: granted,
          permitted: granted,
          // Never inheritable (CVE-2022-29162), whatever the container's config says.
          inheritable: [],
          ambient: [],
        },
      }
      : {}),
  };
  // OCI exec: the caller's process.json says it all (runc takes it as is);
  // flags given beside it still apply on top, as with runc.
  if (opts.process !== undefined) {
    process = {
      ...base,
      ...opts.process,
      ...(opts.command.length > 0 ? { args: opts.command } : {}),
      ...(opts.workdir !== undefined ? { cwd: opts.workdir } : {}),
    };
    if (opts.env.length > 0) process.env = [...(process.env ?? []), ...opts.env];
  }
  if (opts.caps !== undefined && opts.caps.length > 0) {
    const add = opts.caps.map(normalizeCap);
    const c = process.capabilities ?? {};
    const plus = (list: string[] | undefined): string[] => [...new Set([...(list ?? []), ...add])];
    process.capabilities = {
      ...c,
      bounding: plus(c.bounding),
      effective: plus(c.effective),
      permitted: plus(c.permitted),
    };
  }
  if (opts.noNewPrivs) process.noNewPrivileges = true;
  if (opts.tty) process.terminal = true;
  if (opts.additionalGids !== undefined) {
    process.user = {
      ...process.user,
      additionalGids: [...new Set([...(process.user.additionalGids ?? []), ...opts.additionalGids])],
    };
  }
  return validateSpec({
    ...rest,
    process,
    mounts: [],
    linux: {
      ...container.linux,
      namespaces: (container.linux?.namespaces ?? []).map((n) => ({
        type: n.type,
        path: `/proc/${pid}/ns/${NS_FILES[n.type]}`,
      })),
      maskedPaths: [],
      readonlyPaths: [],
      // Set once, by the container's own init.
      sysctl: {},
    },
  });
}

/**
 * A descriptor of a running container's root (/proc/PID/root), opened while
 * a pidfd proves PID is still the container's process: checked before (the
 * start time) and after (still alive, so the pid was not reused between).
 */
export function containerRoot(pid: number, startTime: number | undefined): number {
  const pidfd = openProcess(pid, startTime);
  if (pidfd === undefined) throw new TinyoError("Cannot exec: the container's process is gone");
  try {
    const root = fsCalls.open(`/proc/${pid}/root`, O.PATH | O.DIRECTORY | O.CLOEXEC);
    try {
      pidCalls.pidfdSendSignal(pidfd, 0);
    } catch (err) {
      fsCalls.close(root);
      throw new TinyoError("Cannot exec: the container's process is gone", { cause: err });
    }
    return root;
  } finally {
    pidCalls.close(pidfd);
  }
}

/** Runs a command in a running container; returns its exit code (0 with `detach`). */
export async function execInContainer(layout: Layout, opts: ExecOptions): Promise<number> {
  requireRoot("exec");
  if (opts.tty && opts.consoleSocket === undefined) requireTerminal("exec");
  const rec = findRunning(layout, opts.container);
  if (statusOf(layout, rec).status === "paused") {
    throw new TinyoError(`Cannot exec in container "${opts.container}": it is paused (resume it first)`);
  }
  const pid = rec.pid!;
  const container = loadSpec(`${containerDir(layout, rec.id)}/config.json`);
  const spec = execSpec(container, pid, opts, {
    hostEnv: (k) => Deno.env.get(k),
    rootOfContainer: () => containerRoot(pid, rec.pidStartTime),
  });
  if (spec.process!.terminal && opts.detach && opts.consoleSocket === undefined) {
    throw new TinyoError("Cannot exec with a terminal and --detach without --console-socket");
  }
  // Named after this process, so the garbage collector can tell a stale one.
  const path = `${containerDir(layout, rec.id)}/exec-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.json`;
  Deno.writeTextFileSync(path, JSON.stringify(spec, null, 2) + "\n");
  try {
    const boot: InitBootstrap = {
      bundle: rec.bundle,
      config: path,
      exec: true,
      ...(rec.cgroups ? { cgroupProcs: rec.cgroups.map((d) => `${d}/cgroup.procs`) } : {}),
      ...(opts.detach ? { detached: true } : {}),
      ...(opts.preserveFds ? { preserveFds: opts.preserveFds } : {}),
    };
    if (rec.pidStartTime === undefined) {
      throw new TinyoError(`Cannot exec in container "${opts.container}": its process is unknown`);
    }
    const source = { pid, startTime: rec.pidStartTime, what: `container "${opts.container}"` };
    // Every namespace but the PID one (joined by the runtime around the
    // spawn) and user (not used) in one setns on a checked pidfd.
    let flags = 0;
    for (const n of container.linux?.namespaces ?? []) {
      if (n.type !== "pid" && n.type !== "user") flags |= NAMESPACE_FLAGS[n.type];
    }
    const hasPidNs = container.linux?.namespaces?.some((n) => n.type === "pid") ?? false;
    const launch: Launch = {
      boot,
      pidNamespace: hasPidNs ? source : false,
      newMountNamespace: false,
      shares: flags === 0 ? [] : [{ ...source, flags }],
    };
    if (opts.detach) return detachedExec(launch, opts);
    const socket = spec.process!.terminal && opts.consoleSocket !== undefined
      ? connectConsole(opts.consoleSocket)
      : undefined;
    try {
      return await superviseInit(
        launch,
        undefined,
        spec.process!.terminal && opts.consoleSocket === undefined
          ? { interactive: opts.interactive ?? false }
          : undefined,
        socket,
      );
    } finally {
      if (socket !== undefined) pidCalls.close(socket);
    }
  } finally {
    try {
      Deno.removeSync(path);
    } catch {
      // The container ended and took its directory with it.
    }
  }
}

/**
 * OCI `exec --detach`: returns once the command runs (the init has exec'd
 * it: the sync pipe closed without an error), with its pid in the pid file;
 * the process is left to the caller (a subreaper such as conmon).
 */
function detachedExec(launch: Launch, opts: ExecOptions): number {
  const socket = opts.consoleSocket === undefined ? undefined : connectConsole(opts.consoleSocket);
  let init;
  try {
    init = launchInit(launch, socket === undefined ? {} : { consoleSocket: socket, stdio: NO_STDIO });
  } finally {
    if (socket !== undefined) pidCalls.close(socket);
  }
  const outcome = waitForInit(init.syncFd);
  if (outcome.error !== undefined) {
    throw new TinyoError(outcome.error.message, { exitCode: outcome.error.exitCode });
  }
  if (!outcome.execed) throw new TinyoError("Container init ended before starting the command");
  if (opts.pidFile !== undefined) writeAtomic(opts.pidFile, String(init.child.pid));
  init.child.unref();
  return 0;
}

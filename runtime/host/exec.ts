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

import type { Layout } from "./records.ts";
import { findRunning } from "./lookup.ts";
import { loadSpec, type Spec, validateSpec } from "../model/spec.ts";
import { NS_FILES, requireRoot, superviseInit } from "./run.ts";
import { NAMESPACE_FLAGS } from "../model/namespaces.ts";
import { TinyoError } from "../errors.ts";
import { openProcess } from "./handle.ts";
import { fsCalls, O, pidCalls } from "../syscalls.ts";
import { parseEnv } from "../model/run_spec.ts";
import { resolveUser } from "./users.ts";
import type { InitBootstrap } from "../model/bootstrap.ts";
import { requireTerminal } from "./tty.ts";

/** What `tinyo exec` was asked for. */
export interface ExecOptions {
  /** Container name, id or id prefix. */
  container: string;
  command: string[];
  env: string[];
  workdir?: string;
  userSpec?: string;
  /** `-t` (and `-i` to forward stdin to it). */
  tty?: boolean;
  interactive?: boolean;
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
  return validateSpec({
    ...rest,
    process: {
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
            inheritable: granted,
          },
        }
        : {}),
    },
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

/** Runs a command in a running container; returns its exit code. */
export async function execInContainer(layout: Layout, opts: ExecOptions): Promise<number> {
  requireRoot("exec");
  if (opts.tty) requireTerminal("exec");
  const rec = findRunning(layout, opts.container);
  const pid = rec.pid!;
  const container = loadSpec(`${rec.bundle}/config.json`);
  const spec = execSpec(container, pid, opts, {
    hostEnv: (k) => Deno.env.get(k),
    rootOfContainer: () => containerRoot(pid, rec.pidStartTime),
  });
  // Named after this process, so the garbage collector can tell a stale one.
  const path = `${rec.bundle}/exec-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.json`;
  Deno.writeTextFileSync(path, JSON.stringify(spec, null, 2) + "\n");
  try {
    const boot: InitBootstrap = {
      bundle: rec.bundle,
      config: path,
      exec: true,
      ...(rec.cgroups ? { cgroupProcs: rec.cgroups.map((d) => `${d}/cgroup.procs`) } : {}),
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
    return await superviseInit(
      {
        boot,
        pidNamespace: hasPidNs ? source : true,
        newMountNamespace: false,
        shares: flags === 0 ? [] : [{ ...source, flags }],
      },
      undefined,
      opts.tty ? { interactive: opts.interactive ?? false } : undefined,
    );
  } finally {
    try {
      Deno.removeSync(path);
    } catch {
      // The container ended and took its directory with it.
    }
  }
}

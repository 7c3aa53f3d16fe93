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

import type { Layout } from "./state.ts";
import { findRunning } from "./lookup.ts";
import { loadSpec, type Spec, validateSpec } from "./spec.ts";
import { NS_FILES, requireRoot, superviseInit } from "./container.ts";
import { parseEnv } from "./run_spec.ts";
import { resolveUser } from "./users.ts";
import type { InitBootstrap } from "./init.ts";
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
  ctx: { hostEnv: (k: string) => string | undefined; rootOfContainer: string },
): Spec {
  const base = container.process!;
  const env = new Map((base.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  for (const raw of opts.env) {
    const e = parseEnv(raw, ctx.hostEnv);
    if (e !== undefined) env.set(e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1));
  }
  let user = base.user;
  if (opts.userSpec !== undefined) {
    const u = resolveUser(ctx.rootOfContainer, opts.userSpec);
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
    },
  });
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
    rootOfContainer: `/proc/${pid}/root`,
  });
  const path = `${rec.bundle}/exec-${crypto.randomUUID().slice(0, 8)}.json`;
  Deno.writeTextFileSync(path, JSON.stringify(spec, null, 2) + "\n");
  try {
    const boot: InitBootstrap = {
      bundle: rec.bundle,
      config: path,
      exec: true,
      ...(rec.cgroups ? { cgroupProcs: rec.cgroups.map((d) => `${d}/cgroup.procs`) } : {}),
    };
    const pidNs = container.linux?.namespaces?.some((n) => n.type === "pid")
      ? `/proc/${pid}/ns/pid`
      : undefined;
    return await superviseInit(
      boot,
      pidNs ?? true,
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

/**
 * `tinyo run`, end to end, on the runtime side: resolve the image, prepare
 * the container's directory and spec, spawn the init in a new PID namespace,
 * forward signals, wait, report the exit status, and clean up.
 *
 * @module
 */

import { PullError, RefError, type ResolveOptions, resolveRootfs, RootfsError } from "../rootfs/mod.ts";
import { collectGarbage, type Layout, newRecord, removeContainer, writeRecord } from "./state.ts";
import { buildRunSpec, flatResources, hostsFile, type RunOptions } from "./run_spec.ts";
import { type CgroupManager, cgroupManager, hostLayout } from "./cgroups/mod.ts";
import { formatLimit } from "./units.ts";
import { validateSpec } from "./spec.ts";
import { spawnInit } from "./spawn.ts";
import { type InitOutcome, waitForInit } from "./channel.ts";
import { ImageError, TinyoError } from "./errors.ts";
import type { InitBootstrap } from "./init.ts";
import { processStartTime } from "./proc.ts";
import { resolveUser } from "./users.ts";
import { capsFromMask } from "./capabilities.ts";
import { type SignalName, SIGNALS } from "./syscalls.ts";

/** Signals forwarded from tinyo to the container's PID 1. */
export const FORWARDED_SIGNALS: readonly SignalName[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
];

/** Refuses to go on without root, with the fix in the message. */
export function requireRoot(command: string): void {
  if (Deno.uid() !== 0) {
    throw new TinyoError(
      `tinyo ${command} needs root to create namespaces and mounts (try: sudo tinyo ${command} ...)`,
    );
  }
}

/** A fresh container id: 64 hex digits, like docker's. */
export function newContainerId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The exit code for a finished process: its own, or 128+N when signal N killed it. */
export function exitCodeFromStatus(status: Deno.CommandStatus): number {
  if (status.signal !== null) return 128 + (SIGNALS[status.signal as SignalName] ?? 0);
  return status.code;
}

/** The capabilities this process holds (CapPrm of /proc/self/status). */
export function ownCapabilities(): string[] {
  const m = /^CapPrm:\s*([0-9a-f]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"));
  return m === null ? [] : capsFromMask(m[1]!);
}

function hostResolvConf(): string {
  try {
    return Deno.readTextFileSync("/etc/resolv.conf");
  } catch {
    return "";
  }
}

/**
 * Runs a container in the foreground and returns the command's exit code.
 * Whatever happens, the container's directory and record are removed.
 */
export async function runContainer(
  layout_: Layout,
  opts: RunOptions,
  imageOptions: ResolveOptions = {},
): Promise<number> {
  requireRoot("run");
  collectGarbage(layout_);
  let image;
  try {
    image = await resolveRootfs(opts.image, layout_.imagesDir, imageOptions);
  } catch (err) {
    if (err instanceof RootfsError || err instanceof RefError || err instanceof PullError) {
      throw new ImageError(err.message);
    }
    throw err;
  }
  const imageSha = image.kind === "image" ? { image: image.sha256 } : {};

  const id = newContainerId();
  const dir = `${layout_.containersDir}/${id}`;
  // The record goes first: if we die after this, the next tinyo cleans up.
  writeRecord(layout_, { ...newRecord(id, dir), ...imageSha });
  const removeSignals: (() => void)[] = [];
  let cgroup: CgroupManager | undefined;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const overlay = image.kind === "image" || !opts.rootfsRw;
    const rootfs = overlay ? `${dir}/rootfs` : image.rootfs;
    if (overlay) {
      for (const d of ["upper", "work", "rootfs"]) Deno.mkdirSync(`${dir}/${d}`, { mode: 0o755 });
    }
    const etc = { hostname: `${dir}/hostname`, hosts: `${dir}/hosts`, resolvConf: `${dir}/resolv.conf` };
    const user = opts.userSpec === undefined ? undefined : resolveUser(image.rootfs, opts.userSpec);
    const spec = validateSpec(
      buildRunSpec(opts, {
        id,
        rootfs,
        etc,
        hostEnv: (k) => Deno.env.get(k),
        availableCaps: ownCapabilities(),
        ...(user ? { user } : {}),
      }),
    );
    Deno.writeTextFileSync(etc.hostname, `${spec.hostname}\n`);
    Deno.writeTextFileSync(etc.hosts, hostsFile(spec.hostname!));
    Deno.writeTextFileSync(etc.resolvConf, hostResolvConf());
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(spec, null, 2) + "\n");
    // The container's cgroup, made before the init exists; the init joins it
    // first thing, before its cgroup namespace (so the container sees "/").
    const resources = flatResources(spec.linux?.resources);
    const layout = hostLayout();
    if (layout === undefined && Object.keys(resources).length > 0) {
      throw new TinyoError("Cannot apply resource limits: no cgroup hierarchy is mounted on this host");
    }
    if (layout !== undefined) {
      cgroup = cgroupManager(layout, id);
      writeRecord(layout_, { ...newRecord(id, dir), ...imageSha, cgroups: cgroup.dirs });
      cgroup.create(resources);
    }
    const boot: InitBootstrap = {
      ...(cgroup ? { cgroupProcs: cgroup.procsFiles() } : {}),
      bundle: dir,
      ...(overlay
        ? { rootfs: { lower: [image.rootfs], upper: `${dir}/upper`, work: `${dir}/work` } }
        : { rootfs: { lower: [image.rootfs] } }),
    };

    // Signals that arrive while the init starts are forwarded once it exists.
    const forwardTo: { child?: Deno.ChildProcess } = {};
    for (const sig of FORWARDED_SIGNALS) {
      const handler = (): void => {
        try {
          forwardTo.child?.kill(sig);
        } catch {
          // The container already ended.
        }
      };
      Deno.addSignalListener(sig, handler);
      removeSignals.push(() => Deno.removeSignalListener(sig, handler));
    }

    const init = spawnInit({ bootstrap: JSON.stringify(boot), pidNamespace: true });
    forwardTo.child = init.child;
    const startTime = processStartTime(init.child.pid);
    writeRecord(layout_, {
      ...newRecord(id, dir),
      ...imageSha,
      ...(cgroup ? { cgroups: cgroup.dirs } : {}),
      status: "running",
      pid: init.child.pid,
      ...(startTime === undefined ? {} : { pidStartTime: startTime }),
    });
    let failure: InitOutcome;
    try {
      failure = waitForInit(init.syncFd);
    } catch (err) {
      init.child.kill("SIGKILL");
      await init.child.status;
      throw err;
    }
    const status = await init.child.status;
    if (failure.error !== undefined) {
      throw new TinyoError(failure.error.message, { exitCode: failure.error.exitCode });
    }
    if (!failure.execed) {
      throw new TinyoError(
        `Container init ended before starting the command (exit status ${exitCodeFromStatus(status)})`,
      );
    }
    const code = exitCodeFromStatus(status);
    const limit = resources.memory;
    if (code === 137 && cgroup !== undefined && cgroup.oomKills() > 0) {
      throw new TinyoError(
        `container killed: out of memory${limit !== undefined ? ` (limit ${formatLimit(limit)})` : ""}`,
        { exitCode: 137 },
      );
    }
    return code;
  } finally {
    for (const remove of removeSignals) remove();
    try {
      cgroup?.destroy();
    } finally {
      removeContainer(layout_, id);
    }
  }
}

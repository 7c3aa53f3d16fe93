/**
 * `tinyo run`, end to end, on the runtime side: resolve the image, prepare
 * the container's directory and spec, spawn the init in a new PID namespace,
 * forward signals, wait, report the exit status, and clean up.
 *
 * @module
 */

import { PullError, RefError, type ResolveOptions, resolveRootfs, RootfsError } from "../../rootfs/mod.ts";
import {
  type ContainerRecord,
  type Layout,
  listRecords,
  newRecord,
  readRecord,
  reapContainer,
  updateRecord,
  writeRecord,
} from "./records.ts";
import {
  buildRunSpec,
  flatResources,
  hostsFile,
  type NamespaceJoins,
  type RunOptions,
} from "../model/run_spec.ts";
import { type CgroupManager, cgroupManager, defaultCgroupPath, hostLayout } from "./cgroups.ts";
import { formatLimit } from "../model/units.ts";
import {
  ALLOW_ALL_DEVICES,
  DEFAULT_DEVICE_RULES,
  type DeviceRule,
  deviceRuleForNode,
} from "../model/devices.ts";
import { type Spec, validateSpec } from "../model/spec.ts";
import { checkName, checkNameFree, findRunning, withNamesLock } from "./lookup.ts";
import { type Launch, launchInit, NS_FILES, type ShareSource } from "./launch.ts";
import { NAMESPACE_FLAGS } from "../model/namespaces.ts";
import { waitForInit } from "./channel.ts";
import type { InitOutcome } from "../model/bootstrap.ts";
import { ImageError, TinyoError } from "../errors.ts";
import type { InitBootstrap } from "../model/bootstrap.ts";
import { processStartTime } from "./proc.ts";
import { resolveUser } from "./users.ts";
import { withRoot } from "../inroot.ts";
import { capsFromMask } from "../model/capabilities.ts";
import { CLONE, processCalls, type SignalName, SIGNALS } from "../syscalls.ts";
import { attachBridge, plannedNetwork, type PublishedPort } from "./network.ts";
import { bridgedHostsFile, containerResolvConf, parseMac } from "../model/network.ts";
import { explainLine, explainState, explainSummary } from "../explain.ts";
import { mark, timelineState } from "../timeline.ts";
import { type Pty, ptyFromMaster, type Relay, requireTerminal, startRelay } from "./tty.ts";

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

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * The container's resolv.conf: the host's as it is (loopback or host
 * network, no --dns); otherwise the host's nameservers that the container
 * can reach (runtime/model/network.ts containerResolvConf: systemd-resolved's
 * upstream servers behind 127.0.0.53, docker's public fallback last).
 */
function resolvConfFor(opts: RunOptions): string {
  const host = readOr("/etc/resolv.conf");
  if (opts.network !== "bridge" && opts.dns === undefined) return host;
  return containerResolvConf(host, {
    ...(opts.dns !== undefined ? { dns: opts.dns } : {}),
    upstreamText: readOr("/run/systemd/resolve/resolv.conf"),
  }).text;
}

/** The ports other live containers publish (a port is published once). */
function publishedElsewhere(layout: Layout): PublishedPort[] {
  // Until their rules are gone (a stopped container whose release failed
  // still has them), ports stay taken.
  return listRecords(layout).flatMap((r) =>
    r.network?.ports !== undefined && r.network.released !== true ? r.network.ports : []
  );
}

/**
 * Spawns the init (in a new PID namespace, or joining one at a path),
 * forwards tinyo's signals to it, waits for it to exec the command and for
 * the command to end. Returns the exit code (128+N for a signal); throws the
 * init's error with its exit code when set-up or exec failed.
 */
export async function superviseInit(
  launch: Launch,
  onSpawn: (child: Deno.ChildProcess) => void = () => {},
  terminal?: { interactive: boolean },
  /** A caller's connected console socket (OCI exec --console-socket without --detach). */
  consoleSocket?: number,
): Promise<number> {
  const removeSignals: (() => void)[] = [];
  // A terminal is a pty of the container's own devpts: the init makes it and
  // sends the master back over this socket pair (as to an OCI console socket).
  const consoleSockets = terminal ? processCalls.socketPair() : undefined;
  let pty: Pty | undefined;
  let relay: Relay | undefined;
  try {
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
    let init;
    try {
      const socket = consoleSockets?.[1] ?? consoleSocket;
      init = launchInit(launch, socket === undefined ? {} : { consoleSocket: socket });
    } finally {
      if (consoleSockets) processCalls.close(consoleSockets[1]);
    }
    forwardTo.child = init.child;
    onSpawn(init.child);
    if (consoleSockets) {
      // Blocks until the init has made the terminal (or ended: then the
      // message has no descriptor, and its error comes from waitForInit).
      try {
        pty = ptyFromMaster(processCalls.recvFd(consoleSockets[0]).fd);
      } catch {
        pty = undefined;
      }
    }
    if (pty) {
      // The user's terminal hung up: SIGHUP, then SIGKILL if it lingers
      // (a shell as PID 1 of its namespace ignores SIGHUP without a handler).
      const hangup = (): void => {
        try {
          init.child.kill("SIGHUP");
        } catch {
          // Already gone.
        }
        setTimeout(() => {
          try {
            init.child.kill("SIGKILL");
          } catch {
            // Already gone.
          }
        }, 1000);
      };
      Deno.addSignalListener("SIGHUP", hangup);
      removeSignals.push(() => Deno.removeSignalListener("SIGHUP", hangup));
      relay = startRelay(pty, terminal!.interactive, hangup);
    }
    let outcome: InitOutcome;
    try {
      outcome = waitForInit(init.syncFd);
    } catch (err) {
      init.child.kill("SIGKILL");
      await init.child.status;
      throw err;
    }
    const status = await init.child.status;
    if (timelineState.on) mark("container ended (wait)");
    if (explainState.on) {
      explainLine(
        "process control",
        `wait4(${init.child.pid})`,
        `exit ${exitCodeFromStatus(status)}`,
        undefined,
        "the container's PID 1 ended: the runtime reaps it, then removes what it made",
      );
      explainSummary();
    }
    // The relay ends when the pty's last slave closes; do not lose the tail.
    if (relay) await Promise.race([relay.done, new Promise((r) => setTimeout(r, 2000))]);
    if (outcome.error !== undefined) {
      throw new TinyoError(outcome.error.message, { exitCode: outcome.error.exitCode });
    }
    if (!outcome.execed) {
      throw new TinyoError(
        `Container init ended before starting the command (exit status ${exitCodeFromStatus(status)})`,
      );
    }
    return exitCodeFromStatus(status);
  } finally {
    relay?.restore();
    pty?.close();
    if (consoleSockets) processCalls.close(consoleSockets[0]);
    for (const remove of removeSignals) remove();
  }
}

/**
 * `--network container:NAME` etc.: the namespace paths for the spec (what
 * `inspect` shows) and the running processes to join through pidfds.
 */
function sharedNamespaces(
  layout: Layout,
  share: RunOptions["share"],
): { joins: NamespaceJoins; shares: ShareSource[]; pid?: Omit<ShareSource, "flags"> } {
  const joins: NamespaceJoins = {};
  const byId = new Map<string, ShareSource>();
  let pid: Omit<ShareSource, "flags"> | undefined;
  for (const [type, ref] of Object.entries(share ?? {}) as [keyof NamespaceJoins, string][]) {
    const rec = findRunning(layout, ref);
    if (rec.pid === undefined || rec.pidStartTime === undefined) {
      throw new TinyoError(`Cannot share the namespaces of container "${ref}": its process is unknown`);
    }
    joins[type] = `/proc/${rec.pid}/ns/${NS_FILES[type]}`;
    const source = { pid: rec.pid, startTime: rec.pidStartTime, what: `container "${ref}"` };
    if (type === "pid") pid = source;
    else {
      const s = byId.get(rec.id) ?? { ...source, flags: 0 };
      s.flags |= NAMESPACE_FLAGS[type];
      byId.set(rec.id, s);
    }
  }
  return { joins, shares: [...byId.values()], ...(pid ? { pid } : {}) };
}

/** A container prepared for its init: directory, spec, record, cgroup. */
export interface PreparedContainer {
  id: string;
  dir: string;
  spec: Spec;
  boot: InitBootstrap;
  cgroup: CgroupManager | undefined;
  /** Record fields set from the start (image, name, cgroups, detached). */
  base: Partial<ContainerRecord>;
  /** How to spawn its init. */
  launch: Launch;
}

/**
 * Everything before the init: the image, the record (first, under the names
 * lock), the container's directory and files, its spec, its cgroup. On
 * failure whatever was made is removed again.
 */
export async function prepareContainer(
  layout: Layout,
  opts: RunOptions,
  imageOptions: ResolveOptions = {},
  extra: Partial<ContainerRecord> = {},
): Promise<PreparedContainer> {
  requireRoot("run");
  if (opts.name !== undefined) checkName(opts.name);
  const { joins, shares, pid: pidShare } = sharedNamespaces(layout, opts.share);
  const bridged = opts.network === "bridge" && opts.share?.network === undefined;
  let image;
  try {
    image = await resolveRootfs(opts.image, layout.imagesDir, imageOptions);
    if (timelineState.on) mark("image resolved");
    if (explainState.on) {
      explainLine(
        "directories",
        `image ${JSON.stringify(opts.image)}`,
        JSON.stringify(image.rootfs),
        undefined,
        "the image's root filesystem, unpacked once in tinyo's cache: the read-only lower layer",
      );
    }
  } catch (err) {
    if (err instanceof RootfsError || err instanceof RefError || err instanceof PullError) {
      throw new ImageError(err.message);
    }
    throw err;
  }
  const base: Partial<ContainerRecord> = {
    ...extra,
    ...(image.kind === "image" ? { image: image.sha256 } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    imageRef: opts.image,
    command: opts.command.length > 0 ? opts.command : ["/bin/sh"],
  };
  const id = newContainerId();
  const dir = `${layout.containersDir}/${id}`;
  // The network namespace pin and the veth follow from the id: named in the
  // first record, before they exist.
  if (bridged) base.network = plannedNetwork(layout, id);
  // The cgroup's directories follow from the id: the first record lists
  // them, so whatever happens next, the garbage collector can remove them.
  const cgroupLayout = hostLayout();
  if (cgroupLayout === undefined && Object.keys(opts.resources ?? {}).length > 0) {
    throw new TinyoError("Cannot apply resource limits: no cgroup hierarchy is mounted on this host");
  }
  const cgroup: CgroupManager | undefined = cgroupLayout
    ? cgroupManager(cgroupLayout, defaultCgroupPath(id))
    : undefined;
  if (cgroup !== undefined) {
    base.cgroups = cgroup.dirs;
    base.cgroupPath = defaultCgroupPath(id);
  }
  // The record goes first: if we die after this, the next tinyo cleans up.
  // Under the names lock, so that two containers cannot take one name.
  await withNamesLock(layout, () => {
    if (opts.name !== undefined) checkNameFree(layout, opts.name);
    writeRecord(layout, { ...newRecord(id, dir), ...base });
  });
  if (timelineState.on) mark("record written");
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const overlay = image.kind === "image" || !opts.rootfsRw;
    const rootfs = overlay ? `${dir}/rootfs` : image.rootfs;
    if (overlay) {
      for (const d of ["upper", "work", "rootfs"]) Deno.mkdirSync(`${dir}/${d}`, { mode: 0o755 });
    }
    if (explainState.on) {
      explainLine(
        "directories",
        `mkdir(${JSON.stringify(dir)}${overlay ? " and upper/, work/, rootfs/" : ""})`,
        "0",
        undefined,
        "the container's own directory: its writable layer, overlay work area and mount point",
      );
    }
    const etc = { hostname: `${dir}/hostname`, hosts: `${dir}/hosts`, resolvConf: `${dir}/resolv.conf` };
    if (bridged) {
      base.network = attachBridge(
        layout,
        id,
        {
          ...(opts.ip !== undefined ? { ip: opts.ip } : {}),
          ...(opts.mac !== undefined ? { mac: parseMac(opts.mac) } : {}),
          ports: opts.publish ?? [],
        },
        () => publishedElsewhere(layout),
        (net) => {
          // Removed meanwhile (rm -f of a container being made): no rule may
          // be made that no record names.
          if (updateRecord(layout, id, (r) => ({ ...r, network: net })) === undefined) {
            throw new TinyoError("The container was removed while it was being created");
          }
        },
        (other) => readRecord(layout, other) !== undefined,
      );
      updateRecord(layout, id, (r) => ({ ...r, network: base.network! }));
      joins.network = base.network.netns;
    }
    const user = opts.userSpec === undefined
      ? undefined
      : withRoot(image.rootfs, (root) => resolveUser(root, opts.userSpec!));
    const spec = validateSpec(
      buildRunSpec(opts, {
        id,
        rootfs,
        etc,
        joins,
        hostEnv: (k) => Deno.env.get(k),
        availableCaps: ownCapabilities(),
        ...(user ? { user } : {}),
      }),
    );
    if (spec.annotations !== undefined) base.annotations = spec.annotations;
    const hostname = spec.hostname ?? Deno.hostname();
    Deno.writeTextFileSync(etc.hostname, `${hostname}\n`);
    Deno.writeTextFileSync(
      etc.hosts,
      base.network?.ip !== undefined
        ? bridgedHostsFile(hostname, base.network.ip, opts.addHosts ?? [])
        : hostsFile(hostname, opts.addHosts ?? []),
    );
    Deno.writeTextFileSync(etc.resolvConf, resolvConfFor(opts));
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(spec, null, 2) + "\n");
    // The container's cgroup, made before the init exists; the init joins it
    // first thing, before its cgroup namespace (so the container sees "/").
    const devices = effectiveDeviceRules(spec);
    if (!allowsEverything(devices) && !(cgroup?.deviceControl ?? false)) {
      throw new TinyoError(
        "Cannot isolate host devices: no cgroup hierarchy with device control (the v1 devices controller, " +
          "or cgroup v2) is mounted; --privileged runs without it",
      );
    }
    if (timelineState.on) mark("directory, network, spec");
    cgroup?.create(flatResources(spec.linux?.resources), devices);
    if (timelineState.on) mark("cgroup made");
    if (explainState.on && cgroup !== undefined) {
      explainLine(
        "process control",
        `mkdir(${cgroup.dirs.map((d) => JSON.stringify(d)).join(", ")})`,
        "0",
        undefined,
        "the container's cgroup: its limits and device rules, written before any process is in it",
      );
    }
    const boot: InitBootstrap = {
      ...(cgroup ? { cgroupProcs: cgroup.procsFiles() } : {}),
      bundle: dir,
      ...(overlay
        ? { rootfs: { lower: [image.rootfs], upper: `${dir}/upper`, work: `${dir}/work` } }
        : { rootfs: { lower: [image.rootfs] } }),
    };
    const createsMount = spec.linux?.namespaces?.some((n) => n.type === "mount" && n.path === undefined) ??
      false;
    return {
      id,
      dir,
      spec,
      boot,
      cgroup,
      base,
      launch: {
        boot,
        pidNamespace: pidShare ?? true,
        newMountNamespace: createsMount,
        shares,
        ...(bridged ? { lateNamespaces: [{ path: base.network!.netns, flags: CLONE.NEWNET }] } : {}),
      },
    };
  } catch (err) {
    const rec = readRecord(layout, id);
    if (rec !== undefined) reapContainer(layout, rec);
    throw err;
  }
}

/**
 * The device rules a container's cgroup gets: the spec's own list (default:
 * deny everything), then access to the nodes the spec creates, then the
 * safe default nodes tinyo always creates in /dev (runc appends its allowed
 * list the same way, so a config that only says "deny all" still has a
 * working /dev/null).
 */
export function effectiveDeviceRules(spec: Spec): DeviceRule[] {
  const given = (spec.linux?.resources as { devices?: DeviceRule[] } | undefined)?.devices;
  const nodes = (spec.linux?.devices ?? []).map(deviceRuleForNode).filter((r): r is DeviceRule =>
    r !== undefined
  );
  return [...(given ?? [DEFAULT_DEVICE_RULES[0]!]), ...nodes, ...DEFAULT_DEVICE_RULES.slice(1)];
}

/** True when the rules end up allowing every device (--privileged). */
export function allowsEverything(rules: readonly DeviceRule[]): boolean {
  const all = ALLOW_ALL_DEVICES[0]!;
  const last = rules.findLastIndex((r) => !r.allow);
  return rules.slice(last + 1).some((r) =>
    r.allow && (r.type ?? "a") === "a" && r.major === undefined && r.minor === undefined &&
    (r.access ?? "rwm") === (all.access ?? "rwm")
  );
}

/** The OOM message and exit code when the kernel killed the container for memory. */
export function oomError(
  cgroup: CgroupManager | undefined,
  spec: Spec,
  code: number,
): TinyoError | undefined {
  if (code !== 137 || cgroup === undefined || cgroup.oomKills() === 0) return undefined;
  const limit = flatResources(spec.linux?.resources).memory;
  return new TinyoError(
    `container killed: out of memory${limit !== undefined ? ` (limit ${formatLimit(limit)})` : ""}`,
    { exitCode: 137 },
  );
}

/**
 * Runs a container in the foreground and returns the command's exit code.
 * Whatever happens, the container's directory, record and cgroup are removed.
 */
export async function runContainer(
  layout: Layout,
  opts: RunOptions,
  imageOptions: ResolveOptions = {},
): Promise<number> {
  if (opts.tty) requireTerminal("run");
  const c = await prepareContainer(layout, opts, imageOptions);
  try {
    const code = await superviseInit(c.launch, (child) => {
      const startTime = processStartTime(child.pid);
      updateRecord(layout, c.id, (rec) => ({
        ...rec,
        status: "running",
        pid: child.pid,
        ...(startTime === undefined ? {} : { pidStartTime: startTime }),
      }));
    }, opts.tty ? { interactive: opts.interactive ?? false } : undefined);
    const oom = oomError(c.cgroup, c.spec, code);
    if (oom !== undefined) throw oom;
    return code;
  } finally {
    // Whatever happened. A cgroup that will not go away yet keeps its
    // record, for the next tinyo command to finish; the command's exit code
    // is not replaced by that.
    const rec = readRecord(layout, c.id);
    if (rec !== undefined) reapContainer(layout, rec);
    if (timelineState.on) mark("cleaned up");
  }
}

/**
 * Spawning an init for a prepared container: the pidfds of the running
 * processes whose namespaces it joins (checked against their start times),
 * a PID namespace (new, the runtime's, a path, or a process's), and the
 * descriptors it inherits. Shared by `run`, `create` and `exec`.
 *
 * @module
 */

import type { NamespaceType } from "../model/spec.ts";
import type { InitBootstrap } from "../model/bootstrap.ts";
import { O, pidCalls } from "../syscalls.ts";
import { TinyoError } from "../errors.ts";
import { openProcess } from "./handle.ts";
import { type InheritedFds, type SpawnedInit, spawnInit, type SpawnInitOptions } from "./spawn.ts";
import { explainSink } from "../explain.ts";
import { timelineFile } from "../timeline.ts";
import { discardEarlyInit, hasEarlyInit, takeEarlyInit } from "./early.ts";

/** The file name of each namespace type under /proc/PID/ns. */
export const NS_FILES: Readonly<Record<NamespaceType, string>> = {
  pid: "pid",
  network: "net",
  mount: "mnt",
  ipc: "ipc",
  uts: "uts",
  user: "user",
  cgroup: "cgroup",
  time: "time",
};

/** A running process whose namespaces a new init joins (through a pidfd). */
export interface ShareSource {
  /** Host pid and start time (checked when the pidfd is opened). */
  pid: number;
  startTime: number;
  /** CLONE_NEW* flags of the namespaces to join. */
  flags: number;
  /** What it is, for the error when it is gone, e.g. `container "web"`. */
  what: string;
}

/** Everything needed to spawn an init: serialisable (detached containers keep it in init.json). */
export interface Launch {
  boot: InitBootstrap;
  /**
   * A new PID namespace (true), the runtime's own (false: the spec has no
   * PID namespace), one named by a path (OCI `linux.namespaces[].path`), or
   * the one of a running process.
   */
  pidNamespace: boolean | { path: string } | Omit<ShareSource, "flags">;
  /** The runtime creates the mount namespace around the spawn (new containers). */
  newMountNamespace: boolean;
  /** Namespaces of running processes to join. */
  shares: ShareSource[];
  /**
   * Namespace files the runtime made for this container (the bridge
   * network's pin), which the spec joins by path: an early init, spawned
   * before they existed, gets them as descriptors (early.ts).
   */
  lateNamespaces?: { path: string; flags: number }[];
}

/**
 * Spawns the init of `launch`: opens a checked pidfd for every process whose
 * namespaces it joins (and fails if one is gone), passes them down, and
 * closes them once the init has its copies.
 */
export function launchInit(
  launch: Launch,
  extra: Pick<SpawnInitOptions, "stdio"> & {
    /** A connected `--console-socket` to pass down (the init sends the pty master over it). */
    consoleSocket?: number;
    /** The read end of the hooks pipe (bootstrap.ts hooksFd). */
    hooksFd?: number;
  } = {},
): SpawnedInit {
  const opened: number[] = [];
  const open = (s: Omit<ShareSource, "flags">): number => {
    const fd = openProcess(s.pid, s.startTime);
    if (fd === undefined) throw new TinyoError(`Cannot join the namespaces of ${s.what}: it is not running`);
    opened.push(fd);
    return fd;
  };
  try {
    const pidfds = launch.shares.map(open);
    const p = launch.pidNamespace;
    let pidNamespace: boolean | { pidfd: number };
    if (typeof p === "boolean") pidNamespace = p;
    else if ("path" in p) {
      // A namespace file named by config.json (trusted: the bundle is the caller's).
      const fd = pidCalls.open(p.path, O.RDONLY | O.CLOEXEC);
      opened.push(fd);
      pidNamespace = { pidfd: fd };
    } else pidNamespace = { pidfd: open(p) };
    // --explain: the init writes its steps where the runtime writes its own.
    const explain = explainSink();
    const extras = [extra.consoleSocket, extra.hooksFd, explain?.fd].filter((fd): fd is number =>
      fd !== undefined
    );
    // The init main.ts spawned ahead (early.ts) fits a container with a new
    // PID namespace and inherited stdio. Its mount namespace is a copy from
    // before the runtime made the network namespace's pin: that one goes as
    // a descriptor too.
    const early = hasEarlyInit() && p === true && extra.stdio === undefined;
    if (hasEarlyInit() && !early) void discardEarlyInit();
    const late = early ? launch.lateNamespaces ?? [] : [];
    const lateFds = late.map((ns) => {
      const fd = pidCalls.open(ns.path, O.RDONLY | O.CLOEXEC);
      opened.push(fd);
      return fd;
    });
    const joins = [...launch.shares, ...late].map((j) => j.flags);
    const inherit = [...pidfds, ...lateFds, ...extras];
    const at = (fd: number): number => joins.length + extras.indexOf(fd);
    const bootstrap = (fds: InheritedFds): string =>
      JSON.stringify({
        ...launch.boot,
        ...(launch.newMountNamespace ? { mountNamespaceCreated: true } : {}),
        ...(joins.length > 0 ? { joinPidfds: joins.map((flags, i) => ({ fd: fds[i]!, flags })) } : {}),
        ...(extra.consoleSocket !== undefined ? { consoleSocket: fds[at(extra.consoleSocket)]! } : {}),
        ...(extra.hooksFd !== undefined ? { hooksFd: fds[at(extra.hooksFd)]! } : {}),
        ...(explain !== undefined ? { explainFd: fds[at(explain.fd)]!, explainTty: explain.tty } : {}),
        ...(timelineFile() !== undefined ? { timeline: timelineFile() } : {}),
      });
    if (early) {
      const init = takeEarlyInit(bootstrap, inherit, launch.boot.cgroupProcs ?? []);
      if (init !== undefined) return init;
    }
    return spawnInit({
      bootstrap,
      inherit,
      pidNamespace,
      newMountNamespace: launch.newMountNamespace,
      ...(launch.boot.cgroupProcs ? { cgroupProcs: launch.boot.cgroupProcs } : {}),
      ...(extra.stdio ? { stdio: extra.stdio } : {}),
    });
  } finally {
    for (const fd of opened) pidCalls.close(fd);
  }
}

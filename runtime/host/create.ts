/**
 * `create`: set a container up and leave its init waiting for `start` on an
 * exec FIFO (runc's design: the init blocks writing to `exec.fifo` until
 * `start` opens it for reading).
 *
 * Two callers, one core:
 * - the OCI CLI (`tinyo create --bundle DIR ID`, what conmon and containerd's
 *   shim run): the container comes from the bundle's config.json;
 * - `tinyo run -d`, which prepares its container itself (image, overlay,
 *   record) and has conmon run `tinyo create` on it: the launch it saved
 *   (`init.json` in the container's directory) is used.
 *
 * Either way the record exists before anything it names (directory, cgroup,
 * processes), the init's pid goes to `--pid-file` atomically and without a
 * newline, stdio passed to `create` reaches the container's process, and a
 * failure leaves nothing behind.
 *
 * @module
 */

import { assertSupported, loadSpec, type Spec } from "../model/spec.ts";
import { resolveCgroupsPath } from "../model/cgroups_path.ts";
import { flatResources } from "../model/run_spec.ts";
import { ConfigError, TinyoError, UsageError } from "../errors.ts";
import { linuxSyscalls, O, processCalls, S_IF } from "../syscalls.ts";
import {
  containerDir,
  type Layout,
  newRecord,
  readRecord,
  reapContainer,
  updateRecord,
  withRecordsLock,
  writeAtomic,
  writeRecord,
} from "./records.ts";
import { cgroupInUse, cgroupManager, hostLayout } from "./cgroups.ts";
import { type Launch, launchInit } from "./launch.ts";
import { waitForInit } from "./channel.ts";
import { processStartTime } from "./proc.ts";
import { allowsEverything, effectiveDeviceRules, requireRoot } from "./run.ts";
import { runHooks, runHooksWarn } from "../hooks.ts";
import { hooksOf, type HookState, hookState } from "../model/hooks.ts";
import { explainSummary } from "../explain.ts";

/** How `create` was called. */
export interface CreateOptions {
  /** The bundle directory (config.json, and the rootfs `root.path` names). */
  bundle: string;
  /** Where to write the init's host pid. */
  pidFile?: string;
  /** A unix socket to send the pty master to (`process.terminal: true`). */
  consoleSocket?: string;
  /** `--preserve-fds N`: descriptors 3 .. 3+N-1 reach the container's process. */
  preserveFds?: number;
  /** `--systemd-cgroup`: cgroupsPath is in the "slice:prefix:name" form. */
  systemdCgroup?: boolean;
  /** Where warnings go (a failing poststop hook after a failed create). */
  warn?: (message: string) => void;
}

/** Container ids: runc's rule (letters, digits, `_`, `+`, `-`, `.`; not "." or ".."). */
const ID = /^[\w+.-]{1,1024}$/;

/** Checks an OCI container id. */
export function checkId(id: string): void {
  if (!ID.test(id) || id === "." || id === "..") {
    throw new UsageError(`Invalid container id "${id}": use letters, digits, '_', '+', '-', '.'`);
  }
}

/** Where `create` leaves its error for `run -d` (conmon passes on only text). */
export function createErrorPath(dir: string): string {
  return `${dir}/create-error.json`;
}

/** A created container: its init, waiting on the exec FIFO. */
export interface Created {
  pid: number;
  /**
   * The init as a child of this process: `create` lets it go (`unref()`;
   * its caller, a subreaper, inherits it), OCI `run` waits for it.
   */
  child: Deno.ChildProcess;
}

/**
 * Creates container `id`. A container `run -d` prepared is set up from its
 * saved launch; any other id from the bundle.
 */
export function createContainer(layout: Layout, id: string, options: CreateOptions): Created {
  requireRoot("create");
  checkId(id);
  const dir = containerDir(layout, id);
  const prepared = readRecord(layout, id);
  if (prepared !== undefined) {
    let saved: { launch: Launch };
    try {
      saved = JSON.parse(Deno.readTextFileSync(`${dir}/init.json`));
    } catch {
      throw new TinyoError(`Cannot create container "${id}": a container with this id already exists`);
    }
    return spawnCreated(layout, id, saved.launch, options);
  }
  return createFromBundle(layout, id, options);
}

/** The OCI path: everything from the bundle's config.json. */
function createFromBundle(layout: Layout, id: string, options: CreateOptions): Created {
  let bundle: string;
  try {
    bundle = Deno.realPathSync(options.bundle);
  } catch (err) {
    throw new ConfigError(`Cannot use bundle "${options.bundle}": ${(err as Error).message}`);
  }
  const spec = loadSpec(`${bundle}/config.json`);
  checkCreatable(spec, options);
  const rootfs = spec.root!.path.startsWith("/") ? spec.root!.path : `${bundle}/${spec.root!.path}`;
  try {
    if (!Deno.statSync(rootfs).isDirectory) throw new Error("not a directory");
  } catch (err) {
    throw new ConfigError(`Cannot use root.path "${spec.root!.path}": ${(err as Error).message}`);
  }
  const cgroupPath = resolveCgroupsPath(spec.linux?.cgroupsPath, id, {
    systemd: options.systemdCgroup ?? false,
  });
  const cgroupLayout = hostLayout();
  const cgroup = cgroupLayout === undefined ? undefined : cgroupManager(cgroupLayout, cgroupPath);
  const devices = effectiveDeviceRules(spec);
  if (!allowsEverything(devices) && !(cgroup?.deviceControl ?? false)) {
    throw new TinyoError(
      "Cannot isolate host devices: no cgroup hierarchy with device control is mounted (allow every device in " +
        "linux.resources.devices to run without it)",
    );
  }
  // A cgroup that exists with processes or children is someone else's: never
  // recorded as this container's (deleting it would kill them).
  const busy = cgroup === undefined ? undefined : cgroupInUse(cgroup.dirs);
  if (busy !== undefined) {
    throw new ConfigError(`Cannot use linux.cgroupsPath "${spec.linux?.cgroupsPath}": ${busy}`);
  }
  const dir = containerDir(layout, id);
  // The record first (it names the directory and the cgroup), atomically
  // with the check that the id is free.
  withRecordsLock(layout, () => {
    if (readRecord(layout, id) !== undefined) {
      throw new TinyoError(`Cannot create container "${id}": a container with this id already exists`);
    }
    writeRecord(layout, {
      ...newRecord(id, bundle),
      rootfs,
      ...(cgroup ? { cgroups: cgroup.dirs, cgroupPath, cgroupsMade: false } : {}),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      command: spec.process!.args,
    });
  });
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // tinyo's copy of the configuration: what exec, update and state use
    // later, whatever happens to the bundle.
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(spec, null, 2) + "\n");
    cgroup?.create(flatResources(spec.linux?.resources), devices);
    if (cgroup !== undefined) updateRecord(layout, id, (r) => ({ ...r, cgroupsMade: true }));
    const namespaces = spec.linux?.namespaces ?? [];
    const pidNs = namespaces.find((n) => n.type === "pid");
    const launch: Launch = {
      boot: {
        bundle,
        config: `${dir}/config.json`,
        ...(cgroup ? { cgroupProcs: cgroup.procsFiles() } : {}),
        rootfs: { lower: [rootfs] },
      },
      pidNamespace: pidNs === undefined ? false : pidNs.path === undefined ? true : { path: pidNs.path },
      newMountNamespace: namespaces.some((n) => n.type === "mount" && n.path === undefined),
      shares: [],
    };
    const created = spawnCreated(layout, id, launch, options, spec);
    // Created: from now on its caller manages it, and only `delete` removes it.
    updateRecord(layout, id, (r) => ({ ...r, oci: true }));
    return created;
  } catch (err) {
    const rec = readRecord(layout, id);
    if (rec !== undefined) reapContainer(layout, rec);
    // The lifecycle goes on at "destroy": poststop hooks run (and only warn).
    for (const w of runHooksWarn("poststop", hooksOf(spec, "poststop"), stoppedState(id, bundle, spec))) {
      options.warn?.(w.message);
    }
    throw err;
  }
}

/** The state poststop hooks read. */
export function stoppedState(id: string, bundle: string, spec: Spec): HookState {
  return hookState({ id, bundle, status: "stopped", annotations: spec.annotations });
}

/** What config.json may ask for that tinyo cannot do, refused before anything is made. */
function checkCreatable(spec: Spec, options: CreateOptions): void {
  if (spec.process === undefined) throw new ConfigError("Invalid container configuration: process: missing");
  // AppArmor or SELinux without the module, user namespaces, ...: refused,
  // never silently dropped.
  assertSupported(spec);
  if (spec.process.terminal && options.consoleSocket === undefined) {
    throw new UsageError(
      "Cannot create the container: process.terminal is true but no --console-socket was given",
    );
  }
}

/**
 * Spawns the init in create mode: it sets everything up, reports "created"
 * and blocks on the exec FIFO. Writes the pid file and the record.
 */
function spawnCreated(
  layout: Layout,
  id: string,
  launch: Launch,
  options: CreateOptions,
  spec?: Spec,
): Created {
  const dir = containerDir(layout, id);
  const fifo = `${dir}/exec.fifo`;
  linuxSyscalls.mknod(fifo, S_IF.FIFO | 0o622, 0, 0);
  Deno.chmodSync(fifo, 0o622);
  // prestart and createRuntime run here, in the runtime's namespaces, while
  // the init waits on the read end of this pipe (bootstrap.ts hooksFd).
  const runtimeHooks = spec === undefined ? [] : [
    ...hooksOf(spec, "prestart").map((h) => ["prestart", h] as const),
    ...hooksOf(spec, "createRuntime").map((h) => ["createRuntime", h] as const),
  ];
  const hooksPipe = runtimeHooks.length > 0 ? processCalls.pipe2(O.CLOEXEC) : undefined;
  const socket = options.consoleSocket === undefined ? undefined : connectConsole(options.consoleSocket);
  let init;
  try {
    init = launchInit({
      ...launch,
      boot: {
        ...launch.boot,
        id,
        execFifo: fifo,
        ...(options.preserveFds ? { preserveFds: options.preserveFds } : {}),
      },
    }, {
      ...(socket === undefined ? {} : { consoleSocket: socket, stdio: NO_STDIO }),
      ...(hooksPipe === undefined ? {} : { hooksFd: hooksPipe[0] }),
    });
  } catch (err) {
    if (hooksPipe !== undefined) hooksPipe.forEach((fd) => processCalls.close(fd));
    throw err;
  } finally {
    if (socket !== undefined) processCalls.close(socket);
    if (hooksPipe !== undefined) processCalls.close(hooksPipe[0]);
  }
  let outcome;
  try {
    outcome = waitForInit(init.syncFd, true, () => {
      const state = hookState({
        id,
        bundle: launch.boot.bundle,
        status: "creating",
        pid: init.child.pid,
        annotations: spec?.annotations,
      });
      for (const [kind, hook] of runtimeHooks) runHooks(kind, [hook], state);
      processCalls.writeAll(hooksPipe![1], new Uint8Array([1]));
    });
  } catch (err) {
    try {
      init.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    throw err;
  } finally {
    if (hooksPipe !== undefined) processCalls.close(hooksPipe[1]);
  }
  if (!outcome.created) {
    try {
      init.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    try {
      Deno.removeSync(fifo);
    } catch {
      // Not there.
    }
    const error = new TinyoError(outcome.error?.message ?? "Container init ended before it was set up", {
      exitCode: outcome.error?.exitCode ?? 125,
    });
    // conmon passes only text on to its caller: leave the exit code for `run -d`.
    Deno.writeTextFileSync(
      createErrorPath(dir),
      JSON.stringify({ message: error.message, exitCode: error.exitCode }),
    );
    throw error;
  }
  const pid = init.child.pid;
  explainSummary();
  const startTime = processStartTime(pid);
  updateRecord(layout, id, (r) => ({
    ...r,
    status: "created",
    pid,
    ...(startTime === undefined ? {} : { pidStartTime: startTime }),
  }));
  // The pid file is written atomically and without a newline, as runc does.
  if (options.pidFile !== undefined) writeAtomic(options.pidFile, String(pid));
  return { pid, child: init.child };
}

/**
 * The init's stdio with a console socket: none of the caller's. Its
 * command's stdio is the pty; and the caller (containerd's shim) may be
 * reading this process's output to the end, which a copy held by the
 * waiting init (Deno keeps duplicates of its stdio) would never give it.
 */
export const NO_STDIO = { stdin: "null", stdout: "null", stderr: "null" } as const;

/** Connects to the caller's console socket. */
export function connectConsole(path: string): number {
  try {
    return processCalls.unixConnect(path);
  } catch (err) {
    throw new TinyoError(`Cannot connect to the console socket "${path}": ${(err as Error).message}`);
  }
}

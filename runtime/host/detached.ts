/**
 * Detached containers (`run -d`) and the lifecycle verbs around them.
 *
 * The monitor is conmon, the small C program podman and CRI-O use (Debian
 * package `conmon`): it costs about 1–2 MiB per container, where a Deno
 * process per container would cost tens of MiB. The flow is podman's:
 *
 * 1. `run -d` prepares the container (image, directory, spec, cgroup, record)
 *    and starts conmon, which runs `tinyo create` as its runtime;
 * 2. `tinyo create` spawns the init in create mode: the init sets everything
 *    up, reports "created" and waits on `<bundle>/exec.fifo`; create writes
 *    the pid file and exits, and the init is reparented to conmon (a child
 *    subreaper), which reports the pid back on a sync pipe;
 * 3. `run -d` calls `start`, which opens the FIFO: the init execs the command;
 * 4. conmon keeps the container's stdout and stderr in `<bundle>/ctr.log`
 *    (k8s-file format, size-capped), waits for it, writes the exit code to
 *    `<state>/exits/<id>` and runs `tinyo cleanup <id>` (cgroup removal, the
 *    exit code into the record, `--rm`).
 *
 * Status is derived from facts, never trusted: an exit file means stopped; a
 * live init with its FIFO still there means created; a live init means
 * running; anything else (host reboot, SIGKILLed conmon) means exited.
 *
 * @module
 */

import {
  type ContainerRecord,
  type Layout,
  listRecords,
  readRecord,
  reapContainer,
  removeContainer,
  removeTree,
  updateRecord,
} from "./records.ts";
import { initCommand } from "./spawn.ts";
import { waitForInit } from "./channel.ts";
import { isAlive, processStartTime } from "./proc.ts";
import { isErrno, linuxSyscalls, O, processCalls, S_IF } from "../syscalls.ts";
import { ContainerNotFoundError, TinyoError } from "../errors.ts";
import { type Launch, launchInit, prepareContainer, requireRoot } from "./run.ts";
import { findIn } from "./lookup.ts";
import type { RunOptions } from "../model/run_spec.ts";
import type { ResolveOptions } from "../../rootfs/mod.ts";
import { removeCgroupDirs } from "./cgroups.ts";
import { killAndWait, signalProcess } from "./handle.ts";

/** Where conmon writes exit codes. */
export function exitDir(layout: Layout): string {
  return `${layout.stateDir}/exits`;
}

/** The maximum size of a container's log before conmon truncates it. */
export const LOG_SIZE_MAX = 10 * 1024 * 1024;

/** A container's status, derived from facts. */
export type Status = "creating" | "created" | "running" | "stopped";

/** The exit code conmon recorded, if any. */
export function recordedExit(layout: Layout, id: string): number | undefined {
  try {
    const n = Number(Deno.readTextFileSync(`${exitDir(layout)}/${id}`).trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Derives a container's status from its exit file, its init and its FIFO. */
export function statusOf(layout: Layout, rec: ContainerRecord): { status: Status; exitCode?: number } {
  const exit = recordedExit(layout, rec.id) ?? rec.exitCode;
  if (recordedExit(layout, rec.id) !== undefined || rec.finishedAt !== undefined) {
    return { status: "stopped", ...(exit !== undefined ? { exitCode: exit } : {}) };
  }
  if (rec.pid !== undefined && isAlive(rec.pid, rec.pidStartTime)) {
    return { status: exists(`${rec.bundle}/exec.fifo`) ? "created" : "running" };
  }
  const ownerAlive = isAlive(rec.ownerPid, rec.ownerStartTime);
  if (rec.pid === undefined && ownerAlive) return { status: "creating" };
  // The command ended but its monitor is still writing the exit code down:
  // not finished yet (conmon reaps, writes the exit file, then runs cleanup).
  if (rec.detached && ownerAlive) return { status: "running" };
  return { status: "stopped", ...(exit !== undefined ? { exitCode: exit } : {}) };
}

/** Any container (running or not) by name, id or unique id prefix. */
export function findContainer(layout: Layout, ref: string): ContainerRecord {
  return findIn(listRecords(layout), ref);
}

/** Where `create` leaves its error for `run -d` (conmon passes on only text). */
export function createErrorPath(bundle: string): string {
  return `${bundle}/create-error.json`;
}

/**
 * OCI `create`: spawns the init in create mode and returns once it is set
 * up and waiting for `start`; writes the init's host pid to `pidFile`.
 */
export function createContainer(
  layout: Layout,
  id: string,
  options: { bundle: string; pidFile?: string },
): number {
  requireRoot("create");
  const rec = readRecord(layout, id);
  if (rec === undefined) {
    throw new ContainerNotFoundError(`No such container: "${id}" (create it with 'tinyo run -d')`);
  }
  let saved: { launch: Launch };
  try {
    saved = JSON.parse(Deno.readTextFileSync(`${options.bundle}/init.json`));
  } catch (err) {
    throw new TinyoError(
      `Cannot create container "${id}": ${options.bundle}/init.json: ${(err as Error).message}`,
    );
  }
  const fifo = `${options.bundle}/exec.fifo`;
  linuxSyscalls.mknod(fifo, S_IF.FIFO | 0o622, 0, 0);
  Deno.chmodSync(fifo, 0o622);
  const init = launchInit({ ...saved.launch, boot: { ...saved.launch.boot, execFifo: fifo } });
  const outcome = waitForInit(init.syncFd, true);
  if (!outcome.created) {
    try {
      init.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    Deno.removeSync(fifo);
    const error = new TinyoError(outcome.error?.message ?? "Container init ended before it was set up", {
      exitCode: outcome.error?.exitCode ?? 125,
    });
    // The caller of conmon learns only text from it: leave the exit code too.
    Deno.writeTextFileSync(
      createErrorPath(options.bundle),
      JSON.stringify({ message: error.message, exitCode: error.exitCode }),
    );
    throw error;
  }
  const pid = init.child.pid;
  const startTime = processStartTime(pid);
  updateRecord(layout, id, (r) => ({
    ...r,
    status: "created",
    pid,
    ...(startTime === undefined ? {} : { pidStartTime: startTime }),
  }));
  // The pid file is written atomically and without a newline, as runc does.
  if (options.pidFile !== undefined) {
    const tmp = `${options.pidFile}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(tmp, String(pid));
    Deno.renameSync(tmp, options.pidFile);
  }
  // Not waited for: when this process exits, the init goes to its monitor.
  init.child.unref();
  return pid;
}

/** OCI `start`: lets a created container's init exec its command. */
export async function startContainer(layout: Layout, ref: string): Promise<void> {
  requireRoot("start");
  const rec = findContainer(layout, ref);
  const { status } = statusOf(layout, rec);
  if (status !== "created") {
    throw new TinyoError(`Cannot start container "${ref}": it is ${status}, not created`);
  }
  const fifo = `${rec.bundle}/exec.fifo`;
  // Non-blocking, so a dead init cannot hang us; then wait for its byte.
  const fd = processCalls.open(fifo, O.RDONLY | O.NONBLOCK | O.CLOEXEC);
  try {
    const buf = new Uint8Array(1);
    for (let i = 0;; i++) {
      try {
        if (processCalls.read(fd, buf) > 0) break;
      } catch (err) {
        if (!isErrno(err, "EAGAIN")) throw err;
      }
      if (i > 500 || !isAlive(rec.pid!, rec.pidStartTime)) {
        throw new TinyoError(`Cannot start container "${ref}": its init is gone`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    processCalls.close(fd);
  }
  Deno.removeSync(fifo);
  updateRecord(layout, rec.id, (r) => ({ ...r, status: "running", startedAt: new Date().toISOString() }));
}

/** A shell script that runs this tinyo (what conmon execs as its runtime). */
function runtimeExecutable(dir: string): string {
  if (Deno.build.standalone) return Deno.execPath();
  const { path, args } = initCommand();
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const cli = [path, ...args.slice(0, -1)].map(q).join(" ");
  const script = `${dir}/tinyo-runtime`;
  Deno.writeTextFileSync(script, `#!/bin/sh\nexec ${cli} "$@"\n`, { mode: 0o755 });
  return script;
}

function findConmon(): string {
  for (
    const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").concat([
      "/usr/bin",
      "/usr/libexec/podman",
    ])
  ) {
    if (exists(`${dir}/conmon`)) return `${dir}/conmon`;
  }
  throw new TinyoError("Cannot run a detached container: conmon is not installed (apt-get install conmon)");
}

/** `run -d`: starts the container under conmon and returns its id. */
export async function runDetached(
  layout: Layout,
  opts: RunOptions & { autoRemove?: boolean },
  imageOptions: ResolveOptions = {},
): Promise<string> {
  const conmon = findConmon();
  // Owned by this process until conmon has it: if we die before that, the
  // next tinyo command reaps it all (monitor, processes, cgroups, files).
  const c = await prepareContainer(layout, opts, imageOptions, opts.autoRemove ? { autoRemove: true } : {});
  try {
    Deno.writeTextFileSync(
      `${c.dir}/init.json`,
      JSON.stringify({ launch: c.launch }),
    );
    const runtime = runtimeExecutable(c.dir);
    Deno.mkdirSync(exitDir(layout), { recursive: true, mode: 0o700 });
    Deno.mkdirSync(`${layout.stateDir}/sockets`, { recursive: true, mode: 0o700 });
    const rootArgs = layout.root !== undefined ? ["--root", layout.root] : [];
    const args = [
      "--api-version",
      "1",
      "-c",
      c.id,
      "-u",
      c.id,
      "-n",
      opts.name ?? c.id.slice(0, 12),
      "-r",
      runtime,
      "-b",
      c.dir,
      "-p",
      `${c.dir}/pidfile`,
      "-P",
      `${c.dir}/conmon.pid`,
      "-l",
      `k8s-file:${c.dir}/ctr.log`,
      "--log-size-max",
      String(LOG_SIZE_MAX),
      "--exit-dir",
      exitDir(layout),
      "--socket-dir-path",
      `${layout.stateDir}/sockets`,
      ...rootArgs.flatMap((a) => ["--runtime-arg", a]),
      "--exit-command",
      runtime,
      ...[...rootArgs, "cleanup", c.id].flatMap((a) => ["--exit-command-arg", a]),
    ];
    // conmon reports the container's pid, or the runtime's error, on a sync pipe.
    const [readFd, writeFd] = processCalls.pipe2(O.CLOEXEC);
    const inherit = processCalls.dup(writeFd);
    processCalls.close(writeFd);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(conmon, {
        args,
        env: { _OCI_SYNCPIPE: String(inherit) },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } finally {
      processCalls.close(inherit);
    }
    // {"data": PID} once the container is created, or {"data": -1, "message": ...}.
    const line = readLine(readFd);
    await child.status;
    let reply: { data: number; message?: string } | undefined;
    try {
      reply = line === "" ? undefined : JSON.parse(line);
    } catch {
      throw new TinyoError(`conmon sent an unreadable reply: ${JSON.stringify(line.slice(0, 200))}`);
    }
    if (reply === undefined || reply.data <= 0) {
      // `tinyo create` left its error with the exit code (127 for a missing command).
      let saved: { message?: string; exitCode?: number } | undefined;
      try {
        saved = JSON.parse(Deno.readTextFileSync(createErrorPath(c.dir)));
      } catch {
        saved = undefined;
      }
      throw new TinyoError(
        saved?.message ??
          (reply?.message ?? "conmon did not report the container's pid").replace(/^.*?tinyo: /s, "").trim(),
        { exitCode: saved?.exitCode ?? 125 },
      );
    }
    const conmonPid = Number(Deno.readTextFileSync(`${c.dir}/conmon.pid`).trim());
    const conmonStart = processStartTime(conmonPid);
    // The hand-over: from here on conmon owns the container.
    updateRecord(layout, c.id, (rec) => ({
      ...rec,
      ...c.base,
      detached: true,
      ownerPid: conmonPid,
      ...(conmonStart === undefined ? {} : { ownerStartTime: conmonStart }),
    }));
    await startContainer(layout, c.id);
    return c.id;
  } catch (err) {
    // conmon ends by itself after a failed create, running its exit command
    // (`tinyo cleanup`) on the way out: let it, and let that finish, so that
    // nothing of the container still runs when this returns.
    await waitForMonitor(`${c.dir}/conmon.pid`, c.id);
    await waitForExitCommand(c.id, 5_000);
    const rec = readRecord(layout, c.id);
    if (rec !== undefined) reapContainer(layout, rec);
    throw err;
  }
}

/** Waits (up to `timeoutMs`) for the conmon of container `id` to exit; kills it after that. */
async function waitForMonitor(pidFile: string, id: string, timeoutMs = 5_000): Promise<void> {
  let pid: number;
  try {
    pid = Number(Deno.readTextFileSync(pidFile).trim());
  } catch {
    return;
  }
  const start = processStartTime(pid);
  const isOurs = (): boolean => {
    try {
      return processStartTime(pid) === start &&
        Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").includes(id);
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (isOurs() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (isOurs()) killAndWait(pid, start);
}

/** Reads the first line from `fd` (conmon keeps the pipe open afterwards), then closes it. */
function readLine(fd: number): string {
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  try {
    while (processCalls.read(fd, buf) === 1 && buf[0] !== 0x0a) bytes.push(buf[0]!);
  } finally {
    processCalls.close(fd);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The exit command conmon runs: record the end, remove the cgroup, `--rm`. */
export function cleanupContainer(layout: Layout, id: string): void {
  const rec = readRecord(layout, id);
  if (rec === undefined) return;
  const exitCode = recordedExit(layout, id);
  // A cgroup that will not go keeps the record (the garbage collector and
  // `rm` try again): nothing may be left that no record names.
  const busy = removeCgroupDirs(rec.cgroups ?? []).length > 0;
  if (rec.autoRemove && !busy) {
    removeTree(`${exitDir(layout)}/${id}`);
    removeContainer(layout, id);
    return;
  }
  updateRecord(layout, id, (r) => ({
    ...r,
    status: "stopped",
    finishedAt: new Date().toISOString(),
    ...(exitCode !== undefined ? { exitCode } : {}),
  }));
}

/**
 * Waits (up to `timeoutMs`) until no `tinyo cleanup ID` that conmon started
 * for this container runs any more, so that `rm` returns with nothing of the
 * container left, not even its exit command finishing in the background.
 */
export async function waitForExitCommand(id: string, timeoutMs = 10_000): Promise<void> {
  const running = (): boolean => {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const args = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
        const at = args.indexOf("cleanup");
        if (at >= 0 && args[at + 1] === id) return true;
      } catch {
        // Gone meanwhile.
      }
    }
    return false;
  };
  const deadline = Date.now() + timeoutMs;
  while (running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Kills what is left of a container (its monitor and processes, through
 * pidfds checked against their start times, and whatever is in its cgroups)
 * and removes all of it.
 */
export function killAndRemove(layout: Layout, rec: ContainerRecord | undefined): void {
  if (rec === undefined) return;
  if (rec.detached && rec.ownerPid !== Deno.pid) signalProcess(rec.ownerPid, rec.ownerStartTime, "SIGKILL");
  if (!reapContainer(layout, rec)) {
    throw new TinyoError(
      `Cannot remove container "${rec.name ?? rec.id.slice(0, 12)}": its cgroup is still busy (try again)`,
    );
  }
}

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
  readRecord,
  reapContainer,
  releaseNetworkOf,
  removeContainer,
  removeTree,
  updateRecord,
} from "./records.ts";
import { initCommand } from "./spawn.ts";
import { exitDir, recordedExit } from "./status.ts";
import { startContainer } from "./start.ts";
import { createErrorPath } from "./create.ts";
import { processStartTime } from "./proc.ts";
import { O, processCalls } from "../syscalls.ts";
import { TinyoError } from "../errors.ts";
import { prepareContainer } from "./run.ts";
import type { RunOptions } from "../model/run_spec.ts";
import type { ResolveOptions } from "../../rootfs/mod.ts";
import { removeCgroupDirs } from "./cgroups.ts";
import { killAndWait, signalProcess } from "./handle.ts";

/** The maximum size of a container's log before conmon truncates it. */
export const LOG_SIZE_MAX = 10 * 1024 * 1024;

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
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
      // -dit: conmon keeps the pty master (it passes --console-socket to
      // create) and stdin, for `tinyo attach`; stdin stays open between
      // attachments, as docker's does.
      ...(opts.tty ? ["-t"] : []),
      ...(opts.interactive ? ["-i", "--leave-stdin-open"] : []),
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
    // Started while still ours: if this process dies before the hand-over,
    // the next tinyo command reaps the whole container (monitor included)
    // rather than finding it created and never started.
    await startContainer(layout, c.id);
    // The hand-over: from here on conmon owns the container.
    updateRecord(layout, c.id, (rec) => ({
      ...rec,
      ...c.base,
      detached: true,
      ownerPid: conmonPid,
      ...(conmonStart === undefined ? {} : { ownerStartTime: conmonStart }),
    }));
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
  // Its network goes now (ports, address, veth), as docker's does on stop;
  // marked released only once it is (its ports stay taken until then).
  const netBusy = rec.network !== undefined && rec.network.released !== true &&
    !releaseNetworkOf(layout, rec);
  const busy = removeCgroupDirs(rec.cgroups ?? [], false, rec.cgroupPath).length > 0 || netBusy;
  if (rec.autoRemove && !busy) {
    removeTree(`${exitDir(layout)}/${id}`);
    removeContainer(layout, id);
    return;
  }
  updateRecord(layout, id, (r) => ({
    ...r,
    ...(r.network !== undefined && !netBusy ? { network: { ...r.network, released: true } } : {}),
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

/**
 * Starting the container's init: tinyo re-executed in init mode, as PID 1 of
 * a new PID namespace.
 *
 * Deno cannot fork into JavaScript, and it is multi-threaded, so this is
 * runc's re-exec model with Deno's constraints (shared/docs/PLATFORM.md):
 *
 * - The runtime touches only the PID namespace. On its main thread it calls
 *   unshare(CLONE_NEWPID), which affects only children created afterwards,
 *   spawns the init with `Deno.Command().spawn()` from that same thread, and
 *   at once calls setns() back into its original PID namespace, so its later
 *   children land in the host namespace again.
 * - Between the unshare and the setns the thread must not create threads (the
 *   kernel refuses CLONE_THREAD there and Deno would panic): only the async
 *   spawn runs in that window.
 * - The init gets the write end of the sync pipe (runtime/channel.ts) as an
 *   inherited file descriptor; the runtime keeps the read end.
 *
 * @module
 */

import { CLONE, O, processCalls } from "./syscalls.ts";

/** How to spawn the init. */
export interface SpawnInitOptions {
  /** JSON for TINYO_INIT (the `InitBootstrap`). */
  bootstrap: string;
  /** Create a new PID namespace (true), join one at this path, or stay in the runtime's (false). */
  pidNamespace: boolean | string;
  /** cgroup.procs files to move the init into as soon as it exists. */
  cgroupProcs?: string[];
  /** stdio of the init, and so of the container's command. */
  stdio?: { stdin: "inherit" | "null"; stdout: "inherit" | "null"; stderr: "inherit" | "null" };
}

/** A spawned init. */
export interface SpawnedInit {
  /** The Deno handle (host pid, status, kill). */
  child: Deno.ChildProcess;
  /** Read end of the sync pipe (close it through `waitForInit`). */
  syncFd: number;
}

/** The command line that re-executes tinyo in init mode. */
export function initCommand(): { path: string; args: string[] } {
  const path = Deno.execPath();
  if (Deno.build.standalone) return { path, args: ["init"] };
  const main = decodeURIComponent(new URL("../main.ts", import.meta.url).pathname);
  return { path, args: ["run", "--allow-all", "--no-config", "--quiet", main, "init"] };
}

/** Environment of the init: what Deno itself needs, nothing of the user's. */
function initEnv(bootstrap: string, syncFd: number): Record<string, string> {
  const env: Record<string, string> = { TINYO_INIT: bootstrap, TINYO_SYNC_FD: String(syncFd) };
  for (const key of ["DENO_DIR", "HOME", "XDG_CACHE_HOME", "PATH", "NO_COLOR"]) {
    const v = Deno.env.get(key);
    if (v !== undefined) env[key] = v;
  }
  return env;
}

/**
 * Spawns the init. On return the runtime is back in its own PID namespace.
 */
export function spawnInit(options: SpawnInitOptions): SpawnedInit {
  const [readFd, writeFd] = processCalls.pipe2(O.CLOEXEC);
  // dup() clears close-on-exec on the copy: the only fd the init inherits.
  const inheritFd = processCalls.dup(writeFd);
  processCalls.close(writeFd);
  const { path, args } = initCommand();
  const stdio = options.stdio ?? { stdin: "inherit", stdout: "inherit", stderr: "inherit" };
  const command = new Deno.Command(path, {
    args,
    env: initEnv(options.bootstrap, inheritFd),
    clearEnv: true,
    ...stdio,
  });
  let hostPidNs = -1;
  let child: Deno.ChildProcess;
  try {
    if (options.pidNamespace !== false) {
      hostPidNs = processCalls.open("/proc/self/ns/pid", O.RDONLY | O.CLOEXEC);
      if (options.pidNamespace === true) processCalls.unshare(CLONE.NEWPID);
      else {
        const target = processCalls.open(options.pidNamespace, O.RDONLY | O.CLOEXEC);
        try {
          processCalls.setns(target, CLONE.NEWPID, options.pidNamespace);
        } finally {
          processCalls.close(target);
        }
      }
    }
    // Nothing but the spawn between the unshare and the setns below.
    child = command.spawn();
  } catch (err) {
    processCalls.close(readFd);
    throw err;
  } finally {
    if (hostPidNs >= 0) {
      processCalls.setns(hostPidNs, CLONE.NEWPID, "/proc/self/ns/pid");
      processCalls.close(hostPidNs);
    }
    processCalls.close(inheritFd);
  }
  // Move the init into its cgroup now, in the background, while it starts
  // (see joinCgroup in init.ts, which checks and finishes the job).
  for (const procs of options.cgroupProcs ?? []) {
    Deno.writeTextFile(procs, String(child.pid)).catch(() => {});
  }
  return { child, syncFd: readFd };
}

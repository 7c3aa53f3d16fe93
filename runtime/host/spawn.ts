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
 * - A new container's mount namespace is made here too, in the same window:
 *   unshare(CLONE_NEWNS) next to CLONE_NEWPID, spawn, setns back (and back
 *   into the saved working directory). The init then starts with all of its
 *   threads in the new mount namespace and sharing one root and working
 *   directory, so pivot_root moves every one of them: no Deno thread keeps
 *   the host's root for a container process to reach through
 *   /proc/PID/task/TID/root. (An unshare on the init's main thread would move
 *   that thread alone.)
 * - The binary the init runs (Deno, or the compiled tinyo) is bound
 *   read-only onto itself in that mount namespace before the spawn, so the
 *   init's /proc/PID/exe is on a read-only mount: a container that gets a
 *   descriptor of it (a `#!/proc/self/exe` script as its command, or racing
 *   an exec's start) cannot rewrite the host's binary (CVE-2019-5736). Every
 *   spawn gets such a namespace, exec too; `newMountNamespace` only says
 *   whether the init keeps it as the container's.
 * - The init gets the write end of the sync pipe (runtime/channel.ts) as an
 *   inherited file descriptor; the runtime keeps the read end. Descriptors
 *   listed in `inherit` are passed on too (pidfds of containers to join).
 *
 * @module
 */

import { CLONE, fsCalls, MS, O, processCalls } from "../syscalls.ts";
import { explainLine, explainState } from "../explain.ts";
import { mark, timelineState } from "../timeline.ts";

/** How to spawn the init. */
export interface SpawnInitOptions {
  /** JSON for TINYO_INIT (the `InitBootstrap`). */
  bootstrap: string;
  /**
   * Create a new PID namespace (true), join the one of a process (a pidfd the
   * caller checked), or stay in the runtime's (false).
   */
  pidNamespace: boolean | { pidfd: number };
  /** The mount namespace made around the spawn becomes the container's (see above). */
  newMountNamespace?: boolean;
  /** Descriptors (close-on-exec, owned by the caller) to pass to the init; their copies' numbers are returned. */
  inherit?: number[];
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
  /** With `bootstrap: { later: true }`: the runtime's end of the bootstrap socket. */
  bootstrapFd?: number;
}

/** The numbers the init will see for descriptors passed with `inherit`, in order. */
export type InheritedFds = number[];

/** The command line that re-executes tinyo in init mode. */
export function initCommand(): { path: string; args: string[] } {
  const path = Deno.execPath();
  if (Deno.build.standalone) return { path, args: ["init"] };
  // main.ts records its URL (the bundle's main.js, when it runs from one);
  // tests that spawn an init from their own process have no entry of their own.
  const entry = (globalThis as { tinyoEntry?: string }).tinyoEntry ??
    new URL("../../main.ts", import.meta.url).href;
  const main = decodeURIComponent(new URL(entry).pathname);
  return { path, args: ["run", "--allow-all", "--no-config", "--quiet", main, "init"] };
}

/** Environment of the init: what Deno itself needs, nothing of the user's. */
function initEnv(bootstrap: string | { fd: number }, syncFd: number): Record<string, string> {
  // DENO_DISABLE_NODE_SHIM: without a PATH (conmon's minimal environment)
  // Deno would otherwise invent one and write a `node` shim into its cache.
  const env: Record<string, string> = {
    ...(typeof bootstrap === "string" ? { TINYO_INIT: bootstrap } : { TINYO_INIT_FD: String(bootstrap.fd) }),
    TINYO_SYNC_FD: String(syncFd),
    DENO_DISABLE_NODE_SHIM: "1",
  };
  for (const key of ["DENO_DIR", "HOME", "XDG_CACHE_HOME", "PATH", "NO_COLOR"]) {
    const v = Deno.env.get(key);
    if (v !== undefined) env[key] = v;
  }
  return env;
}

/**
 * In the mount namespace just made for a spawn (this thread's only): nothing
 * propagates back to the host, and the init's binary is a read-only bind
 * mount of itself, which the init's execve then resolves.
 */
function protectBinary(path: string): void {
  processCalls.mount("", "/", { flags: MS.REC | MS.PRIVATE });
  processCalls.mount(path, path, { flags: MS.BIND });
  processCalls.mount("", path, { flags: MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV });
}

/**
 * Spawns the init. On return the runtime is back in its own PID and mount
 * namespaces and working directory.
 *
 * @param bootstrap Builds TINYO_INIT once the numbers of the inherited
 *   descriptors are known.
 */
export function spawnInit(
  options: Omit<SpawnInitOptions, "bootstrap"> & {
    /**
     * Or `{ later: true }`: the init starts before its container is prepared
     * and receives the bootstrap, and the descriptors it names, on a socket
     * (TINYO_INIT_FD) whose other end is returned (runtime/host/early.ts).
     */
    bootstrap: string | ((fds: InheritedFds) => string) | { later: true };
  },
): SpawnedInit {
  let readFd = -1;
  let inheritFd = -1;
  const passed: number[] = [];
  let bootstrapFd: number | undefined;
  let hostPidNs = -1;
  let hostMntNs = -1;
  let cwdFd = -1;
  let unshared = false;
  let child: Deno.ChildProcess;
  const { path, args } = initCommand();
  try {
    const [r, writeFd] = processCalls.pipe2(O.CLOEXEC);
    readFd = r;
    // dup() clears close-on-exec on the copy: the init inherits exactly these.
    inheritFd = processCalls.dup(writeFd);
    processCalls.close(writeFd);
    for (const fd of options.inherit ?? []) passed.push(processCalls.dup(fd));
    let bootstrap: string | { fd: number };
    if (typeof options.bootstrap === "object") {
      // A socket, not a pipe: descriptors made later travel with the bootstrap.
      const [theirs, ours] = processCalls.socketPair(true);
      bootstrapFd = ours;
      passed.push(processCalls.dup(theirs));
      processCalls.close(theirs);
      bootstrap = { fd: passed.at(-1)! };
    } else {
      bootstrap = typeof options.bootstrap === "string" ? options.bootstrap : options.bootstrap(passed);
    }
    const stdio = options.stdio ?? { stdin: "inherit", stdout: "inherit", stderr: "inherit" };
    const command = new Deno.Command(path, {
      args,
      env: initEnv(bootstrap, inheritFd),
      clearEnv: true,
      ...stdio,
    });
    if (options.pidNamespace !== false) {
      hostPidNs = processCalls.open("/proc/self/ns/pid", O.RDONLY | O.CLOEXEC);
    }
    hostMntNs = processCalls.open("/proc/self/ns/mnt", O.RDONLY | O.CLOEXEC);
    cwdFd = processCalls.open(".", O.PATH | O.DIRECTORY | O.CLOEXEC);
    // libc functions are bound on first use (a dlopen, code generation): not
    // in the window below, where this thread must not make threads.
    processCalls.bindSpawnWindowCalls();
    processCalls.unshare((options.pidNamespace === true ? CLONE.NEWPID : 0) | CLONE.NEWNS);
    unshared = true;
    protectBinary(path);
    if (typeof options.pidNamespace === "object") {
      processCalls.setns(options.pidNamespace.pidfd, CLONE.NEWPID, "the container's PID namespace");
    }
    // Nothing but the spawn between the unshare and the setns below.
    if (timelineState.on) mark("spawn");
    child = command.spawn();
    if (explainState.on) {
      explainLine(
        "process control",
        `spawn(${JSON.stringify(path)}, [${args.map((a) => JSON.stringify(a)).join(", ")}])`,
        `pid ${child.pid}`,
        undefined,
        "the container's first process: tinyo itself again, born in the new PID (and mount) namespace",
      );
    }
  } catch (err) {
    if (readFd >= 0) processCalls.close(readFd);
    if (bootstrapFd !== undefined) processCalls.close(bootstrapFd);
    throw err;
  } finally {
    goHome(hostPidNs, unshared ? hostMntNs : -1, cwdFd);
    if (!unshared && hostMntNs >= 0) processCalls.close(hostMntNs);
    if (cwdFd >= 0) processCalls.close(cwdFd);
    if (inheritFd >= 0) processCalls.close(inheritFd);
    for (const fd of passed) processCalls.close(fd);
  }
  // Move the init into its cgroup now, in the background, while it starts
  // (see joinCgroup in init.ts, which checks and finishes the job).
  for (const procs of options.cgroupProcs ?? []) {
    Deno.writeTextFile(procs, String(child.pid)).catch(() => {});
  }
  return { child, syncFd: readFd, ...(bootstrapFd === undefined ? {} : { bootstrapFd }) };
}

/**
 * Back into the runtime's own PID namespace (for children) and mount
 * namespace and working directory, after a spawn. If that fails, nothing
 * tinyo does next may run (its children would be born in the container's
 * namespaces, its mounts made in the copy): the process ends at once, as the
 * network code's goHome does; the record names what was made, for the next
 * tinyo command to remove.
 */
function goHome(pidNs: number, mntNs: number, cwdFd: number): void {
  try {
    if (pidNs >= 0) {
      processCalls.setns(pidNs, CLONE.NEWPID, "/proc/self/ns/pid");
      processCalls.close(pidNs);
    }
    if (mntNs >= 0) {
      // The unshare gave this thread its own root and working directory;
      // joining our mount namespace again resets both to its root: restore
      // the working directory.
      processCalls.setns(mntNs, CLONE.NEWNS, "/proc/self/ns/mnt");
      processCalls.close(mntNs);
      fsCalls.fchdir(cwdFd);
    }
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(`tinyo: ${(err as Error).message}`);
    Deno.exit(125);
  }
}

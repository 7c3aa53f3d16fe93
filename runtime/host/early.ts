/**
 * The early init: `tinyo run` spawns its container's init first thing, so
 * that the init's own Deno start-up (about 50 ms here, plus its code) runs
 * while the runtime loads its modules, resolves the image and writes the
 * record, instead of after them (the performance issue's "overlap").
 *
 * The init is spawned exactly as later (spawnInit: a new PID and mount
 * namespace, the binary read-only, stdio inherited) but without its
 * bootstrap: it waits for it on a socket (TINYO_INIT_FD). `launchInit` takes
 * the early init when the container needs a new PID namespace and inherited
 * stdio (main.ts asks `earlyInitWanted` before spawning it), and sends the
 * bootstrap with the descriptors it names in one message: whatever the
 * runtime made after the spawn is invisible to the init's mount namespace,
 * a copy taken at the spawn (the bridge network's namespace pin is passed as
 * a descriptor). Otherwise, and whenever the runtime fails before, the early
 * init is killed and reaped (`discardEarlyInit`). If the runtime dies, the
 * socket's end of file tells the init to exit.
 *
 * @module
 */

import { pidCalls, POLL, processCalls } from "../syscalls.ts";
import { type SpawnedInit, spawnInit } from "./spawn.ts";
import { mark, timelineState } from "../timeline.ts";

/** The early init: its handle, sync pipe, bootstrap socket, and a pidfd to tell whether it still lives. */
let early: (SpawnedInit & { bootstrapFd: number; pidfd: number }) | undefined;

/** Spawns the early init (root only; main.ts decides when). */
export function startEarlyInit(): void {
  if (early !== undefined) return;
  const init = spawnInit({ bootstrap: { later: true }, pidNamespace: true, newMountNamespace: true });
  // In the same turn as the spawn: Deno reaps a child only when the event
  // loop polls its status, so the pid is still this child's.
  let pidfd: number;
  try {
    pidfd = pidCalls.pidfdOpen(init.child.pid);
  } catch (err) {
    for (const fd of [init.bootstrapFd!, init.syncFd]) processCalls.close(fd);
    init.child.kill("SIGKILL");
    throw err;
  }
  early = { ...init, bootstrapFd: init.bootstrapFd!, pidfd };
  if (timelineState.on) mark("early init spawned");
}

/** Whether an early init is waiting for its bootstrap. */
export function hasEarlyInit(): boolean {
  return early !== undefined;
}

/**
 * Hands the early init its bootstrap and the descriptors `fds`, and returns
 * it, as `spawnInit` would have returned a freshly spawned one; undefined
 * when there is none. `bootstrap` gets each descriptor's index in `fds`
 * where spawnInit's gets the number the init sees (the init maps them:
 * mapBootstrapFds).
 */
export function takeEarlyInit(
  bootstrap: (fds: number[]) => string,
  fds: readonly number[],
  cgroupProcs: readonly string[],
): SpawnedInit | undefined {
  const init = early;
  if (init === undefined) return undefined;
  // It may have died while the runtime prepared (a signal, the OOM killer):
  // then its pid may be someone else's soon, and the caller spawns anew.
  // Readable pidfd: it has exited.
  if ((pidCalls.pollOne(init.pidfd, POLL.IN) & POLL.IN) !== 0) {
    void discardEarlyInit();
    return undefined;
  }
  try {
    // One message (a bootstrap is a few KiB; the socket takes about 200).
    processCalls.sendFds(init.bootstrapFd, fds, bootstrap(fds.map((_, i) => i)));
  } catch {
    // Too many descriptors, too large, or it died just now: spawn anew.
    void discardEarlyInit();
    return undefined;
  }
  early = undefined;
  processCalls.close(init.bootstrapFd);
  processCalls.close(init.pidfd);
  // Into its cgroup, synchronously, still in this turn: it has not been
  // reaped, so the pid is still the init's even if it died since the check
  // (a zombie keeps it). The init checks and joins by itself if this has
  // not happened yet (joinCgroup in init.ts); a cgroup v1 move waits for an
  // RCU grace period here, while the init starts its set-up.
  for (const procs of cgroupProcs) {
    try {
      Deno.writeTextFileSync(procs, String(init.child.pid));
    } catch {
      // Gone (ESRCH): its end of the sync pipe tells.
    }
  }
  return { child: init.child, syncFd: init.syncFd };
}

/** Kills and reaps an early init nobody took (an error, or a container it does not fit). */
export async function discardEarlyInit(): Promise<void> {
  const init = early;
  if (init === undefined) return;
  early = undefined;
  for (const fd of [init.bootstrapFd, init.syncFd, init.pidfd]) processCalls.close(fd);
  try {
    init.child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await init.child.status;
}

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

import { processCalls } from "../syscalls.ts";
import { moveToCgroup, type SpawnedInit, spawnInit } from "./spawn.ts";
import { mark, timelineState } from "../timeline.ts";

let early: (SpawnedInit & { bootstrapFd: number }) | undefined;

/** Spawns the early init (root only; main.ts decides when). */
export function startEarlyInit(): void {
  if (early !== undefined) return;
  const init = spawnInit({ bootstrap: { later: true }, pidNamespace: true, newMountNamespace: true });
  early = { ...init, bootstrapFd: init.bootstrapFd! };
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
  early = undefined;
  moveToCgroup(init.child.pid, cgroupProcs);
  try {
    // One message; a dead init: EPIPE, and its status tells the caller
    // (waitForInit sees no message).
    processCalls.sendFds(init.bootstrapFd, fds, bootstrap(fds.map((_, i) => i)));
  } catch {
    // Reported through the sync pipe's end of file.
  } finally {
    processCalls.close(init.bootstrapFd);
  }
  return { child: init.child, syncFd: init.syncFd };
}

/** Kills and reaps an early init nobody took (an error, or a container it does not fit). */
export async function discardEarlyInit(): Promise<void> {
  const init = early;
  if (init === undefined) return;
  early = undefined;
  processCalls.close(init.bootstrapFd);
  processCalls.close(init.syncFd);
  try {
    init.child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await init.child.status;
}

/**
 * `start`: lets a created container's init exec its command, by opening its
 * exec FIFO (the init blocks writing to it until then).
 *
 * @module
 */

import { containerDir, type Layout, updateRecord } from "./records.ts";
import { isAlive } from "./proc.ts";
import { isErrno, O, processCalls } from "../syscalls.ts";
import { TinyoError } from "../errors.ts";
import { requireRoot } from "./run.ts";
import { findContainer, statusOf } from "./status.ts";
import { runHooksWarn } from "../hooks.ts";
import { hooksOf, hookState } from "../model/hooks.ts";
import { loadSpec, type Spec } from "../model/spec.ts";

/**
 * OCI `start`: lets a created container's init exec its command, then runs
 * the poststart hooks (a failing one only warns, through `warn`).
 */
export async function startContainer(
  layout: Layout,
  ref: string,
  warn: (message: string) => void = () => {},
): Promise<void> {
  requireRoot("start");
  const rec = findContainer(layout, ref);
  const { status } = statusOf(layout, rec);
  if (status !== "created") {
    throw new TinyoError(`Cannot start container "${ref}": it is ${status}, not created`);
  }
  const fifo = `${containerDir(layout, rec.id)}/exec.fifo`;
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
  const spec = configOf(layout, rec.id);
  const hooks = spec === undefined ? [] : hooksOf(spec, "poststart");
  if (hooks.length > 0) {
    const state = hookState({
      id: rec.id,
      bundle: rec.bundle,
      status: "running",
      pid: rec.pid,
      annotations: spec!.annotations,
    });
    for (const failure of runHooksWarn("poststart", hooks, state)) warn(failure.message);
  }
}

/** tinyo's copy of a container's config.json, if it has one. */
export function configOf(layout: Layout, id: string): Spec | undefined {
  try {
    return loadSpec(`${containerDir(layout, id)}/config.json`);
  } catch {
    return undefined;
  }
}

/**
 * Where a container's start-up time goes: with `TINYO_TIMELINE=FILE` in the
 * runtime's environment, the runtime and the init each append one JSON line
 * per step to FILE, `{"t": <ms>, "side": "runtime"|"init", "step": ...}`,
 * `t` on one clock for both processes (`performance.timeOrigin` plus
 * `performance.now()`: wall-clock origin, monotonic offset, microseconds).
 * Every process's first line is its own start (`timeOrigin`, about when
 * execve(2) ran). `deno task bench` reads these (tasks/bench.ts) and prints
 * the median of each step.
 *
 * Off (no TINYO_TIMELINE) it costs one environment lookup in main.ts and a
 * property read per step.
 *
 * @module
 */

import { O, processCalls } from "./syscalls.ts";

/** Whether this process records its steps (a property read, not a call). */
export const timelineState = { on: false };

const encoder = new TextEncoder();
let fd = -1;
let path = "";
let side: "runtime" | "init" = "runtime";

/** Starts recording into `file` (appended), as `who`; its first step is the process's start. */
export function startTimeline(file: string, who: "runtime" | "init"): void {
  fd = processCalls.open(file, O.WRONLY | O.APPEND | O.CREAT | O.NOFOLLOW | O.CLOEXEC, 0o600);
  path = file.startsWith("/") ? file : `${Deno.cwd()}/${file}`;
  side = who;
  timelineState.on = true;
  mark("start", 0);
}

/** The file this process records into (passed on to the init). */
export function timelineFile(): string | undefined {
  return timelineState.on ? path : undefined;
}

/** Records `step` at `sinceOrigin` ms after this process's start (default: now). */
export function mark(step: string, sinceOrigin = performance.now()): void {
  if (fd < 0) return;
  const line = JSON.stringify({ t: performance.timeOrigin + sinceOrigin, side, step }) + "\n";
  try {
    processCalls.writeAll(fd, encoder.encode(line));
  } catch {
    // Measuring never breaks the container.
  }
}

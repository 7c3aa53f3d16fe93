/**
 * Facts about host processes from /proc: liveness with PID-reuse safety
 * (the start time in /proc/PID/stat, as crun's status.c and runc do).
 *
 * @module
 */

/**
 * The start time of `pid` (field 22 of /proc/PID/stat, clock ticks since
 * boot), or undefined when no such process exists (or it is a zombie).
 */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (rest[0] === "Z" || rest[0] === "X") return undefined;
  const start = Number(rest[19]);
  return Number.isFinite(start) ? start : undefined;
}

/**
 * True when `pid` runs and is the same process that started at `startTime`.
 * Without a start time nothing is proven: false (a reused pid would match).
 */
export function isAlive(pid: number, startTime: number | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || startTime === undefined) return false;
  return processStartTime(pid) === startTime;
}

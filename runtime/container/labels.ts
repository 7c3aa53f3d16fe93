/**
 * The Linux security module labels of config.json, applied as runc applies
 * them: written to the calling thread's `attr/exec` in /proc right before
 * execve, so the command starts confined (AppArmor: `exec PROFILE` to
 * attr/apparmor/exec, or attr/exec on kernels without the per-module
 * directory; SELinux: the label to attr/exec). The main thread execs, and
 * Deno's synchronous file calls run on it, so /proc/thread-self is right.
 *
 * The runtime refuses a label whose module the host does not have
 * (runtime/model/spec.ts `unsupportedFeatures`), before anything is made.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** The labels to apply. */
export interface SecurityLabels {
  apparmorProfile?: string;
  selinuxLabel?: string;
}

function write(paths: readonly string[], value: string, field: string): void {
  let last: unknown;
  for (const path of paths) {
    try {
      Deno.writeTextFileSync(path, value);
      return;
    } catch (err) {
      last = err;
      if (!(err instanceof Deno.errors.NotFound)) break;
    }
  }
  throw new ConfigError(`Cannot apply ${field} ${JSON.stringify(value)}: ${(last as Error).message}`);
}

/** Applies the labels (none: nothing to do). */
export function applySecurityLabels(labels: SecurityLabels | undefined): void {
  if (labels?.apparmorProfile) {
    write(
      ["/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"],
      `exec ${labels.apparmorProfile}`,
      "process.apparmorProfile",
    );
  }
  if (labels?.selinuxLabel) {
    write(["/proc/thread-self/attr/exec"], labels.selinuxLabel, "process.selinuxLabel");
  }
}

/**
 * `tinyo cp SRC DST`: docker's cp between the host and a running container,
 * one side written `CONTAINER:PATH` (runtime/host/copy.ts does the copying,
 * every container path resolved inside its root).
 *
 * @module
 */

import { parseArgs } from "./args.ts";
import { UsageError } from "../errors.ts";
import type { Layout } from "../host/records.ts";
import { findContainer, statusOf } from "../host/status.ts";
import { copyIn, copyOut, withContainerRoot } from "../host/copy.ts";
import { requireRoot } from "../host/run.ts";
import { TinyoError } from "../errors.ts";

const HELP = `Usage: tinyo cp [OPTIONS] CONTAINER:PATH HOSTPATH
       tinyo cp [OPTIONS] HOSTPATH CONTAINER:PATH

Copy files or directories between a running container and the host. Paths in
the container are resolved inside its root: its symlinks never lead to the
host's files. Symlinks are copied as symlinks; devices and FIFOs are skipped;
setuid and setgid bits are dropped on the way out. Into an existing
directory, the source keeps its name.`;

/** Splits `CONTAINER:PATH` (a host path may hold ':' only after a '/'). */
export function splitContainerPath(arg: string): { container: string; path: string } | undefined {
  const colon = arg.indexOf(":");
  if (colon <= 0 || arg.slice(0, colon).includes("/")) return undefined;
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) || "/" };
}

/** `tinyo cp`. */
export function cpCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, [{ long: "help", help: "Show this help" }], "cp");
  if (p.flags.has("help")) {
    // deno-lint-ignore no-console
    console.log(HELP);
    return 0;
  }
  if (p.rest.length !== 2) throw new UsageError("tinyo cp: expected SRC and DST (see 'tinyo cp --help')");
  const [src, dst] = p.rest as [string, string];
  const from = splitContainerPath(src);
  const to = splitContainerPath(dst);
  if ((from === undefined) === (to === undefined)) {
    throw new UsageError("tinyo cp: exactly one of SRC and DST must be CONTAINER:PATH");
  }
  requireRoot("cp");
  const side = (from ?? to)!;
  const rec = findContainer(layout, side.container);
  const what = `"${side.container}"`;
  if (statusOf(layout, rec).status !== "running" || rec.pid === undefined || rec.pidStartTime === undefined) {
    throw new TinyoError(
      `Cannot copy: container ${what} is not running (tinyo cp needs a running container)`,
    );
  }
  withContainerRoot(
    rec.pid,
    rec.pidStartTime,
    what,
    (root) => from !== undefined ? copyOut(root, from.path, dst) : copyIn(root, src, to!.path),
  );
  return 0;
}

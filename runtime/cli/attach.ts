/**
 * `tinyo attach [--detach-keys KEYS] [--no-stdin] CONTAINER`: the terminal
 * back on a container started with `run -dit` (runtime/host/attach.ts).
 *
 * @module
 */

import { parseArgs } from "./args.ts";
import { TinyoError, UsageError } from "../errors.ts";
import { containerDir, type Layout, readRecord } from "../host/records.ts";
import { findContainer, statusOf } from "../host/status.ts";
import { attach, parseDetachKeys } from "../host/attach.ts";
import { requireRoot } from "../host/run.ts";

const HELP = `Usage: tinyo attach [OPTIONS] CONTAINER

Connect this terminal to a detached container's (run -dit): its output here,
what you type to it. Detach with Ctrl-P Ctrl-Q (the container keeps running);
when the container ends, attach ends with its exit status.

Options:
  --detach-keys KEYS   The detach sequence (default ctrl-p,ctrl-q)
  --no-stdin           Only watch: do not send what you type`;

/** `tinyo attach`: the container's exit status when it ended, 0 when detached. */
export async function attachCommand(layout: Layout, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, [
    { long: "detach-keys", value: true, arg: "KEYS", help: "" },
    { long: "no-stdin", help: "" },
    { long: "sig-proxy", value: true, arg: "BOOL", help: "" },
    { long: "help", help: "" },
  ], "attach");
  if (p.flags.has("help")) {
    // deno-lint-ignore no-console
    console.log(HELP);
    return 0;
  }
  if (p.rest.length !== 1) {
    throw new UsageError("tinyo attach: expected one container (see 'tinyo attach --help')");
  }
  requireRoot("attach");
  const keys = parseDetachKeys(p.values.get("detach-keys")?.at(-1) ?? "ctrl-p,ctrl-q");
  const rec = findContainer(layout, p.rest[0]!);
  const name = rec.name ?? rec.id.slice(0, 12);
  if (!rec.detached) {
    throw new TinyoError(`Cannot attach to container "${name}": it was not started with run -d`);
  }
  if (statusOf(layout, rec).status !== "running") {
    throw new TinyoError(`Cannot attach to container "${name}": it is not running`);
  }
  const end = await attach(containerDir(layout, rec.id), keys, !p.flags.has("no-stdin"));
  if (end === "detached") return 0;
  // It ended: its exit status, once its monitor has written it.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const now = readRecord(layout, rec.id) ?? rec;
    const { status, exitCode } = statusOf(layout, now);
    if (status === "stopped" && exitCode !== undefined) return exitCode;
    if (readRecord(layout, rec.id) === undefined || Date.now() > deadline) return 0;
    await new Promise((r) => setTimeout(r, 50));
  }
}

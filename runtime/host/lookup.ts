/**
 * Finding a container by name, id or unique id prefix, among the containers
 * that are running (their owning tinyo is alive), and keeping names unique.
 *
 * @module
 */

import { type ContainerRecord, type Layout, listRecords } from "./records.ts";
import { isAlive } from "./proc.ts";
import { ConfigError, ContainerNotFoundError } from "../errors.ts";

/** Valid container names: docker's rule. */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Checks a `--name`. */
export function checkName(name: string): void {
  if (!NAME_PATTERN.test(name) || name.length > 128) {
    throw new ConfigError(
      `Invalid container name "${name}": use letters, digits, '_', '.', '-' (starting with a letter or digit)`,
    );
  }
}

/** True when the container's owner and init are both alive. */
export function isRunning(rec: ContainerRecord): boolean {
  // A foreground run's container lives only as long as its tinyo; a
  // detached or OCI one is its monitor's, and lives on its own.
  const owned = rec.detached || rec.oci || isAlive(rec.ownerPid, rec.ownerStartTime);
  return owned && rec.pid !== undefined && isAlive(rec.pid, rec.pidStartTime);
}

/**
 * The container among `records` that `ref` names: an exact name, an exact
 * id, or a unique prefix of an id.
 *
 * @param what How to describe the set in the error, e.g. "running container".
 * @throws {ContainerNotFoundError} when none (or more than one) matches.
 */
export function findIn(
  records: readonly ContainerRecord[],
  ref: string,
  what = "container",
): ContainerRecord {
  const exact = records.find((r) => r.name === ref || r.id === ref);
  if (exact !== undefined) return exact;
  const byPrefix = /^[0-9a-f]+$/.test(ref) ? records.filter((r) => r.id.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) {
    throw new ContainerNotFoundError(
      `Container id prefix "${ref}" is ambiguous: it matches ${byPrefix.length} containers`,
    );
  }
  throw new ContainerNotFoundError(`No such ${what}: "${ref}"`);
}

/** The running container that `ref` names (name, id or unique id prefix). */
export function findRunning(layout: Layout, ref: string): ContainerRecord {
  return findIn(listRecords(layout).filter(isRunning), ref, "running container");
}

/**
 * Runs `fn` holding the names lock, so that checking a name is free and
 * recording it cannot race with another tinyo doing the same.
 */
export async function withNamesLock<T>(layout: Layout, fn: () => T | Promise<T>): Promise<T> {
  Deno.mkdirSync(layout.stateDir, { recursive: true, mode: 0o700 });
  using file = Deno.openSync(`${layout.stateDir}/.names.lock`, { write: true, create: true, mode: 0o600 });
  await file.lock(true);
  try {
    return await fn();
  } finally {
    await file.unlock();
  }
}

/** Refuses a name that a live container already has. */
export function checkNameFree(layout: Layout, name: string): void {
  // A detached container keeps its name until `tinyo rm`, as with docker.
  const taken = listRecords(layout).find((r) =>
    r.name === name && (r.detached || isAlive(r.ownerPid, r.ownerStartTime))
  );
  if (taken !== undefined) {
    throw new ConfigError(
      `The container name "${name}" is already in use by container ${taken.id.slice(0, 12)}`,
    );
  }
}

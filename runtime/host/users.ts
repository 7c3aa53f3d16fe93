/**
 * `-u USER[:GROUP]` by name or number, resolved in the container's own
 * /etc/passwd and /etc/group (as docker does), with supplementary groups.
 * The files are read inside the root by the kernel (runtime/inroot.ts): a
 * symlink cannot point at the host's files, a FIFO cannot hang tinyo, and
 * /dev/zero cannot exhaust its memory.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { ResolvedUser } from "../model/run_spec.ts";
export type { ResolvedUser } from "../model/run_spec.ts";
import { ContainerFileError, readFileInRoot } from "../inroot.ts";

/** The lines of a small file inside the root; none when it is missing. */
function readLines(rootFd: number, path: string): string[][] {
  let text: string | undefined;
  try {
    text = readFileInRoot(rootFd, path, 4 * 1024 * 1024);
  } catch (err) {
    throw new ContainerFileError(
      `Cannot resolve the user: the container's ${path}: ${
        (err as Error).message.replace(/^Cannot read "[^"]*": /, "")
      }`,
    );
  }
  return (text ?? "").split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => l.split(":"));
}

const NUMBER = /^\d+$/;

/**
 * Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`, ...) against the
 * root behind `rootFd`. A numeric user that /etc/passwd does not list is allowed (gid
 * defaults to the uid's passwd entry, else 0); a name that it does not list
 * is an error, as in docker.
 */
export function resolveUser(rootFd: number, spec: string): ResolvedUser {
  const [userPart, groupPart, ...rest] = spec.split(":");
  if (userPart === undefined || userPart === "" || rest.length > 0 || groupPart === "") {
    throw new ConfigError(`Invalid user "${spec}": expected USER[:GROUP] (names or numbers)`);
  }
  const passwd = readLines(rootFd, "/etc/passwd");
  const groups = readLines(rootFd, "/etc/group");
  const entry = NUMBER.test(userPart)
    ? passwd.find((p) => p[2] === userPart)
    : passwd.find((p) => p[0] === userPart);
  if (entry === undefined && !NUMBER.test(userPart)) {
    throw new ConfigError(`Cannot find user "${userPart}" in the container's /etc/passwd`);
  }
  const uid = Number(entry?.[2] ?? userPart);
  let gid = Number(entry?.[3] ?? 0);
  if (groupPart !== undefined) {
    if (NUMBER.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((g) => g[0] === groupPart);
      if (g === undefined) {
        throw new ConfigError(`Cannot find group "${groupPart}" in the container's /etc/group`);
      }
      gid = Number(g[2]);
    }
  }
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw new ConfigError(`Invalid user "${spec}": id out of range`);
  // As initgroups(3): the primary group, then every group listing the user
  // by name (none when a group is given explicitly).
  const name = entry?.[0];
  const additionalGids = groupPart !== undefined || name === undefined ? [] : [
    ...new Set([
      gid,
      ...groups.filter((g) => (g[3] ?? "").split(",").includes(name)).map((g) => Number(g[2])),
    ]),
  ];

  return { uid, gid, additionalGids, home: entry?.[5] || "/" };
}

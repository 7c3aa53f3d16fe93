/**
 * tinyo's libc bindings: typed wrappers, constants and the `SyscallError`
 * they throw. The symbol table itself (`_libc.ts`) is not exported.
 *
 * @module
 */

export * from "./constants.ts";
export { cString, CStringArray } from "./cstring.ts";
export { errnoName, errnoNumber, errnoText, isErrno, SyscallError } from "./errno.ts";
export type { SyscallErrorInit } from "./errno.ts";
export * from "./syscalls.ts";
export * from "./at.ts";
export * from "./pidfd.ts";
export * from "./spawn.ts";
export * from "./bpf.ts";
export * from "./unix.ts";
export * from "./netlink.ts";

/**
 * The file calls the tar extractor needs, all relative to directory
 * descriptors (openat2 and the *at family), so that `rootfs/` depends on a
 * narrow surface and never resolves a path inside an archive's tree twice.
 *
 * @module
 */

export {
  fchmod,
  fchmodPath,
  fchown,
  fstat,
  lchownat,
  linkat,
  lstatat,
  mkdirat,
  mknodat,
  openat,
  openat2,
  symlinkat,
  unlinkat,
  utimesat,
} from "./at.ts";
export { close, open, read, writeAll } from "./syscalls.ts";
export { isErrno, SyscallError } from "./errno.ts";
export { O, RESOLVE, S_IF } from "./constants.ts";

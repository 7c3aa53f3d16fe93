/**
 * File-system calls Deno has no API for (device nodes and FIFOs, ownership
 * and times of symlinks), for the tar extractor. Thin re-exports so that
 * `rootfs/` depends on a narrow surface.
 *
 * @module
 */

export { lchown, lutimes, mknod } from "./syscalls.ts";
export { S_IF } from "./constants.ts";

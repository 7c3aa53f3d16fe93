/**
 * pivot_root into the container's rootfs, the way runc and crun do it.
 *
 * pivot_root(".", ".") stacks the old root on top of the new one at "/", so
 * no put_old directory is needed inside the rootfs (nothing to create, nothing
 * left behind). The old root is then made private, so that detaching it
 * cannot propagate to the host, and lazily unmounted (MNT_DETACH); after that
 * no path in the container reaches a host file. Never chroot alone: a chroot
 * can be escaped, a pivoted and detached root cannot.
 *
 * @see pivot_root(2), "pivot_root(".", ".")"; crun src/libcrun/linux.c do_pivot;
 *      runc libcontainer/rootfs_linux.go pivotRoot
 * @module
 */

import { MNT, MS, type Syscalls } from "../syscalls.ts";

/** Makes `rootfs` the root of the calling thread's mount namespace. */
export function pivotInto(sys: Syscalls, rootfs: string): void {
  sys.chdir(rootfs);
  sys.pivotRoot(".", ".");
  // "." is now the old root, mounted over the new one.
  sys.mount("", ".", { flags: MS.SLAVE | MS.REC });
  sys.umount2(".", MNT.DETACH);
  sys.chdir("/");
}

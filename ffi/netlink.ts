/**
 * Netlink sockets (netlink(7), rtnetlink(7)): how tinyo makes bridges, veth
 * pairs, addresses and routes, as iproute2 does. Only the socket is made
 * here; messages are plain bytes (runtime/model/netlink.ts encodes them) and
 * travel with write(2) and read(2), one datagram each.
 *
 * A netlink socket belongs to the network namespace of the thread that
 * created it, for its whole life: a socket made inside a container's new
 * namespace keeps acting on it after the thread has gone back home.
 *
 * @module
 */

import { libc } from "./_libc.ts";
import { lastErrno, SyscallError } from "./errno.ts";

/** From linux/socket.h and linux/netlink.h. */
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;

/** socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) in the calling thread's network namespace. */
export function netlinkSocket(): number {
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    throw new SyscallError({ syscall: "socket", errno: lastErrno(), path: "AF_NETLINK/NETLINK_ROUTE" });
  }
  return fd;
}

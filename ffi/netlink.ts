/**
 * Netlink sockets (netlink(7), rtnetlink(7)): how tinyo makes bridges, veth
 * pairs, addresses and routes, as iproute2 does. Only the socket is made
 * here; messages are plain bytes (runtime/model/netlink.ts encodes them) and
 * travel with write(2) and read(2), one datagram each. Also: whether a UDP
 * port is free on the host (a bind(2) that is undone at once).
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

const AF_INET = 2;
const SOCK_DGRAM = 2;

/**
 * Whether a UDP socket could bind `port` on IPv4 address `address` (host
 * order; 0 for all): true, or false when something holds it (EADDRINUSE).
 * No SO_REUSEADDR, so any holder of the port counts.
 */
export function udpPortFree(address: number, port: number): boolean {
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError({ syscall: "socket", errno: lastErrno(), path: "AF_INET/SOCK_DGRAM" });
  try {
    // struct sockaddr_in: family (host order), port and address (network order), 8 zero bytes.
    const addr = new Uint8Array(16);
    const view = new DataView(addr.buffer);
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port, false);
    view.setUint32(4, address >>> 0, false);
    if (libc.bind(fd, addr, 16) === 0) return true;
    const errno = lastErrno();
    if (errno === 98 /* EADDRINUSE */) return false;
    // errno is read after the call: the runtime may have failed a call of its
    // own in between (757e512); one unexpected answer is asked again.
    if (libc.bind(fd, addr, 16) === 0) return true;
    const again = lastErrno();
    if (again === 98) return false;
    throw new SyscallError({ syscall: "bind", errno: again, path: `udp port ${port}` });
  } finally {
    libc.close(fd);
  }
}

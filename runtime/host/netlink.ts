/**
 * A route netlink connection: one request at a time, each acknowledged
 * (NLM_F_ACK), its replies collected until the acknowledgement, and a
 * failure turned into a `SyscallError` named after the request, e.g.
 * `RTM_NEWLINK(veth tv0123456789a): EEXIST (File exists)`.
 *
 * The messages themselves are built and parsed in runtime/model/netlink.ts.
 *
 * @module
 */

import { ackErrno, decodeMessages, type NetlinkMessage, NLMSG, RTM } from "../model/netlink.ts";
import { netCalls, SyscallError } from "../syscalls.ts";
import { explainState, explainStep } from "../explain.ts";

const RTM_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(RTM).map(([name, n]) => [n, `RTM_${name}`]),
);

/** A netlink socket of one network namespace (the one it was made in). */
export class Netlink {
  #fd: number;
  #seq = 1;
  #buf = new Uint8Array(65536);

  /** Takes ownership of the socket `fd` (netCalls.netlinkSocket). */
  constructor(fd: number) {
    this.#fd = fd;
  }

  /** A socket in the calling thread's current network namespace. */
  static open(): Netlink {
    return new Netlink(netCalls.netlinkSocket());
  }

  /** The next sequence number, for a request builder. */
  next(): number {
    return this.#seq++;
  }

  /**
   * Sends `message` (built with the sequence number from `next()`) and
   * returns the replies that came before its acknowledgement. A negative
   * acknowledgement throws, naming `what`.
   */
  request(message: Uint8Array, what: string): NetlinkMessage[] {
    if (!explainState.on) return this.#request(message, what);
    const type = new DataView(new Uint8Array(message).buffer).getUint16(4, true);
    return explainStep(
      "namespaces",
      `sendmsg(NETLINK_ROUTE, ${RTM_NAMES[type] ?? type} ${what})`,
      "network plumbing over rtnetlink: the bridge, the veth pair into the container's namespace, addresses, routes",
      () => this.#request(message, what),
      () => "0",
    );
  }

  #request(message: Uint8Array, what: string): NetlinkMessage[] {
    const bytes = new Uint8Array(message);
    const view = new DataView(bytes.buffer);
    const type = view.getUint16(4, true);
    const seq = view.getUint32(8, true);
    netCalls.writeAll(this.#fd, bytes);
    const replies: NetlinkMessage[] = [];
    for (;;) {
      const n = netCalls.read(this.#fd, this.#buf);
      for (const msg of decodeMessages(this.#buf.subarray(0, n))) {
        if (msg.seq !== seq) continue;
        const errno = ackErrno(msg);
        if (errno !== undefined) {
          if (errno === 0) return replies;
          throw new SyscallError({ syscall: RTM_NAMES[type] ?? `netlink ${type}`, errno, path: what });
        }
        if (msg.type === NLMSG.DONE) return replies;
        replies.push(msg);
      }
    }
  }

  /** Closes the socket. */
  close(): void {
    if (this.#fd >= 0) netCalls.close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

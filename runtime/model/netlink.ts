/**
 * rtnetlink (NETLINK_ROUTE) messages as bytes: the requests tinyo sends to
 * set up container networking (a bridge, a veth pair with one end moved into
 * the container's network namespace, addresses, routes, link state) and the
 * parsers for the kernel's replies. Pure: no socket, no system call; the
 * caller sends what the builders return and hands what it receives to
 * `decodeMessages`.
 *
 * Layout (x86_64): header fields are in host byte order, little-endian;
 * IPv4 addresses are taken as unsigned 32-bit numbers in host order
 * (10.0.0.1 is 0x0a000001) and written in network byte order, as the kernel
 * expects them in IFA_* and RTA_* attributes. Every message and attribute is
 * padded to a multiple of 4 bytes (NLMSG_ALIGN, RTA_ALIGN).
 *
 * Each builder asks for an acknowledgement (NLM_F_REQUEST | NLM_F_ACK), so
 * every request gets an NLMSG_ERROR reply whose `ackErrno` is 0 on success
 * or the errno of the failure. Nested attributes are written without
 * NLA_F_NESTED, as iproute2's `addattr_nest` does; the parsers accept both.
 *
 * @see https://man7.org/linux/man-pages/man7/netlink.7.html
 * @see https://man7.org/linux/man-pages/man7/rtnetlink.7.html
 * @module
 */

// --- constants ----------------------------------------------------------------

/** Message types for NETLINK_ROUTE (linux/rtnetlink.h, `RTM_*`). */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;

/**
 * Flags of `struct nlmsghdr` (linux/netlink.h, `NLM_F_*`). ROOT, MATCH and
 * DUMP apply to GET requests; REPLACE, EXCL and CREATE to NEW requests, and
 * share their bits.
 */
export const NLM_F = {
  /** It is a request message. */
  REQUEST: 0x1,
  /** Part of a multipart reply, terminated by NLMSG_DONE. */
  MULTI: 0x2,
  /** Reply with an NLMSG_ERROR message, error 0 on success. */
  ACK: 0x4,
  /** GET: return the complete table. */
  ROOT: 0x100,
  /** GET: return all matching entries. */
  MATCH: 0x200,
  /** GET: ROOT | MATCH. */
  DUMP: 0x300,
  /** NEW: replace an existing object. */
  REPLACE: 0x100,
  /** NEW: fail with EEXIST if the object exists. */
  EXCL: 0x200,
  /** NEW: create the object if it does not exist. */
  CREATE: 0x400,
} as const;

/** Control message types (linux/netlink.h, `NLMSG_*`). */
export const NLMSG = {
  /** Nothing; to be ignored. */
  NOOP: 0x1,
  /** `struct nlmsgerr`: an error, or an acknowledgement when the error is 0. */
  ERROR: 0x2,
  /** End of a multipart reply. */
  DONE: 0x3,
} as const;

/** Link attributes (linux/if_link.h, `IFLA_*`). */
export const IFLA = {
  /** Hardware (MAC) address, 6 bytes for Ethernet. */
  ADDRESS: 1,
  /** Interface name, NUL-terminated. */
  IFNAME: 3,
  /** MTU, u32. */
  MTU: 4,
  /** Index of the master device (a bridge), u32; 0 detaches. */
  MASTER: 10,
  /** Nested: IFLA_INFO_* (the link kind and its data). */
  LINKINFO: 18,
  /** Move the link into the network namespace of this pid, u32. */
  NET_NS_PID: 19,
  /** Move the link into the network namespace open on this fd, u32. */
  NET_NS_FD: 28,
  /** The link's alias (`ip link set NAME alias TEXT`), NUL-terminated, at most 255 bytes. */
  IFALIAS: 20,
} as const;

/** Attributes nested in IFLA_LINKINFO (linux/if_link.h, `IFLA_INFO_*`). */
export const IFLA_INFO = {
  /** The link kind: "bridge", "veth", ... NUL-terminated. */
  KIND: 1,
  /** Nested: kind-specific data. */
  DATA: 2,
} as const;

/**
 * The peer of a veth pair, nested in IFLA_INFO_DATA (linux/veth.h): a
 * `struct ifinfomsg` followed by IFLA_* attributes for the peer.
 */
export const VETH_INFO_PEER = 1;

/** Address attributes (linux/if_addr.h, `IFA_*`). */
export const IFA = {
  /** The peer address on point-to-point links, else the same as LOCAL. */
  ADDRESS: 1,
  /** The local address. */
  LOCAL: 2,
  /** Label, NUL-terminated. */
  LABEL: 3,
  /** Broadcast address. */
  BROADCAST: 4,
} as const;

/** Route attributes (linux/rtnetlink.h, `RTA_*`). */
export const RTA = {
  /** Destination network. */
  DST: 1,
  /** Output interface index, u32. */
  OIF: 4,
  /** Gateway address. */
  GATEWAY: 5,
} as const;

/** The interface is administratively up (linux/if.h, `IFF_UP`). */
export const IFF_UP = 0x1;

/** Size of an interface name buffer, NUL included (linux/if.h, `IFNAMSIZ`). */
export const IFNAMSIZ = 16;

/** Address family IPv4 (linux/socket.h, `AF_INET`). */
export const AF_INET = 2;

/** Unspecified address family (linux/socket.h, `AF_UNSPEC`). */
export const AF_UNSPEC = 0;

/** The main routing table (linux/rtnetlink.h, `RT_TABLE_MAIN`). */
export const RT_TABLE_MAIN = 254;

/** Route installed at boot, i.e. by an administrator (linux/rtnetlink.h, `RTPROT_BOOT`). */
export const RTPROT_BOOT = 3;

/** Route scope: global (linux/rtnetlink.h, `RT_SCOPE_UNIVERSE`). */
export const RT_SCOPE_UNIVERSE = 0;

/** Route scope: destination directly on the link (linux/rtnetlink.h, `RT_SCOPE_LINK`). */
export const RT_SCOPE_LINK = 253;

/** Route type: a gateway or direct route (linux/rtnetlink.h, `RTN_UNICAST`). */
export const RTN_UNICAST = 1;

/** `sizeof(struct nlmsghdr)` (linux/netlink.h, `NLMSG_HDRLEN`). */
const NLMSG_HDRLEN = 16;
/** `sizeof(struct rtattr)` (linux/rtnetlink.h, `RTA_LENGTH(0)`). */
const RTA_HDRLEN = 4;
/** `sizeof(struct ifinfomsg)` (linux/rtnetlink.h). */
const IFINFOMSG_LEN = 16;
/** `sizeof(struct ifaddrmsg)` (linux/if_addr.h). */
const IFADDRMSG_LEN = 8;
/** `sizeof(struct rtmsg)` (linux/rtnetlink.h). */
const RTMSG_LEN = 12;
/** Clears NLA_F_NESTED and NLA_F_NET_BYTEORDER (linux/netlink.h, `NLA_TYPE_MASK`). */
const NLA_TYPE_MASK = 0x3fff;

// --- messages -----------------------------------------------------------------

/** One netlink message: the fields of `struct nlmsghdr` and what follows it. */
export interface NetlinkMessage {
  /** `nlmsg_type`: an RTM_* or NLMSG_* value. */
  type: number;
  /** `nlmsg_flags`: NLM_F_* bits. */
  flags: number;
  /** `nlmsg_seq`: the sequence number of the request this answers. */
  seq: number;
  /** `nlmsg_pid`: the sender's port id (0 for the kernel). */
  pid: number;
  /** The bytes after the header, `nlmsg_len - 16` of them (no trailing padding). */
  payload: Uint8Array;
}

/** Rounds up to a multiple of 4 (NLMSG_ALIGN, RTA_ALIGN). */
function align4(n: number): number {
  return (n + 3) & ~3;
}

function checkUint(what: string, n: number, max: number): void {
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new RangeError(`Cannot encode ${what}: ${n} is not an integer in 0..${max}`);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * A complete message: `struct nlmsghdr` (u32 len, u16 type, u16 flags, u32
 * seq, u32 pid = 0, little-endian) followed by the payload, padded to a
 * multiple of 4. `nlmsg_len` is 16 plus the unpadded payload length.
 *
 * @throws {RangeError} when a field does not fit its width
 */
export function encodeMessage(type: number, flags: number, seq: number, payload: Uint8Array): Uint8Array {
  checkUint("nlmsg_type", type, 0xffff);
  checkUint("nlmsg_flags", flags, 0xffff);
  checkUint("nlmsg_seq", seq, 0xffffffff);
  const len = NLMSG_HDRLEN + payload.length;
  checkUint("nlmsg_len", len, 0xffffffff);
  const out = new Uint8Array(align4(len));
  const dv = view(out);
  dv.setUint32(0, len, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, 0, true);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

/**
 * Splits a receive buffer into its messages (each starts at a multiple of 4).
 * The payloads are copies, so the buffer may be reused for the next receive.
 *
 * @throws {TypeError} when a header is truncated, or its `nlmsg_len` is below
 *   16 or runs past the end of the buffer
 */
export function decodeMessages(buf: Uint8Array): NetlinkMessage[] {
  const dv = view(buf);
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const left = buf.length - offset;
    if (left < NLMSG_HDRLEN) {
      throw new TypeError(
        `Cannot decode netlink message at offset ${offset}: ${left} bytes left, a header needs 16`,
      );
    }
    const len = dv.getUint32(offset, true);
    if (len < NLMSG_HDRLEN || len > left) {
      throw new TypeError(
        `Cannot decode netlink message at offset ${offset}: nlmsg_len ${len} is outside 16..${left}`,
      );
    }
    messages.push({
      type: dv.getUint16(offset + 4, true),
      flags: dv.getUint16(offset + 6, true),
      seq: dv.getUint32(offset + 8, true),
      pid: dv.getUint32(offset + 12, true),
      payload: buf.slice(offset + NLMSG_HDRLEN, offset + len),
    });
    offset += align4(len);
  }
  return messages;
}

// --- attributes ---------------------------------------------------------------

/**
 * A `struct rtattr` (u16 rta_len = 4 + value length, u16 rta_type) followed
 * by the value, padded to a multiple of 4.
 *
 * @throws {RangeError} when the type or length does not fit 16 bits
 */
export function attr(type: number, value: Uint8Array): Uint8Array {
  checkUint("rta_type", type, 0xffff);
  const len = RTA_HDRLEN + value.length;
  checkUint("rta_len", len, 0xffff);
  const out = new Uint8Array(align4(len));
  const dv = view(out);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(value, RTA_HDRLEN);
  return out;
}

/** An attribute holding `s` as UTF-8 with a terminating NUL. */
export function strAttr(type: number, s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const value = new Uint8Array(bytes.length + 1);
  value.set(bytes);
  return attr(type, value);
}

/**
 * An attribute holding a u32 in host byte order.
 *
 * @throws {RangeError} when `n` is not an integer in 0..2^32-1
 */
export function u32Attr(type: number, n: number): Uint8Array {
  checkUint("u32 attribute", n, 0xffffffff);
  const value = new Uint8Array(4);
  view(value).setUint32(0, n, true);
  return attr(type, value);
}

/**
 * An attribute holding an IPv4 address (a host-order number such as
 * 0x0a000001 for 10.0.0.1) in network byte order.
 *
 * @throws {RangeError} when `address` is not an integer in 0..2^32-1
 */
export function ipv4Attr(type: number, address: number): Uint8Array {
  checkUint("IPv4 address", address, 0xffffffff);
  const value = new Uint8Array(4);
  view(value).setUint32(0, address, false);
  return attr(type, value);
}

/**
 * An attribute whose value is the given attributes, concatenated. The type
 * carries no NLA_F_NESTED, like iproute2's `addattr_nest`.
 */
export function nestedAttr(type: number, ...children: Uint8Array[]): Uint8Array {
  return attr(type, concat(children));
}

/**
 * The attributes in `buf` by type (NLA_F_NESTED and NLA_F_NET_BYTEORDER
 * masked off); when a type repeats, the last one wins. The values are views
 * into `buf`, without padding.
 *
 * @throws {TypeError} when an attribute is truncated, or its `rta_len` is
 *   below 4 or runs past the end of the buffer
 */
export function parseAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const dv = view(buf);
  const attrs = new Map<number, Uint8Array>();
  let offset = 0;
  while (offset < buf.length) {
    const left = buf.length - offset;
    if (left < RTA_HDRLEN) {
      throw new TypeError(
        `Cannot parse netlink attribute at offset ${offset}: ${left} bytes left, a header needs 4`,
      );
    }
    const len = dv.getUint16(offset, true);
    if (len < RTA_HDRLEN || len > left) {
      throw new TypeError(
        `Cannot parse netlink attribute at offset ${offset}: rta_len ${len} is outside 4..${left}`,
      );
    }
    const type = dv.getUint16(offset + 2, true) & NLA_TYPE_MASK;
    attrs.set(type, buf.subarray(offset + RTA_HDRLEN, offset + len));
    offset += align4(len);
  }
  return attrs;
}

// --- fixed headers ------------------------------------------------------------

/** `struct ifinfomsg` (linux/rtnetlink.h): u8 family, u8 pad, u16 type, i32 index, u32 flags, u32 change. */
function ifinfomsg(index: number, flags: number, change: number): Uint8Array {
  const out = new Uint8Array(IFINFOMSG_LEN);
  const dv = view(out);
  dv.setUint8(0, AF_UNSPEC);
  dv.setInt32(4, index, true);
  dv.setUint32(8, flags, true);
  dv.setUint32(12, change, true);
  return out;
}

/** `struct ifaddrmsg` (linux/if_addr.h): u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index. */
function ifaddrmsg(family: number, prefixLen: number, scope: number, index: number): Uint8Array {
  const out = new Uint8Array(IFADDRMSG_LEN);
  const dv = view(out);
  dv.setUint8(0, family);
  dv.setUint8(1, prefixLen);
  dv.setUint8(2, 0);
  dv.setUint8(3, scope);
  dv.setUint32(4, index, true);
  return out;
}

/**
 * `struct rtmsg` (linux/rtnetlink.h): u8 family, dst_len, src_len, tos,
 * table, protocol, scope, type, then u32 flags.
 */
function rtmsg(dstLen: number, scope: number): Uint8Array {
  const out = new Uint8Array(RTMSG_LEN);
  const dv = view(out);
  dv.setUint8(0, AF_INET);
  dv.setUint8(1, dstLen);
  dv.setUint8(2, 0);
  dv.setUint8(3, 0);
  dv.setUint8(4, RT_TABLE_MAIN);
  dv.setUint8(5, RTPROT_BOOT);
  dv.setUint8(6, scope);
  dv.setUint8(7, RTN_UNICAST);
  dv.setUint32(8, 0, true);
  return out;
}

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 1 || index > 0x7fffffff) {
    throw new RangeError(`Cannot use interface index ${index}: must be an integer in 1..2147483647`);
  }
}

function checkPrefixLen(prefixLen: number): void {
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) {
    throw new RangeError(`Cannot use IPv4 prefix length ${prefixLen}: must be an integer in 0..32`);
  }
}

/** The netmask of an IPv4 prefix length, as a host-order number. */
function netmask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

// --- names --------------------------------------------------------------------

/**
 * Checks an interface name the way the kernel's `dev_valid_name` does: not
 * empty, at most 15 bytes (IFNAMSIZ, NUL included), not "." or "..", and no
 * '/', ':', whitespace or NUL.
 *
 * @throws {TypeError} naming the rule the name breaks
 */
export function checkIfName(name: string): void {
  const quoted = JSON.stringify(name);
  if (name === "") throw new TypeError("Cannot use an empty interface name");
  const bytes = new TextEncoder().encode(name).length;
  if (bytes >= IFNAMSIZ) {
    throw new TypeError(`Cannot use interface name ${quoted}: ${bytes} bytes, at most ${IFNAMSIZ - 1}`);
  }
  if (name === "." || name === "..") throw new TypeError(`Cannot use interface name ${quoted}`);
  if (/[/:\s\0]/.test(name)) {
    throw new TypeError(`Cannot use interface name ${quoted}: it contains '/', ':', whitespace or NUL`);
  }
}

// --- requests -----------------------------------------------------------------

const REQ_ACK = NLM_F.REQUEST | NLM_F.ACK;
const NEW_EXCL = REQ_ACK | NLM_F.CREATE | NLM_F.EXCL;

/**
 * RTM_NEWLINK creating a bridge `name` (`ip link add name type bridge`).
 *
 * @throws {TypeError} when the name is invalid (`checkIfName`)
 */
export function newBridge(name: string, seq: number): Uint8Array {
  checkIfName(name);
  return encodeMessage(
    RTM.NEWLINK,
    NEW_EXCL,
    seq,
    concat([
      ifinfomsg(0, 0, 0),
      strAttr(IFLA.IFNAME, name),
      nestedAttr(IFLA.LINKINFO, strAttr(IFLA_INFO.KIND, "bridge")),
    ]),
  );
}

/**
 * RTM_NEWLINK creating a veth pair: `name` stays in the caller's network
 * namespace, `peerName` is created in the namespace open on `peerNetnsFd`
 * (`ip link add name type veth peer name peerName netns ...`).
 *
 * @throws {TypeError} when a name is invalid (`checkIfName`)
 */
export function newVeth(name: string, peerName: string, peerNetnsFd: number, seq: number): Uint8Array {
  checkIfName(name);
  checkIfName(peerName);
  const peer = attr(
    VETH_INFO_PEER,
    concat([ifinfomsg(0, 0, 0), strAttr(IFLA.IFNAME, peerName), u32Attr(IFLA.NET_NS_FD, peerNetnsFd)]),
  );
  return encodeMessage(
    RTM.NEWLINK,
    NEW_EXCL,
    seq,
    concat([
      ifinfomsg(0, 0, 0),
      strAttr(IFLA.IFNAME, name),
      nestedAttr(IFLA.LINKINFO, strAttr(IFLA_INFO.KIND, "veth"), nestedAttr(IFLA_INFO.DATA, peer)),
    ]),
  );
}

/** What `setLink` changes; a field left out is left as it is. */
export interface LinkChange {
  /** Bring the link up or down (IFF_UP). */
  up?: boolean;
  /** Index of the bridge to attach to; 0 detaches. */
  master?: number;
  /** The MTU. */
  mtu?: number;
  /** The MAC address, 6 bytes. */
  address?: Uint8Array;
  /** The alias, a free text (IFLA_IFALIAS; at most 254 bytes, the kernel's IFALIASZ with its NUL). */
  alias?: string;
}

/**
 * RTM_NEWLINK without NLM_F_CREATE changing the link `index`, as iproute2's
 * `ip link set` does.
 *
 * @throws {RangeError} when the index, master or MTU is out of range
 * @throws {TypeError} when the address is not 6 bytes
 */
export function setLink(index: number, change: LinkChange, seq: number): Uint8Array {
  checkIndex(index);
  const parts = [
    change.up === undefined ? ifinfomsg(index, 0, 0) : ifinfomsg(index, change.up ? IFF_UP : 0, IFF_UP),
  ];
  if (change.master !== undefined) parts.push(u32Attr(IFLA.MASTER, change.master));
  if (change.mtu !== undefined) parts.push(u32Attr(IFLA.MTU, change.mtu));
  if (change.address !== undefined) {
    if (change.address.length !== 6) {
      throw new TypeError(`Cannot set link address: ${change.address.length} bytes, expected 6`);
    }
    parts.push(attr(IFLA.ADDRESS, change.address));
  }
  if (change.alias !== undefined) {
    // IFALIASZ is 256 with the terminating NUL.
    if (new TextEncoder().encode(change.alias).length > 255 - 1 || change.alias.includes("\0")) {
      throw new TypeError("Cannot set link alias: at most 254 bytes, without NUL");
    }
    parts.push(strAttr(IFLA.IFALIAS, change.alias));
  }
  return encodeMessage(RTM.NEWLINK, REQ_ACK, seq, concat(parts));
}

/**
 * RTM_GETLINK for the link named `name`; the reply is an RTM_NEWLINK message
 * (`parseLink`), or an NLMSG_ERROR with ENODEV when there is none.
 *
 * @throws {TypeError} when the name is invalid (`checkIfName`)
 */
export function getLink(name: string, seq: number): Uint8Array {
  checkIfName(name);
  return encodeMessage(RTM.GETLINK, REQ_ACK, seq, concat([ifinfomsg(0, 0, 0), strAttr(IFLA.IFNAME, name)]));
}

/**
 * RTM_DELLINK deleting the link named `name` (a veth takes its peer along).
 *
 * @throws {TypeError} when the name is invalid (`checkIfName`)
 */
export function delLink(name: string, seq: number): Uint8Array {
  checkIfName(name);
  return encodeMessage(RTM.DELLINK, REQ_ACK, seq, concat([ifinfomsg(0, 0, 0), strAttr(IFLA.IFNAME, name)]));
}

/**
 * RTM_NEWADDR adding the IPv4 `address`/`prefixLen` to link `index`, with
 * the subnet's broadcast address when the prefix leaves room for one (30 or
 * shorter), as `ip addr add A/N brd + dev ...` does.
 *
 * @throws {RangeError} when the index, address or prefix length is out of range
 */
export function newAddr(index: number, address: number, prefixLen: number, seq: number): Uint8Array {
  checkIndex(index);
  checkPrefixLen(prefixLen);
  const parts = [
    ifaddrmsg(AF_INET, prefixLen, RT_SCOPE_UNIVERSE, index),
    ipv4Attr(IFA.LOCAL, address),
    ipv4Attr(IFA.ADDRESS, address),
  ];
  if (prefixLen <= 30) parts.push(ipv4Attr(IFA.BROADCAST, (address | ~netmask(prefixLen)) >>> 0));
  return encodeMessage(RTM.NEWADDR, NEW_EXCL, seq, concat(parts));
}

/** An IPv4 route for `newRoute`. */
export interface RouteRequest {
  /** The next hop; without one the destination is on the link (scope link). */
  gateway?: number;
  /** Output interface index. */
  oif: number;
  /** Destination network; needed when `dstLen` is above 0. */
  dst?: number;
  /** Destination prefix length; 0 (the default) is the default route. */
  dstLen?: number;
}

/**
 * RTM_NEWROUTE adding an IPv4 route to the main table (`ip route add`).
 *
 * @throws {RangeError} when a number is out of range
 * @throws {TypeError} when `dstLen` is above 0 without a `dst`, or `dst` has
 *   bits set beyond `dstLen` (the kernel would refuse it with EINVAL)
 */
export function newRoute(route: RouteRequest, seq: number): Uint8Array {
  checkIndex(route.oif);
  const dstLen = route.dstLen ?? 0;
  checkPrefixLen(dstLen);
  const parts = [rtmsg(dstLen, route.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE)];
  if (dstLen > 0) {
    if (route.dst === undefined) throw new TypeError(`Cannot add a route with dstLen ${dstLen} and no dst`);
    checkUint("IPv4 address", route.dst, 0xffffffff);
    if (((route.dst & ~netmask(dstLen)) >>> 0) !== 0) {
      throw new TypeError(`Cannot add a route to 0x${route.dst.toString(16)}/${dstLen}: host bits are set`);
    }
    parts.push(ipv4Attr(RTA.DST, route.dst));
  }
  if (route.gateway !== undefined) parts.push(ipv4Attr(RTA.GATEWAY, route.gateway));
  parts.push(u32Attr(RTA.OIF, route.oif));
  return encodeMessage(RTM.NEWROUTE, NEW_EXCL, seq, concat(parts));
}

// --- replies ------------------------------------------------------------------

/**
 * The errno of an NLMSG_ERROR reply (`struct nlmsgerr`, linux/netlink.h,
 * starts with an i32 holding a negative errno): 0 for an acknowledgement, a
 * positive errno (17 for EEXIST) for a failure, undefined for any other
 * message type.
 *
 * @throws {TypeError} when an NLMSG_ERROR payload is shorter than 4 bytes
 */
export function ackErrno(msg: NetlinkMessage): number | undefined {
  if (msg.type !== NLMSG.ERROR) return undefined;
  if (msg.payload.length < 4) {
    throw new TypeError(
      `Cannot decode NLMSG_ERROR: payload of ${msg.payload.length} bytes, expected 4 or more`,
    );
  }
  const error = view(msg.payload).getInt32(0, true);
  return error === 0 ? 0 : -error;
}

/** A link, from the payload of an RTM_NEWLINK reply. */
export interface LinkInfo {
  /** `ifi_index`. */
  index: number;
  /** `ifi_flags` (IFF_* bits). */
  flags: number;
  /** IFLA_IFNAME. */
  name?: string;
  /** IFLA_MASTER: the bridge's index. */
  master?: number;
  /** IFLA_MTU. */
  mtu?: number;
  /** IFLA_ADDRESS as "aa:bb:cc:dd:ee:ff", lower-case. */
  address?: string;
  /** IFLA_LINKINFO → IFLA_INFO_KIND: "bridge", "veth", ... */
  kind?: string;
  /** IFLA_IFALIAS. */
  alias?: string;
}

function decodeStr(value: Uint8Array): string {
  const nul = value.indexOf(0);
  return new TextDecoder().decode(nul === -1 ? value : value.subarray(0, nul));
}

function decodeU32(what: string, value: Uint8Array): number {
  if (value.length < 4) throw new TypeError(`Cannot decode ${what}: ${value.length} bytes, expected 4`);
  return view(value).getUint32(0, true);
}

/**
 * Parses the payload of an RTM_NEWLINK message: `struct ifinfomsg` and the
 * attributes tinyo uses.
 *
 * @throws {TypeError} when the payload is truncated or malformed
 */
export function parseLink(payload: Uint8Array): LinkInfo {
  if (payload.length < IFINFOMSG_LEN) {
    throw new TypeError(
      `Cannot parse link: payload of ${payload.length} bytes, expected ${IFINFOMSG_LEN} or more`,
    );
  }
  const dv = view(payload);
  const link: LinkInfo = { index: dv.getInt32(4, true), flags: dv.getUint32(8, true) };
  const attrs = parseAttrs(payload.subarray(IFINFOMSG_LEN));
  const name = attrs.get(IFLA.IFNAME);
  if (name !== undefined) link.name = decodeStr(name);
  const master = attrs.get(IFLA.MASTER);
  if (master !== undefined) link.master = decodeU32("IFLA_MASTER", master);
  const mtu = attrs.get(IFLA.MTU);
  if (mtu !== undefined) link.mtu = decodeU32("IFLA_MTU", mtu);
  const alias = attrs.get(IFLA.IFALIAS);
  if (alias !== undefined) link.alias = decodeStr(alias);
  const address = attrs.get(IFLA.ADDRESS);
  if (address !== undefined) {
    link.address = [...address].map((b) => b.toString(16).padStart(2, "0")).join(":");
  }
  const linkinfo = attrs.get(IFLA.LINKINFO);
  if (linkinfo !== undefined) {
    const kind = parseAttrs(linkinfo).get(IFLA_INFO.KIND);
    if (kind !== undefined) link.kind = decodeStr(kind);
  }
  return link;
}

/** An address, from the payload of an RTM_NEWADDR reply. */
export interface AddrInfo {
  /** `ifa_index`: the link. */
  index: number;
  /** `ifa_family`: AF_INET, AF_INET6, ... */
  family: number;
  /** `ifa_prefixlen`. */
  prefixLen: number;
  /** IFA_LOCAL, else IFA_ADDRESS, as a host-order number; IPv4 only. */
  address?: number;
}

/**
 * Parses the payload of an RTM_NEWADDR message: `struct ifaddrmsg` and, for
 * IPv4, the address.
 *
 * @throws {TypeError} when the payload is truncated or malformed
 */
export function parseAddr(payload: Uint8Array): AddrInfo {
  if (payload.length < IFADDRMSG_LEN) {
    throw new TypeError(
      `Cannot parse address: payload of ${payload.length} bytes, expected ${IFADDRMSG_LEN} or more`,
    );
  }
  const dv = view(payload);
  const info: AddrInfo = { index: dv.getUint32(4, true), family: dv.getUint8(0), prefixLen: dv.getUint8(1) };
  if (info.family === AF_INET) {
    const attrs = parseAttrs(payload.subarray(IFADDRMSG_LEN));
    const value = attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS);
    if (value !== undefined) {
      if (value.length !== 4) {
        throw new TypeError(`Cannot decode IPv4 address: ${value.length} bytes, expected 4`);
      }
      info.address = view(value).getUint32(0, false);
    }
  }
  return info;
}

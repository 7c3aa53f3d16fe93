import assert from "node:assert/strict";
import {
  ackErrno,
  AF_INET,
  attr,
  checkIfName,
  decodeMessages,
  delLink,
  encodeMessage,
  getLink,
  IFA,
  IFF_UP,
  IFLA,
  IFLA_INFO,
  ipv4Attr,
  nestedAttr,
  newAddr,
  newBridge,
  newRoute,
  newVeth,
  NLM_F,
  NLMSG,
  parseAddr,
  parseAttrs,
  parseLink,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA,
  RTM,
  RTN_UNICAST,
  RTPROT_BOOT,
  setLink,
  strAttr,
  u32Attr,
  VETH_INFO_PEER,
} from "../../../runtime/model/netlink.ts";

/** The character codes of an ASCII string. */
function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

/** A plain array, so that assert.deepEqual prints readable diffs. */
function arr(u8: Uint8Array): number[] {
  return [...u8];
}

/** The one message in `buf`, checked to be alone. */
function only(buf: Uint8Array): ReturnType<typeof decodeMessages>[number] {
  const msgs = decodeMessages(buf);
  assert.equal(msgs.length, 1);
  return msgs[0]!;
}

function get(attrs: Map<number, Uint8Array>, type: number): Uint8Array {
  const v = attrs.get(type);
  assert.ok(v !== undefined, `attribute ${type} missing`);
  return v;
}

const REQ_ACK = 0x1 | 0x4;
const REQ_ACK_CREATE_EXCL = 0x1 | 0x4 | 0x400 | 0x200;

// --- constants ----------------------------------------------------------------

Deno.test("constants have the kernel's values", () => {
  assert.deepEqual(
    [RTM.NEWLINK, RTM.DELLINK, RTM.GETLINK, RTM.SETLINK, RTM.NEWADDR, RTM.DELADDR, RTM.GETADDR],
    [16, 17, 18, 19, 20, 21, 22],
  );
  assert.deepEqual([RTM.NEWROUTE, RTM.DELROUTE, RTM.GETROUTE], [24, 25, 26]);
  assert.deepEqual(
    [NLM_F.REQUEST, NLM_F.MULTI, NLM_F.ACK, NLM_F.ROOT, NLM_F.MATCH, NLM_F.DUMP],
    [1, 2, 4, 0x100, 0x200, 0x300],
  );
  assert.deepEqual([NLM_F.REPLACE, NLM_F.EXCL, NLM_F.CREATE], [0x100, 0x200, 0x400]);
  assert.deepEqual([NLMSG.NOOP, NLMSG.ERROR, NLMSG.DONE], [1, 2, 3]);
  assert.deepEqual(
    [IFLA.ADDRESS, IFLA.IFNAME, IFLA.MTU, IFLA.MASTER, IFLA.LINKINFO, IFLA.NET_NS_PID, IFLA.NET_NS_FD],
    [1, 3, 4, 10, 18, 19, 28],
  );
  assert.deepEqual([IFLA_INFO.KIND, IFLA_INFO.DATA, VETH_INFO_PEER], [1, 2, 1]);
  assert.deepEqual([IFA.ADDRESS, IFA.LOCAL, IFA.LABEL, IFA.BROADCAST], [1, 2, 3, 4]);
  assert.deepEqual([RTA.DST, RTA.OIF, RTA.GATEWAY], [1, 4, 5]);
  assert.deepEqual(
    [IFF_UP, AF_INET, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RTN_UNICAST],
    [1, 2, 254, 3, 0, 253, 1],
  );
});

// --- encodeMessage / decodeMessages -------------------------------------------

Deno.test("encodeMessage() writes nlmsghdr little-endian and pads the payload to 4", () => {
  const out = encodeMessage(0x0102, 0x0605, 0x0a0b0c0d, new Uint8Array([0xaa, 0xbb, 0xcc]));
  assert.deepEqual(arr(out), [
    ...[19, 0, 0, 0], // nlmsg_len = 16 + 3
    ...[0x02, 0x01], // nlmsg_type
    ...[0x05, 0x06], // nlmsg_flags
    ...[0x0d, 0x0c, 0x0b, 0x0a], // nlmsg_seq
    ...[0, 0, 0, 0], // nlmsg_pid
    ...[0xaa, 0xbb, 0xcc, 0], // payload + 1 byte of padding
  ]);
  const empty = [16, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  assert.deepEqual(arr(encodeMessage(3, 0, 0, new Uint8Array(0))), empty);
  assert.equal(encodeMessage(3, 0, 0, new Uint8Array(8)).length, 24);
});

Deno.test("encodeMessage() rejects fields that do not fit", () => {
  const empty = new Uint8Array(0);
  assert.throws(() => encodeMessage(0x10000, 0, 0, empty), RangeError);
  assert.throws(() => encodeMessage(16, -1, 0, empty), RangeError);
  assert.throws(() => encodeMessage(16, 0, 2 ** 32, empty), RangeError);
  assert.throws(() => encodeMessage(16, 0, 1.5, empty), RangeError);
});

Deno.test("decodeMessages() splits aligned messages and reads every header field", () => {
  const buf = new Uint8Array([
    ...[21, 0, 0, 0, 16, 0, 2, 0, 7, 0, 0, 0, 0x39, 0x30, 0, 0], // len 21, NEWLINK, MULTI, seq 7, pid 12345
    ...[1, 2, 3, 4, 5, 0, 0, 0], // 5 bytes of payload, 3 of padding
    ...[20, 0, 0, 0, 2, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], // len 20, ERROR, flags 0x100
    ...[0xef, 0xff, 0xff, 0xff],
  ]);
  assert.deepEqual(decodeMessages(buf), [
    { type: 16, flags: 2, seq: 7, pid: 12345, payload: new Uint8Array([1, 2, 3, 4, 5]) },
    { type: 2, flags: 0x100, seq: 0xffffffff, pid: 0, payload: new Uint8Array([0xef, 0xff, 0xff, 0xff]) },
  ]);
  assert.deepEqual(decodeMessages(new Uint8Array(0)), []);
});

Deno.test("decodeMessages() accepts a last message without its padding", () => {
  const buf = new Uint8Array([17, 0, 0, 0, 3, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]);
  assert.deepEqual(decodeMessages(buf), [{
    type: 3,
    flags: 2,
    seq: 1,
    pid: 0,
    payload: new Uint8Array([9]),
  }]);
});

Deno.test("decodeMessages() copies payloads out of the receive buffer", () => {
  const buf = encodeMessage(16, 0, 1, new Uint8Array([1, 2, 3, 4]));
  const [msg] = decodeMessages(buf);
  buf.fill(0);
  assert.deepEqual(arr(msg!.payload), [1, 2, 3, 4]);
});

Deno.test("decodeMessages() rejects truncated and malformed headers", () => {
  const good = encodeMessage(16, 0, 1, new Uint8Array([1, 2, 3, 4]));
  // A header cut short.
  assert.throws(() => decodeMessages(good.subarray(0, 15)), TypeError);
  assert.throws(() => decodeMessages(good.subarray(0, 15)), /offset 0: 15 bytes left/);
  // nlmsg_len runs past the buffer (payload cut short).
  assert.throws(() => decodeMessages(good.subarray(0, 19)), /nlmsg_len 20 is outside 16\.\.19/);
  // nlmsg_len below the header size.
  const short = good.slice();
  short[0] = 15;
  assert.throws(() => decodeMessages(short), /nlmsg_len 15/);
  // A second message whose header is incomplete.
  assert.throws(() => decodeMessages(new Uint8Array([...good, 16, 0, 0, 0])), /offset 20: 4 bytes left/);
});

// --- attributes ---------------------------------------------------------------

Deno.test("attr() writes rta_len without padding and pads the value to 4", () => {
  assert.deepEqual(arr(attr(0x0102, new Uint8Array([1, 2, 3, 4, 5]))), [
    ...[9, 0], // rta_len = 4 + 5
    ...[0x02, 0x01], // rta_type
    ...[1, 2, 3, 4, 5, 0, 0, 0], // value + 3 bytes of padding
  ]);
  assert.deepEqual(arr(attr(7, new Uint8Array(0))), [4, 0, 7, 0]);
  const four = new Uint8Array([0xff, 0xfe, 0xfd, 0xfc]);
  assert.deepEqual(arr(attr(7, four)), [8, 0, 7, 0, 0xff, 0xfe, 0xfd, 0xfc]);
  assert.throws(() => attr(0x10000, new Uint8Array(0)), RangeError);
  assert.throws(() => attr(1, new Uint8Array(0xfffc)), RangeError);
});

Deno.test("strAttr(), u32Attr(), ipv4Attr() and nestedAttr() encode their values", () => {
  assert.deepEqual(arr(strAttr(3, "veth")), [9, 0, 3, 0, ...ascii("veth"), 0, 0, 0, 0]);
  assert.deepEqual(arr(strAttr(3, "é")), [7, 0, 3, 0, 0xc3, 0xa9, 0, 0]);
  assert.deepEqual(arr(u32Attr(4, 0x01020304)), [8, 0, 4, 0, 4, 3, 2, 1]);
  assert.deepEqual(arr(ipv4Attr(2, 0x0a000001)), [8, 0, 2, 0, 10, 0, 0, 1]);
  assert.throws(() => u32Attr(4, -1), RangeError);
  assert.throws(() => ipv4Attr(2, 2 ** 32), RangeError);
  assert.deepEqual(arr(nestedAttr(18, strAttr(1, "veth"), u32Attr(2, 1))), [
    ...[24, 0, 18, 0], // no NLA_F_NESTED
    ...[9, 0, 1, 0, ...ascii("veth"), 0, 0, 0, 0],
    ...[8, 0, 2, 0, 1, 0, 0, 0],
  ]);
  assert.deepEqual(arr(nestedAttr(2)), [4, 0, 2, 0]);
});

Deno.test("parseAttrs() maps types to unpadded values, masks flags and keeps the last", () => {
  const buf = new Uint8Array([
    ...[9, 0, 3, 0, ...ascii("eth0"), 0, 0, 0, 0],
    ...[8, 0, 0x12, 0x80, 1, 2, 3, 4], // 18 | NLA_F_NESTED
    ...[5, 0, 4, 0x40, 0xaa, 0, 0, 0], // 4 | NLA_F_NET_BYTEORDER
    ...[5, 0, 3, 0, 0x62, 0, 0, 0], // IFNAME again: the last one wins
  ]);
  const attrs = parseAttrs(buf);
  assert.deepEqual([...attrs.keys()], [3, 18, 4]);
  assert.deepEqual(arr(attrs.get(3)!), [0x62]);
  assert.deepEqual(arr(attrs.get(18)!), [1, 2, 3, 4]);
  assert.deepEqual(arr(attrs.get(4)!), [0xaa]);
  assert.equal(parseAttrs(new Uint8Array(0)).size, 0);
  // The last attribute's padding may be missing.
  assert.deepEqual(arr(parseAttrs(new Uint8Array([5, 0, 1, 0, 7])).get(1)!), [7]);
});

Deno.test("parseAttrs() rejects malformed attributes", () => {
  assert.throws(() => parseAttrs(new Uint8Array([8, 0, 1, 0, 1, 2, 3, 4, 4, 0])), /offset 8: 2 bytes left/);
  assert.throws(() => parseAttrs(new Uint8Array([3, 0, 1, 0])), /rta_len 3 is outside 4\.\.4/);
  assert.throws(() => parseAttrs(new Uint8Array([9, 0, 1, 0, 1, 2, 3, 4])), /rta_len 9 is outside 4\.\.8/);
  assert.throws(() => parseAttrs(new Uint8Array([0, 0, 1, 0])), TypeError);
});

// --- request builders ---------------------------------------------------------

Deno.test("newBridge() builds RTM_NEWLINK with IFLA_IFNAME and IFLA_LINKINFO kind bridge", () => {
  assert.deepEqual(arr(newBridge("br0", 0x0102)), [
    ...[56, 0, 0, 0, 16, 0, 0x05, 0x06, 0x02, 0x01, 0, 0, 0, 0, 0, 0],
    ...Array(16).fill(0), // ifinfomsg, AF_UNSPEC
    ...[8, 0, 3, 0, ...ascii("br0"), 0],
    ...[16, 0, 18, 0, 11, 0, 1, 0, ...ascii("bridge"), 0, 0],
  ]);
});

Deno.test("newVeth() nests the peer's ifinfomsg, name and namespace fd under LINKINFO/DATA", () => {
  const out = newVeth("veth0", "eth0", 7, 42);
  assert.equal(out.length, 104);
  const msg = only(out);
  assert.equal(msg.type, RTM.NEWLINK);
  assert.equal(msg.flags, REQ_ACK_CREATE_EXCL);
  assert.equal(msg.seq, 42);
  assert.equal(msg.pid, 0);
  assert.equal(msg.payload.length, 88);
  assert.deepEqual(arr(msg.payload.subarray(0, 16)), Array(16).fill(0));

  const top = parseAttrs(msg.payload.subarray(16));
  assert.deepEqual([...top.keys()], [IFLA.IFNAME, IFLA.LINKINFO]);
  assert.deepEqual(arr(get(top, IFLA.IFNAME)), [...ascii("veth0"), 0]);
  const linkinfo = get(top, IFLA.LINKINFO);
  assert.equal(linkinfo.length, 56);
  const info = parseAttrs(linkinfo);
  assert.deepEqual([...info.keys()], [IFLA_INFO.KIND, IFLA_INFO.DATA]);
  assert.deepEqual(arr(get(info, IFLA_INFO.KIND)), [...ascii("veth"), 0]);
  const data = parseAttrs(get(info, IFLA_INFO.DATA));
  assert.deepEqual([...data.keys()], [VETH_INFO_PEER]);
  const peer = get(data, VETH_INFO_PEER);
  assert.equal(peer.length, 36);
  assert.deepEqual(arr(peer.subarray(0, 16)), Array(16).fill(0));
  const peerAttrs = parseAttrs(peer.subarray(16));
  assert.deepEqual([...peerAttrs.keys()], [IFLA.IFNAME, IFLA.NET_NS_FD]);
  assert.deepEqual(arr(get(peerAttrs, IFLA.IFNAME)), [...ascii("eth0"), 0]);
  assert.deepEqual(arr(get(peerAttrs, IFLA.NET_NS_FD)), [7, 0, 0, 0]);

  // The raw attribute headers on the way down.
  assert.deepEqual(arr(out.subarray(44, 48)), [60, 0, 18, 0]); // IFLA_LINKINFO
  assert.deepEqual(arr(out.subarray(48, 52)), [9, 0, 1, 0]); // IFLA_INFO_KIND
  assert.deepEqual(arr(out.subarray(60, 64)), [44, 0, 2, 0]); // IFLA_INFO_DATA
  assert.deepEqual(arr(out.subarray(64, 68)), [40, 0, 1, 0]); // VETH_INFO_PEER
  assert.deepEqual(arr(out.subarray(84, 88)), [9, 0, 3, 0]); // peer IFLA_IFNAME
  assert.deepEqual(arr(out.subarray(96, 104)), [8, 0, 28, 0, 7, 0, 0, 0]); // IFLA_NET_NS_FD
});

Deno.test("newVeth() and newBridge() check the names", () => {
  assert.throws(() => newBridge("a/b", 1), TypeError);
  assert.throws(() => newVeth("veth0", "0123456789abcdef", 3, 1), TypeError);
  assert.throws(() => newVeth("", "eth0", 3, 1), TypeError);
  assert.throws(() => getLink("a b", 1), TypeError);
  assert.throws(() => delLink("..", 1), TypeError);
});

Deno.test("setLink() sets IFF_UP in flags and change, without NLM_F_CREATE", () => {
  const up = only(setLink(7, { up: true }, 3));
  assert.equal(up.type, RTM.NEWLINK);
  assert.equal(up.flags, REQ_ACK);
  assert.equal(up.seq, 3);
  assert.deepEqual(arr(up.payload), [0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
  const down = only(setLink(7, { up: false }, 4));
  assert.deepEqual(arr(down.payload), [0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  const none = only(setLink(0x01020304, {}, 5));
  assert.deepEqual(arr(none.payload), [0, 0, 0, 0, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("setLink() adds IFLA_MASTER, IFLA_MTU and IFLA_ADDRESS", () => {
  const mac = new Uint8Array([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
  const msg = only(setLink(9, { master: 4, mtu: 1500, address: mac }, 1));
  assert.deepEqual(arr(msg.payload.subarray(16)), [
    ...[8, 0, 10, 0, 4, 0, 0, 0],
    ...[8, 0, 4, 0, 0xdc, 0x05, 0, 0],
    ...[10, 0, 1, 0, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0, 0],
  ]);
  const detach = only(setLink(9, { master: 0 }, 1));
  assert.deepEqual(arr(detach.payload.subarray(16)), [8, 0, 10, 0, 0, 0, 0, 0]);
  assert.throws(() => setLink(9, { address: new Uint8Array(5) }, 1), TypeError);
  assert.throws(() => setLink(0, { up: true }, 1), RangeError);
  assert.throws(() => setLink(9, { mtu: -1 }, 1), RangeError);
});

Deno.test("getLink() and delLink() name the link in a zeroed ifinfomsg", () => {
  const body = [...Array(16).fill(0), 9, 0, 3, 0, ...ascii("eth0"), 0, 0, 0, 0];
  assert.deepEqual(arr(getLink("eth0", 8)), [44, 0, 0, 0, 18, 0, 5, 0, 8, 0, 0, 0, 0, 0, 0, 0, ...body]);
  assert.deepEqual(arr(delLink("eth0", 9)), [44, 0, 0, 0, 17, 0, 5, 0, 9, 0, 0, 0, 0, 0, 0, 0, ...body]);
});

Deno.test("newAddr() writes the address in network byte order with the /16 broadcast", () => {
  assert.deepEqual(arr(newAddr(5, 0x0ad20002, 16, 11)), [
    ...[48, 0, 0, 0, 20, 0, 0x05, 0x06, 11, 0, 0, 0, 0, 0, 0, 0],
    ...[AF_INET, 16, 0, RT_SCOPE_UNIVERSE, 5, 0, 0, 0], // ifaddrmsg
    ...[8, 0, 2, 0, 10, 210, 0, 2], // IFA_LOCAL
    ...[8, 0, 1, 0, 10, 210, 0, 2], // IFA_ADDRESS
    ...[8, 0, 4, 0, 10, 210, 255, 255], // IFA_BROADCAST
  ]);
});

Deno.test("newAddr() computes the broadcast for other prefixes and omits it for /31 and /32", () => {
  const brd = (prefixLen: number): number[] | undefined => {
    const attrs = parseAttrs(only(newAddr(1, 0xc0a80a05, prefixLen, 1)).payload.subarray(8));
    const v = attrs.get(IFA.BROADCAST);
    return v === undefined ? undefined : arr(v);
  };
  assert.deepEqual(brd(24), [192, 168, 10, 255]);
  assert.deepEqual(brd(30), [192, 168, 10, 7]);
  assert.deepEqual(brd(8), [192, 255, 255, 255]);
  assert.deepEqual(brd(0), [255, 255, 255, 255]);
  assert.equal(brd(31), undefined);
  assert.equal(brd(32), undefined);
  assert.throws(() => newAddr(1, 0x0a000001, 33, 1), RangeError);
  assert.throws(() => newAddr(1, -1, 24, 1), RangeError);
});

Deno.test("newRoute() with a gateway builds a universe-scope default route", () => {
  assert.deepEqual(arr(newRoute({ gateway: 0x0ad20001, oif: 3 }, 12)), [
    ...[44, 0, 0, 0, 24, 0, 0x05, 0x06, 12, 0, 0, 0, 0, 0, 0, 0],
    ...[AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0, 0, 0, 0], // rtmsg
    ...[8, 0, 5, 0, 10, 210, 0, 1], // RTA_GATEWAY
    ...[8, 0, 4, 0, 3, 0, 0, 0], // RTA_OIF
  ]);
});

Deno.test("newRoute() without a gateway builds a link-scope route to dst", () => {
  const msg = only(newRoute({ oif: 3, dst: 0x0ad20000, dstLen: 16 }, 13));
  assert.deepEqual(arr(msg.payload), [
    ...[AF_INET, 16, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_LINK, RTN_UNICAST, 0, 0, 0, 0],
    ...[8, 0, 1, 0, 10, 210, 0, 0], // RTA_DST
    ...[8, 0, 4, 0, 3, 0, 0, 0], // RTA_OIF
  ]);
  assert.throws(() => newRoute({ oif: 3, dstLen: 16 }, 1), /no dst/);
  assert.throws(() => newRoute({ oif: 3, dst: 0x0ad20001, dstLen: 16 }, 1), /host bits/);
  assert.throws(() => newRoute({ oif: 0 }, 1), RangeError);
});

// --- replies ------------------------------------------------------------------

Deno.test("ackErrno() returns 0 for an ACK, the errno for an error and undefined otherwise", () => {
  const request = getLink("eth0", 5).subarray(0, 16);
  const ack = only(encodeMessage(NLMSG.ERROR, 0x100, 5, new Uint8Array([0, 0, 0, 0, ...request])));
  assert.ok(Object.is(ackErrno(ack), 0));
  const eexist = only(encodeMessage(NLMSG.ERROR, 0, 5, new Uint8Array([0xef, 0xff, 0xff, 0xff, ...request])));
  assert.equal(ackErrno(eexist), 17);
  const enodev = only(encodeMessage(NLMSG.ERROR, 0, 5, new Uint8Array([0xed, 0xff, 0xff, 0xff])));
  assert.equal(ackErrno(enodev), 19);
  assert.equal(ackErrno(only(encodeMessage(RTM.NEWLINK, 0, 5, new Uint8Array(16)))), undefined);
  assert.equal(ackErrno(only(encodeMessage(NLMSG.DONE, 2, 5, new Uint8Array(4)))), undefined);
  assert.throws(
    () => ackErrno({ type: NLMSG.ERROR, flags: 0, seq: 0, pid: 0, payload: new Uint8Array(3) }),
    TypeError,
  );
});

Deno.test("parseLink() reads a hand-built RTM_NEWLINK reply", () => {
  const payload = [
    ...[0, 0, 1, 0, 9, 0, 0, 0, 0x43, 0x10, 0, 0, 0, 0, 0, 0], // ifinfomsg: ARPHRD_ETHER, index 9, flags 0x1043
    ...[10, 0, 3, 0, ...ascii("veth0"), 0, 0, 0], // IFLA_IFNAME
    ...[8, 0, 4, 0, 0xdc, 0x05, 0, 0], // IFLA_MTU 1500
    ...[8, 0, 10, 0, 4, 0, 0, 0], // IFLA_MASTER 4
    ...[10, 0, 1, 0, 0x02, 0x42, 0xAC, 0x11, 0x00, 0x02, 0, 0], // IFLA_ADDRESS
    ...[24, 0, 0x12, 0x80], // IFLA_LINKINFO | NLA_F_NESTED
    ...[9, 0, 1, 0, ...ascii("veth"), 0, 0, 0, 0], // IFLA_INFO_KIND
    ...[8, 0, 0x02, 0x80, 0, 0, 0, 0], // IFLA_INFO_DATA | NLA_F_NESTED, empty
  ];
  const header = [16 + payload.length, 0, 0, 0, 16, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0];
  const reply = new Uint8Array([...header, ...payload]);
  const msg = only(reply);
  assert.equal(msg.type, RTM.NEWLINK);
  assert.deepEqual(parseLink(msg.payload), {
    index: 9,
    flags: 0x1043,
    name: "veth0",
    mtu: 1500,
    master: 4,
    address: "02:42:ac:11:00:02",
    kind: "veth",
  });
  assert.equal(parseLink(msg.payload).flags & IFF_UP, IFF_UP);
});

Deno.test("parseLink() leaves out attributes that are absent and rejects short payloads", () => {
  assert.deepEqual(parseLink(new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0])), {
    index: 1,
    flags: 9,
  });
  assert.throws(() => parseLink(new Uint8Array(15)), TypeError);
  assert.throws(() => parseLink(new Uint8Array([...Array(16).fill(0), 8, 0, 4, 0])), TypeError);
});

Deno.test("parseAddr() prefers IFA_LOCAL and reads network byte order", () => {
  const header = [AF_INET, 24, 0x80, 0, 5, 0, 0, 0];
  const both = new Uint8Array([...header, ...[8, 0, 1, 0, 10, 0, 0, 9], ...[8, 0, 2, 0, 10, 0, 0, 1]]);
  assert.deepEqual(parseAddr(both), { index: 5, family: AF_INET, prefixLen: 24, address: 0x0a000001 });
  const onlyAddress = new Uint8Array([...header, 8, 0, 1, 0, 10, 0, 0, 9]);
  assert.deepEqual(parseAddr(onlyAddress), { index: 5, family: AF_INET, prefixLen: 24, address: 0x0a000009 });
  assert.deepEqual(parseAddr(new Uint8Array(header)), { index: 5, family: AF_INET, prefixLen: 24 });
  const v6 = new Uint8Array([10, 64, 0, 0, 2, 0, 0, 0, 20, 0, 1, 0, ...Array(16).fill(0xfe)]);
  assert.deepEqual(parseAddr(v6), { index: 2, family: 10, prefixLen: 64 });
  assert.throws(() => parseAddr(new Uint8Array(7)), TypeError);
});

Deno.test("parseAddr() reads back what newAddr() writes", () => {
  const msg = only(newAddr(3, 0xac110002, 16, 1));
  assert.deepEqual(parseAddr(msg.payload), { index: 3, family: AF_INET, prefixLen: 16, address: 0xac110002 });
});

// --- checkIfName ----------------------------------------------------------------

Deno.test("checkIfName() accepts names the kernel accepts", () => {
  for (const name of ["eth0", "0123456789abcde", "veth-ab_c.1", "br@x", "...", "éééééééa"]) {
    checkIfName(name);
  }
});

Deno.test("checkIfName() rejects what dev_valid_name rejects", () => {
  assert.throws(() => checkIfName("0123456789abcdef"), /16 bytes, at most 15/);
  assert.throws(() => checkIfName("éééééééé"), /16 bytes/);
  assert.throws(() => checkIfName("a/b"), /contains/);
  for (const name of ["", ".", "..", "a b", "a:b", "a\tb", "a\nb", "a\0b", " "]) {
    assert.throws(() => checkIfName(name), TypeError, JSON.stringify(name));
  }
});

Deno.test("setLink() sets an alias (IFLA_IFALIAS, NUL-terminated) and parseLink() reads it back", () => {
  const [msg] = decodeMessages(setLink(5, { alias: "tinyo /run/tinyo" }, 9));
  const attrs = parseAttrs(msg!.payload.subarray(16));
  assert.deepEqual([...attrs.get(IFLA.IFALIAS)!], [...new TextEncoder().encode("tinyo /run/tinyo\0")]);
  assert.equal(IFLA.IFALIAS, 20);
  // A reply carrying it.
  assert.equal(parseLink(msg!.payload).alias, "tinyo /run/tinyo");
  assert.throws(() => setLink(5, { alias: "x".repeat(255) }, 1), TypeError);
  assert.throws(() => setLink(5, { alias: "a\0b" }, 1), TypeError);
});

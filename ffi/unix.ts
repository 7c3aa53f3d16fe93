/**
 * Unix domain sockets, for passing descriptors (SCM_RIGHTS): the OCI
 * `--console-socket`, where the runtime hands the pty master it made inside
 * the container to its caller (conmon, containerd's shim), and between
 * tinyo's own processes.
 *
 * The structures are x86_64 glibc's: struct sockaddr_un (sun_family u16,
 * sun_path[108]), struct msghdr (name 0, namelen 8, iov 16, iovlen 24,
 * control 32, controllen 40, flags 48; 56 bytes), struct iovec (base,
 * len), struct cmsghdr (len 0, level 8, type 12, data 16), see
 * sys/socket.h, bits/socket.h and unix(7).
 *
 * @module
 */

import { libc } from "./_libc.ts";
import { lastErrno, SyscallError } from "./errno.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_NOSIGNAL = 0x4000;
const MSG_CTRUNC = 0x8;
const MSG_TRUNC = 0x20;

function fail(syscall: string, path: string): never {
  throw new SyscallError({ syscall, errno: lastErrno(), path });
}

function ptr(buf: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

const SOCK_SEQPACKET = 5;

/**
 * A connected AF_UNIX socket (close-on-exec) to the socket at `path`: a
 * stream, or with `seqpacket` a SOCK_SEQPACKET one (conmon's attach socket).
 */
export function unixConnect(path: string, seqpacket = false): number {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length >= 108 || bytes.includes(0)) {
    throw new TypeError(`Cannot connect to "${path}": a unix socket path is at most 107 bytes, without NUL`);
  }
  const fd = libc.socket(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket", "AF_UNIX");
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  if (libc.connect(fd, addr, 2 + bytes.length + 1) !== 0) {
    const errno = lastErrno();
    libc.close(fd);
    throw new SyscallError({ syscall: "connect", errno, path });
  }
  return fd;
}

/**
 * A connected pair of AF_UNIX sockets, both close-on-exec: stream sockets,
 * or with `seqpacket` sockets that keep each message whole.
 */
export function socketPair(seqpacket = false): [number, number] {
  const fds = new Int32Array(2);
  const type = seqpacket ? SOCK_SEQPACKET : SOCK_STREAM;
  if (libc.socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)) !== 0) {
    fail("socketpair", "AF_UNIX");
  }
  return [fds[0]!, fds[1]!];
}

/** The most descriptors one message carries here (the kernel allows 253). */
const MAX_FDS = 16;

/**
 * Sends descriptor `fd` over the socket `sock` in one sendmsg(2): `data` (not
 * empty) as the payload and exactly one SCM_RIGHTS control message.
 */
export function sendFd(sock: number, fd: number, data: string): void {
  sendFds(sock, [fd], data);
}

/**
 * Sends `data` (not empty) and the descriptors `fds` (one SCM_RIGHTS control
 * message, none when the list is empty) in one sendmsg(2).
 */
export function sendFds(sock: number, fds: readonly number[], data: string): void {
  const payload = new TextEncoder().encode(data);
  if (payload.length === 0) throw new TypeError("Cannot send a message without a payload");
  if (fds.length > MAX_FDS) {
    throw new TypeError(`Cannot send more than ${MAX_FDS} descriptors in one message`);
  }
  const iov = new Uint8Array(16);
  const iv = new DataView(iov.buffer);
  const base = new Uint8Array(payload) as Uint8Array<ArrayBuffer>;
  iv.setBigUint64(0, ptr(base), true);
  iv.setBigUint64(8, BigInt(base.length), true);
  // cmsg_len = CMSG_LEN(4 * n) = 16 + 4n; the buffer is CMSG_SPACE (8-aligned).
  const len = 16 + 4 * fds.length;
  const control = new Uint8Array(fds.length === 0 ? 0 : (len + 7) & ~7);
  if (fds.length > 0) {
    const cv = new DataView(control.buffer);
    cv.setBigUint64(0, BigInt(len), true);
    cv.setInt32(8, SOL_SOCKET, true);
    cv.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((fd, i) => cv.setInt32(16 + 4 * i, fd, true));
  }
  const msg = new Uint8Array(56);
  const mv = new DataView(msg.buffer);
  mv.setBigUint64(16, ptr(iov), true);
  mv.setBigUint64(24, 1n, true);
  if (fds.length > 0) {
    mv.setBigUint64(32, ptr(control), true);
    mv.setBigUint64(40, BigInt(control.length), true);
  }
  for (;;) {
    const n = libc.sendmsg(sock, msg, MSG_NOSIGNAL);
    if (n >= 0n) break;
    if (lastErrno() !== 4) fail("sendmsg", `fd ${sock}`);
  }
  // Everything the message points at is used after the call: kept alive.
  void base.length, iov.length, control.length;
}

/**
 * Receives one message with a descriptor (SCM_RIGHTS) from `sock`; the
 * descriptor arrives close-on-exec. Throws when the message carries none.
 */
export function recvFd(sock: number): { fd: number; data: string } {
  const { fds, data } = recvFds(sock, 4096);
  if (fds.length !== 1) {
    for (const fd of fds) libc.close(fd);
    throw new SyscallError({
      syscall: "recvmsg",
      errno: 71, /* EPROTO */
      path: fds.length === 0 ? "no descriptor in the message" : `${fds.length} descriptors in the message`,
    });
  }
  return { fd: fds[0]!, data };
}

/**
 * Receives one message of at most `maxBytes` and the descriptors it
 * carries (close-on-exec). A message or descriptor list cut short (MSG_TRUNC,
 * MSG_CTRUNC) is an error: its descriptors are closed. End of file: empty
 * data, no descriptors.
 */
export function recvFds(sock: number, maxBytes: number): { fds: number[]; data: string } {
  const buf = new Uint8Array(maxBytes);
  const iov = new Uint8Array(16);
  const iv = new DataView(iov.buffer);
  iv.setBigUint64(0, ptr(buf), true);
  iv.setBigUint64(8, BigInt(buf.length), true);
  const control = new Uint8Array(16 + 4 * MAX_FDS);
  const msg = new Uint8Array(56);
  const mv = new DataView(msg.buffer);
  mv.setBigUint64(16, ptr(iov), true);
  mv.setBigUint64(24, 1n, true);
  mv.setBigUint64(32, ptr(control), true);
  mv.setBigUint64(40, BigInt(control.length), true);
  let n: bigint;
  for (;;) {
    n = libc.recvmsg(sock, msg, MSG_CMSG_CLOEXEC);
    if (n >= 0n) break;
    if (lastErrno() !== 4) fail("recvmsg", `fd ${sock}`);
  }
  const cv = new DataView(control.buffer);
  const controllen = Number(mv.getBigUint64(40, true));
  const fds: number[] = [];
  if (controllen >= 16 && cv.getInt32(8, true) === SOL_SOCKET && cv.getInt32(12, true) === SCM_RIGHTS) {
    const count = (Number(cv.getBigUint64(0, true)) - 16) / 4;
    for (let i = 0; i < count; i++) fds.push(cv.getInt32(16 + 4 * i, true));
  }
  const flags = mv.getInt32(48, true);
  if ((flags & (MSG_TRUNC | MSG_CTRUNC)) !== 0) {
    for (const fd of fds) libc.close(fd);
    throw new SyscallError({ syscall: "recvmsg", errno: 90, /* EMSGSIZE */ path: "a message cut short" });
  }
  void iov.length;
  return { fds, data: new TextDecoder().decode(buf.subarray(0, Number(n))) };
}

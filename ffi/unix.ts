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

/** A connected pair of AF_UNIX stream sockets, both close-on-exec. */
export function socketPair(): [number, number] {
  const fds = new Int32Array(2);
  if (libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)) !== 0) {
    fail("socketpair", "AF_UNIX");
  }
  return [fds[0]!, fds[1]!];
}

/**
 * Sends descriptor `fd` over the socket `sock` in one sendmsg(2): `data` (not
 * empty) as the payload and exactly one SCM_RIGHTS control message.
 */
export function sendFd(sock: number, fd: number, data: string): void {
  const payload = new TextEncoder().encode(data);
  if (payload.length === 0) throw new TypeError("Cannot send a descriptor without a payload");
  const iov = new Uint8Array(16);
  const iv = new DataView(iov.buffer);
  const base = new Uint8Array(payload) as Uint8Array<ArrayBuffer>;
  iv.setBigUint64(0, ptr(base), true);
  iv.setBigUint64(8, BigInt(base.length), true);
  // CMSG_SPACE(sizeof(int)) = 24; cmsg_len = CMSG_LEN(sizeof(int)) = 20.
  const control = new Uint8Array(24);
  const cv = new DataView(control.buffer);
  cv.setBigUint64(0, 20n, true);
  cv.setInt32(8, SOL_SOCKET, true);
  cv.setInt32(12, SCM_RIGHTS, true);
  cv.setInt32(16, fd, true);
  const msg = new Uint8Array(56);
  const mv = new DataView(msg.buffer);
  mv.setBigUint64(16, ptr(iov), true);
  mv.setBigUint64(24, 1n, true);
  mv.setBigUint64(32, ptr(control), true);
  mv.setBigUint64(40, BigInt(control.length), true);
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
  const buf = new Uint8Array(4096);
  const iov = new Uint8Array(16);
  const iv = new DataView(iov.buffer);
  iv.setBigUint64(0, ptr(buf), true);
  iv.setBigUint64(8, BigInt(buf.length), true);
  const control = new Uint8Array(64);
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
  if (controllen < 20 || cv.getInt32(8, true) !== SOL_SOCKET || cv.getInt32(12, true) !== SCM_RIGHTS) {
    throw new SyscallError({
      syscall: "recvmsg",
      errno: 71, /* EPROTO */
      path: "no descriptor in the message",
    });
  }
  void iov.length;
  return { fd: cv.getInt32(16, true), data: new TextDecoder().decode(buf.subarray(0, Number(n))) };
}

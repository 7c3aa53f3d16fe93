import assert from "node:assert/strict";
import {
  close,
  isCloexec,
  O,
  pipe2,
  read,
  recvFd,
  recvFds,
  sendFd,
  sendFds,
  socketPair,
  unixConnect,
  writeAll,
} from "../../ffi/mod.ts";

Deno.test("sendFd()/recvFd() pass a working descriptor with its payload (SCM_RIGHTS)", () => {
  const [a, b] = socketPair();
  const [r, w] = pipe2(O.CLOEXEC);
  try {
    sendFd(a, w, "console");
    const got = recvFd(b);
    assert.equal(got.data, "console");
    assert.notEqual(got.fd, w, "a new descriptor number in the receiver");
    writeAll(got.fd, new TextEncoder().encode("through the passed fd"));
    close(got.fd);
    const buf = new Uint8Array(64);
    assert.equal(new TextDecoder().decode(buf.subarray(0, read(r, buf))), "through the passed fd");
  } finally {
    for (const fd of [a, b, r, w]) close(fd);
  }
});

Deno.test("recvFd() refuses a message without a descriptor; sendFd() needs a payload", () => {
  const [a, b] = socketPair();
  try {
    writeAll(a, new TextEncoder().encode("just bytes"));
    assert.throws(() => recvFd(b), /no descriptor/);
    assert.throws(() => sendFd(a, a, ""), /without a payload/);
  } finally {
    close(a);
    close(b);
  }
});

Deno.test("sendFds()/recvFds() on a seqpacket pair: several descriptors or none, one whole message each", () => {
  const [a, b] = socketPair(true);
  const [r1, w1] = pipe2(O.CLOEXEC);
  const [r2, w2] = pipe2(O.CLOEXEC);
  try {
    sendFds(a, [w1, w2], "two");
    sendFds(a, [], "none");
    const two = recvFds(b, 1024);
    assert.equal(two.data, "two");
    assert.equal(two.fds.length, 2);
    for (const fd of two.fds) assert.equal(isCloexec(fd), true, "received descriptors are close-on-exec");
    writeAll(two.fds[0]!, new TextEncoder().encode("1"));
    writeAll(two.fds[1]!, new TextEncoder().encode("2"));
    for (const fd of two.fds) close(fd);
    const buf = new Uint8Array(8);
    assert.equal(read(r1, buf), 1);
    assert.equal(buf[0], "1".charCodeAt(0), "the first descriptor is the first sent");
    assert.equal(read(r2, buf), 1);
    assert.equal(buf[0], "2".charCodeAt(0));
    assert.deepEqual(recvFds(b, 1024), { fds: [], data: "none" }, "the next message stays whole and apart");
    // A message longer than the buffer is refused, its descriptors closed.
    sendFds(a, [w1], "x".repeat(100));
    assert.throws(() => recvFds(b, 10), /cut short/);
    close(a);
    assert.deepEqual(recvFds(b, 1024), { fds: [], data: "" }, "end of file");
  } finally {
    for (const fd of [b, r1, w1, r2, w2]) close(fd);
  }
});

Deno.test("unixConnect() reaches a listening socket, and names the path when it cannot", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/sock`;
    const listener = Deno.listen({ transport: "unix", path });
    const accepted = listener.accept();
    const fd = unixConnect(path);
    const conn = await accepted;
    writeAll(fd, new TextEncoder().encode("hi"));
    const buf = new Uint8Array(8);
    assert.equal(await conn.read(buf), 2);
    conn.close();
    listener.close();
    close(fd);
    assert.throws(() => unixConnect(`${dir}/nothing`), /connect\(.*nothing\): ENOENT/);
    assert.throws(() => unixConnect(`${dir}/${"x".repeat(120)}`), /at most 107 bytes/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

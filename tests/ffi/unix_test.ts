import assert from "node:assert/strict";
import { close, O, pipe2, read, recvFd, sendFd, socketPair, unixConnect, writeAll } from "../../ffi/mod.ts";

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

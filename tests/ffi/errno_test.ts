import assert from "node:assert/strict";
import { cString, CStringArray, errnoName, errnoNumber, isErrno, SyscallError } from "../../ffi/mod.ts";
import * as ffi from "../../ffi/mod.ts";

Deno.test("errnoName() maps numbers to names and back", () => {
  assert.equal(errnoName(1), "EPERM");
  assert.equal(errnoName(2), "ENOENT");
  assert.equal(errnoName(22), "EINVAL");
  assert.equal(errnoName(39), "ENOTEMPTY");
  assert.equal(errnoName(9999), "E9999");
  assert.equal(errnoNumber("EACCES"), 13);
});

Deno.test("SyscallError carries the call, errno name and path in its message", () => {
  const err = new SyscallError({ syscall: "mount", errno: 1, path: "proc", dest: "/x/proc" });
  assert.equal(err.message, "mount(proc -> /x/proc): EPERM (Operation not permitted)");
  assert.equal(err.code, "EPERM");
  assert.equal(err.syscall, "mount");
  assert.equal(err.dest, "/x/proc");
  assert.ok(isErrno(err, "EPERM"));
  assert.ok(!isErrno(err, "ENOENT"));
  assert.ok(!isErrno(new Error("EPERM"), "EPERM"));
});

Deno.test("open() of a missing path throws ENOENT naming the path", () => {
  assert.throws(() => ffi.open("/nonexistent/tinyo/file", ffi.O.RDONLY), (err: unknown) => {
    assert.ok(err instanceof SyscallError);
    assert.equal(err.code, "ENOENT");
    assert.equal(err.path, "/nonexistent/tinyo/file");
    assert.match(err.message, /^open\(\/nonexistent\/tinyo\/file\): ENOENT \(No such file or directory\)$/);
    return true;
  });
});

Deno.test("mount() failure reports source, target and errno", () => {
  // An unknown filesystem type fails before any privilege check matters.
  assert.throws(
    () => ffi.mount("none", "/nonexistent-target", { fstype: "no-such-fs-type" }),
    (err: unknown) => {
      assert.ok(err instanceof SyscallError);
      assert.equal(err.syscall, "mount");
      assert.equal(err.path, "none");
      assert.equal(err.dest, "/nonexistent-target");
      assert.ok(["ENODEV", "ENOENT", "EPERM"].includes(err.code), err.code);
      return true;
    },
  );
});

Deno.test("pipe2(), writeAll() and read() move bytes; read() sees end of file", () => {
  const [r, w] = ffi.pipe2(ffi.O.CLOEXEC);
  ffi.writeAll(w, new TextEncoder().encode("hello"));
  ffi.close(w);
  const buf = new Uint8Array(16);
  const n = ffi.read(r, buf);
  assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "hello");
  assert.equal(ffi.read(r, buf), 0);
  ffi.close(r);
  assert.throws(() => ffi.close(r), (e: unknown) => isErrno(e, "EBADF"));
});

Deno.test("cString() is NUL-terminated, sized by UTF-8 bytes, and refuses NUL", () => {
  const s = cString("héllo");
  assert.equal(s.byteLength, 7);
  assert.equal(s[6], 0);
  assert.throws(() => cString("a\0b", "path"), /Cannot pass path to C: "a\\0b" contains a NUL byte/);
  const arr = new CStringArray(["a", "bc"]);
  assert.equal(arr.length, 2);
  assert.equal(arr.buffer.byteLength, 24);
});

Deno.test("execve() of a missing file throws ENOENT instead of returning", () => {
  assert.throws(() => ffi.execve("/nonexistent/tinyo-bin", ["x"], []), (e: unknown) => isErrno(e, "ENOENT"));
});

Deno.test("the first failing call of a fresh process reports its own errno (symbols are bound lazily)", () => {
  // In a new process nothing is bound yet: the failing call's errno must
  // not be replaced by the binding of what reads it.
  const mod = new URL("../../ffi/mod.ts", import.meta.url).href;
  const script = `import * as ffi from ${JSON.stringify(mod)};
const out = [];
try { ffi.open("/nonexistent/tinyo-errno-probe", ffi.O.RDONLY); } catch (e) { out.push(e.code); }
try { ffi.close(987654); } catch (e) { out.push(e.code); }
console.log(out.join(" "));`;
  const r = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  assert.equal(new TextDecoder().decode(r.stdout).trim(), "ENOENT EBADF", new TextDecoder().decode(r.stderr));
});

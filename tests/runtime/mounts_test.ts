import assert from "node:assert/strict";
import { applyMount, maskPath, overlayEscape, parseMountOptions } from "../../runtime/mounts.ts";
import { MS } from "../../runtime/syscalls.ts";
import { FakeSyscalls } from "../helpers/fake_syscalls.ts";
import { ConfigError } from "../../runtime/errors.ts";

Deno.test("parseMountOptions() splits flags, propagation and data", () => {
  const p = parseMountOptions(["nosuid", "noexec", "nodev", "ro", "mode=755", "size=65536k", "rprivate"]);
  assert.equal(p.flags, MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY);
  assert.equal(p.propagation, MS.PRIVATE | MS.REC);
  assert.equal(p.data, "mode=755,size=65536k");
  assert.equal(p.bind, false);
  const rw = parseMountOptions(["ro", "rw", "rbind"]);
  assert.equal(rw.flags, MS.BIND | MS.REC);
  assert.equal(rw.bind, true);
});

Deno.test("applyMount() of a read-only bind mounts, then remounts read-only", () => {
  const rootfs = Deno.makeTempDirSync();
  const src = Deno.makeTempDirSync();
  try {
    const sys = new FakeSyscalls();
    applyMount(sys, rootfs, { destination: "/data", type: "bind", source: src, options: ["rbind", "ro"] });
    assert.deepEqual(sys.of("mount"), [
      { op: "mount", source: src, target: `${rootfs}/data`, flags: MS.BIND | MS.REC },
      { op: "mount", source: "", target: `${rootfs}/data`, flags: MS.BIND | MS.REMOUNT | MS.RDONLY },
    ]);
    assert.ok(Deno.statSync(`${rootfs}/data`).isDirectory);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
    Deno.removeSync(src, { recursive: true });
  }
});

Deno.test("applyMount() gives a file bind mount a file target", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    const sys = new FakeSyscalls();
    applyMount(sys, rootfs, { destination: "/etc/hostname", type: "bind", source: "/etc/hostname" });
    assert.ok(Deno.statSync(`${rootfs}/etc/hostname`).isFile);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("applyMount() never follows a rootfs symlink out of the rootfs", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    // A hostile image: /proc -> /etc (absolute, meant to hit the host's /etc).
    Deno.symlinkSync("/etc", `${rootfs}/proc`);
    Deno.symlinkSync("../../../../..", `${rootfs}/up`);
    const sys = new FakeSyscalls();
    applyMount(sys, rootfs, { destination: "/proc", type: "proc", source: "proc" });
    applyMount(sys, rootfs, { destination: "/up/sys", type: "sysfs", source: "sysfs" });
    assert.deepEqual(sys.of("mount").map((m) => m.target), [`${rootfs}/etc`, `${rootfs}/sys`]);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("applyMount() of a missing bind source names it", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    assert.throws(
      () =>
        applyMount(new FakeSyscalls(), rootfs, {
          destination: "/x",
          type: "bind",
          source: "/nonexistent/src",
        }),
      (e: unknown) =>
        e instanceof ConfigError && /"\/nonexistent\/src".*no such file or directory/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(rootfs)], []);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("maskPath() uses /dev/null for files and a read-only tmpfs for directories", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "");
    const sys = new FakeSyscalls();
    maskPath(sys, `${dir}/f`);
    maskPath(sys, dir);
    maskPath(sys, `${dir}/missing`);
    assert.deepEqual(sys.of("mount"), [
      { op: "mount", source: "/dev/null", target: `${dir}/f`, flags: MS.BIND },
      { op: "mount", source: "tmpfs", target: dir, fstype: "tmpfs", flags: MS.RDONLY, data: "size=0k" },
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("overlayEscape() escapes the characters overlayfs treats specially", () => {
  assert.equal(overlayEscape("/a,b:c\\d"), "/a\\,b\\:c\\\\d");
});

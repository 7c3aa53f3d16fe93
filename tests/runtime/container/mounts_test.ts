import assert from "node:assert/strict";
import {
  applyMount,
  maskPath,
  overlayEscape,
  parseMountOptions,
  readonlyPath,
} from "../../../runtime/container/mounts.ts";
import { MOUNT_ATTR, MS } from "../../../runtime/syscalls.ts";
import { withRoot } from "../../../runtime/inroot.ts";
import { FakeSyscalls } from "../../helpers/fake_syscalls.ts";
import { ConfigError } from "../../../runtime/errors.ts";

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

/** Runs `fn` with a descriptor of `dir` as the root, as the init does. */
function inRoot<T>(dir: string, fn: (rootFd: number) => T): T {
  return withRoot(dir, fn);
}

Deno.test("applyMount() of a read-only bind mounts onto a descriptor, then sets it read-only recursively", () => {
  const rootfs = Deno.makeTempDirSync();
  const src = Deno.makeTempDirSync();
  try {
    const sys = new FakeSyscalls();
    inRoot(
      rootfs,
      (root) =>
        applyMount(sys, root, { destination: "/data", type: "bind", source: src, options: ["rbind", "ro"] }),
    );
    assert.deepEqual(sys.calls, [
      { op: "mount", source: src, target: `${rootfs}/data`, flags: MS.BIND | MS.REC, viaFd: true },
      // mount_setattr(2) on the new mount, on its whole tree: submounts too.
      { op: "mountSetattr", target: `${rootfs}/data`, set: MOUNT_ATTR.RDONLY, clear: 0, recursive: true },
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
    inRoot(
      rootfs,
      (root) =>
        applyMount(sys, root, { destination: "/etc/hostname", type: "bind", source: "/etc/hostname" }),
    );
    assert.ok(Deno.statSync(`${rootfs}/etc/hostname`).isFile);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("applyMount() resolves destinations inside the rootfs: symlinks and .. cannot lead out", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    // A hostile image: absolute and climbing links meant to reach the host.
    Deno.symlinkSync("/etc", `${rootfs}/abs`);
    Deno.symlinkSync("../../../../..", `${rootfs}/up`);
    Deno.symlinkSync("/proc/self/root/etc", `${rootfs}/magic`);
    const sys = new FakeSyscalls();
    inRoot(rootfs, (root) => {
      applyMount(sys, root, { destination: "/abs", type: "tmpfs", source: "tmpfs" });
      applyMount(sys, root, { destination: "/up/run", type: "tmpfs", source: "tmpfs" });
    });
    assert.deepEqual(sys.of("mount").map((m) => [m.target, m.viaFd]), [
      [`${rootfs}/etc`, true],
      [`${rootfs}/run`, true],
    ]);
    // A link to /proc/self/root means the rootfs's own /proc here (its
    // procfs, where the kernel refuses magic links, is not mounted in this test).
    inRoot(rootfs, (root) => applyMount(sys, root, { destination: "/magic/x", type: "tmpfs", source: "t" }));
    assert.equal(sys.of("mount")[2]!.target, `${rootfs}/proc/self/root/etc/x`);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("applyMount() refuses a proc or sysfs destination that goes through a symlink", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    // Mounted elsewhere, /proc would escape the masked and read-only paths.
    Deno.mkdirSync(`${rootfs}/x`);
    Deno.symlinkSync("/x", `${rootfs}/proc`);
    Deno.symlinkSync("x", `${rootfs}/sys`);
    const sys = new FakeSyscalls();
    for (const [destination, type] of [["/proc", "proc"], ["/sys", "sysfs"]]) {
      assert.throws(
        () =>
          inRoot(
            rootfs,
            (root) => applyMount(sys, root, { destination: destination!, type: type!, source: type! }),
          ),
        (e: unknown) => e instanceof ConfigError && /goes through a symlink/.test(e.message),
      );
    }
    assert.equal(sys.of("mount").length, 0);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("applyMount() of a missing bind source names it", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    assert.throws(
      () =>
        inRoot(rootfs, (root) =>
          applyMount(new FakeSyscalls(), root, {
            destination: "/x",
            type: "bind",
            source: "/nonexistent/src",
          })),
      (e: unknown) =>
        e instanceof ConfigError && /"\/nonexistent\/src".*no such file or directory/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(rootfs)], []);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("maskPath() uses /dev/null for files and a read-only tmpfs for directories; only a missing path is skipped", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "");
    Deno.mkdirSync(`${dir}/d`);
    const sys = new FakeSyscalls();
    inRoot(dir, (root) => {
      maskPath(sys, root, "/f");
      maskPath(sys, root, "/d");
      maskPath(sys, root, "/missing");
      // Anything but "does not exist" is an error: a mask that silently did
      // not happen would be a hole.
      assert.throws(() => maskPath(sys, root, "/f/below"), /ENOTDIR/);
      assert.throws(() => readonlyPath(sys, root, "/f/below"), /ENOTDIR/);
    });
    assert.deepEqual(sys.of("mount"), [
      { op: "mount", source: "/dev/null", target: `${dir}/f`, flags: MS.BIND, viaFd: true },
      {
        op: "mount",
        source: "tmpfs",
        target: `${dir}/d`,
        fstype: "tmpfs",
        flags: MS.RDONLY,
        data: "size=0k",
        viaFd: true,
      },
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readonlyPath() binds the path onto itself and makes the whole tree read-only", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/sys`);
    const sys = new FakeSyscalls();
    inRoot(dir, (root) => readonlyPath(sys, root, "/sys"));
    assert.deepEqual(sys.calls, [
      { op: "mount", source: `${dir}/sys`, target: `${dir}/sys`, flags: MS.BIND | MS.REC, viaFd: true },
      {
        op: "mountSetattr",
        target: `${dir}/sys`,
        set: MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC,
        clear: 0,
        recursive: true,
      },
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("overlayEscape() escapes the characters overlayfs treats specially", () => {
  assert.equal(overlayEscape("/a,b:c\\d"), "/a\\,b\\:c\\\\d");
});

Deno.test("applyMount() passes other filesystem types to mount(2) as they are: mqueue, devpts", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    const sys = new FakeSyscalls();
    inRoot(rootfs, (root) => {
      applyMount(sys, root, {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      });
      applyMount(sys, root, {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      });
    });
    assert.deepEqual(sys.of("mount"), [
      {
        op: "mount",
        source: "mqueue",
        target: `${rootfs}/dev/mqueue`,
        fstype: "mqueue",
        flags: MS.NOSUID | MS.NOEXEC | MS.NODEV,
        viaFd: true,
      },
      {
        op: "mount",
        source: "devpts",
        target: `${rootfs}/dev/pts`,
        fstype: "devpts",
        flags: MS.NOSUID | MS.NOEXEC,
        data: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        viaFd: true,
      },
    ]);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("applyMount() names the mount and its type when the kernel does not know the type (ENODEV)", () => {
  const rootfs = Deno.makeTempDirSync();
  try {
    const sys = new FakeSyscalls().failOn("mount", "ENODEV");
    assert.throws(
      () =>
        inRoot(
          rootfs,
          (root) => applyMount(sys, root, { destination: "/data", type: "zfs", source: "tank/x" }),
        ),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === 'Cannot mount "zfs" on "/data": unknown filesystem type (not in /proc/filesystems)',
    );
    // Any other failure stays what the system call said.
    const other = new FakeSyscalls().failOn("mount", "EPERM");
    assert.throws(
      () =>
        inRoot(
          rootfs,
          (root) => applyMount(other, root, { destination: "/data", type: "tmpfs", source: "t" }),
        ),
      /EPERM/,
    );
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

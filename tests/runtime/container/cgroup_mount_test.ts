import assert from "node:assert/strict";
import {
  type CgroupHost,
  type CgroupMountRequest,
  mountCgroup,
  parseMountinfo,
  parseProcCgroup,
  planCgroupMount,
  readCgroupHost,
} from "../../../runtime/container/cgroup_mount.ts";
import { applyMount } from "../../../runtime/container/mounts.ts";
import { MOUNT_ATTR, MS } from "../../../runtime/syscalls.ts";
import { withRoot } from "../../../runtime/inroot.ts";
import { ConfigError } from "../../../runtime/errors.ts";
import { FakeSyscalls } from "../../helpers/fake_syscalls.ts";

/** A build machine's /proc/self/mountinfo: hybrid, one v1 controller per mount, cgroup2 at unified. */
const HYBRID_MOUNTINFO = `21 26 0:20 / /proc rw,relatime - proc proc rw
22 26 0:21 / /sys rw,relatime - sysfs sysfs rw
23 26 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334172k,nr_inodes=3083543,mode=755
24 23 0:22 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683548k
25 23 0:23 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** The init's /proc/self/cgroup there, after joining its v1 cgroups (no cgroup namespace). */
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/tinyo/abc
7:blkio:/tinyo/abc
6:freezer:/tinyo/abc
5:devices:/tinyo/abc
4:memory:/tinyo/abc
3:cpuset:/tinyo/abc
2:cpuacct:/tinyo/abc
1:cpu:/tinyo/abc
0::/
`;

/**
 * Ubuntu 20.04's layout: joint cpu,cpuacct and net_cls,net_prio mounts,
 * optional fields, and the memory hierarchy mounted a second time elsewhere
 * (same device: the first mount is the host's).
 */
const JOINT_MOUNTINFO = `25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 master:3 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
90 80 0:29 /tinyo /run/other\\040place/memory rw,relatime - cgroup cgroup rw,memory
`;

const JOINT_CGROUP = `12:memory:/tinyo/abc
5:net_cls,net_prio:/tinyo/abc
3:cpu,cpuacct:/tinyo/abc
1:name=systemd:/user.slice/x.scope
0::/user.slice/x.scope
`;

/** A pure cgroup v2 host (Fedora): one cgroup2 mount at /sys/fs/cgroup. */
const V2_MOUNTINFO = `22 1 253:0 / / rw,relatime shared:1 - xfs /dev/vda rw,seclabel
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw,seclabel
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,seclabel,nsdelegate,memory_recursiveprot
`;
const V2_CGROUP = "0::/tinyo.slice/tinyo-abc.scope\n";

const BASE = MS.NOSUID | MS.NODEV | MS.NOEXEC;
const RO_ATTRS = MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC;

/** The spec mount of runc's, podman's and containerd's configurations. */
function request(cgroupns: boolean, extra: Partial<CgroupMountRequest> = {}): CgroupMountRequest {
  return {
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    flags: BASE | MS.RELATIME | MS.RDONLY,
    data: "",
    cgroupns,
    ...extra,
  };
}

Deno.test("parseMountinfo() reads the fields, the optional ones and the escapes", () => {
  const entries = parseMountinfo(JOINT_MOUNTINFO);
  assert.equal(entries.length, 7);
  assert.deepEqual(entries[2], {
    id: 27,
    parent: 25,
    dev: "0:24",
    root: "/",
    mountPoint: "/sys/fs/cgroup/systemd",
    options: ["rw", "nosuid", "nodev", "noexec", "relatime"],
    fstype: "cgroup",
    source: "cgroup",
    superOptions: ["rw", "xattr", "name=systemd"],
  });
  assert.equal(entries[6]!.mountPoint, "/run/other place/memory");
  assert.equal(entries[6]!.root, "/tinyo");
  assert.throws(() => parseMountinfo("1 2 3\n"), ConfigError);
});

Deno.test("parseProcCgroup() reads v1 controllers, name= hierarchies and the v2 line", () => {
  assert.deepEqual(parseProcCgroup(JOINT_CGROUP).slice(1), [
    { id: 5, controllers: ["net_cls", "net_prio"], path: "/tinyo/abc" },
    { id: 3, controllers: ["cpu", "cpuacct"], path: "/tinyo/abc" },
    { id: 1, controllers: ["name=systemd"], path: "/user.slice/x.scope" },
    { id: 0, controllers: [], path: "/user.slice/x.scope" },
  ]);
  assert.throws(() => parseProcCgroup("garbage\n"), /Cannot parse \/proc\/self\/cgroup/);
});

Deno.test("planCgroupMount() on a hybrid host without cgroupns: tmpfs, own cgroups bound read-only, unified, tmpfs read-only", () => {
  const steps = planCgroupMount(request(false), { mountinfo: HYBRID_MOUNTINFO, procCgroup: HYBRID_CGROUP });
  const bind = (name: string, source: string) => ({ op: "bind", path: name, source, attrs: RO_ATTRS });
  assert.deepEqual(steps, [
    { op: "mount", path: "", source: "tmpfs", fstype: "tmpfs", flags: BASE, data: "mode=755" },
    bind("cpu", "/sys/fs/cgroup/cpu/tinyo/abc"),
    bind("cpuacct", "/sys/fs/cgroup/cpuacct/tinyo/abc"),
    bind("cpuset", "/sys/fs/cgroup/cpuset/tinyo/abc"),
    bind("memory", "/sys/fs/cgroup/memory/tinyo/abc"),
    bind("devices", "/sys/fs/cgroup/devices/tinyo/abc"),
    bind("freezer", "/sys/fs/cgroup/freezer/tinyo/abc"),
    bind("blkio", "/sys/fs/cgroup/blkio/tinyo/abc"),
    bind("pids", "/sys/fs/cgroup/pids/tinyo/abc"),
    bind("systemd", "/sys/fs/cgroup/systemd"),
    bind("unified", "/sys/fs/cgroup/unified"),
    { op: "readonly", path: "" },
  ]);
  // Without "ro" the binds are only nosuid, nodev, noexec, and the tmpfs stays writable.
  const rw = planCgroupMount(request(false, { flags: BASE }), {
    mountinfo: HYBRID_MOUNTINFO,
    procCgroup: HYBRID_CGROUP,
  });
  assert.equal(rw.at(-1)!.op, "bind");
  assert.ok(
    rw.every((s) =>
      s.op !== "bind" || s.attrs === (MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC)
    ),
  );
});

Deno.test("planCgroupMount() on a hybrid host with cgroupns: a fresh mount of each hierarchy", () => {
  const procCgroup = HYBRID_CGROUP.replaceAll("/tinyo/abc", "/");
  const steps = planCgroupMount(request(true), { mountinfo: HYBRID_MOUNTINFO, procCgroup });
  const fresh = (name: string, data: string) => ({
    op: "mount",
    path: name,
    source: "cgroup",
    fstype: "cgroup",
    flags: BASE | MS.RDONLY,
    data,
  });
  assert.deepEqual(steps.slice(1, -2), [
    fresh("cpu", "cpu"),
    fresh("cpuacct", "cpuacct"),
    fresh("cpuset", "cpuset"),
    fresh("memory", "memory"),
    fresh("devices", "devices"),
    fresh("freezer", "freezer"),
    fresh("blkio", "blkio"),
    fresh("pids", "pids"),
    fresh("systemd", "name=systemd"),
  ]);
  assert.deepEqual(steps.at(-2), {
    op: "mount",
    path: "unified",
    source: "cgroup2",
    fstype: "cgroup2",
    flags: BASE | MS.RDONLY,
    data: "",
  });
});

Deno.test("planCgroupMount() links a joint mount's controllers and uses each hierarchy's first mount", () => {
  const host = { mountinfo: JOINT_MOUNTINFO, procCgroup: JOINT_CGROUP };
  const steps = planCgroupMount(request(false), host);
  assert.deepEqual(steps.filter((s) => s.op === "bind").map((s) => [s.path, s.source]), [
    ["systemd", "/sys/fs/cgroup/systemd/user.slice/x.scope"],
    ["cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/tinyo/abc"],
    ["net_cls,net_prio", "/sys/fs/cgroup/net_cls,net_prio/tinyo/abc"],
    ["memory", "/sys/fs/cgroup/memory/tinyo/abc"],
    ["unified", "/sys/fs/cgroup/unified/user.slice/x.scope"],
  ]);
  assert.deepEqual(steps.filter((s) => s.op === "symlink"), [
    { op: "symlink", path: "cpu", target: "cpu,cpuacct" },
    { op: "symlink", path: "cpuacct", target: "cpu,cpuacct" },
    { op: "symlink", path: "net_cls", target: "net_cls,net_prio" },
    { op: "symlink", path: "net_prio", target: "net_cls,net_prio" },
  ]);
  // With a cgroup namespace the joint hierarchy is mounted by its full set of controllers.
  const ns = planCgroupMount(request(true), host);
  assert.ok(ns.some((s) => s.op === "mount" && s.path === "cpu,cpuacct" && s.data === "cpu,cpuacct"));
  assert.ok(
    ns.some((s) => s.op === "mount" && s.path === "net_cls,net_prio" && s.data === "net_cls,net_prio"),
  );
});

Deno.test("planCgroupMount() on a cgroup v2 host: a fresh cgroup2 with cgroupns, the container's own directory without", () => {
  const host = { mountinfo: V2_MOUNTINFO, procCgroup: V2_CGROUP };
  assert.deepEqual(planCgroupMount(request(true), { ...host, procCgroup: "0::/\n" }), [
    {
      op: "mount",
      path: "",
      source: "cgroup2",
      fstype: "cgroup2",
      flags: BASE | MS.RELATIME | MS.RDONLY,
      data: "",
    },
  ]);
  assert.deepEqual(planCgroupMount(request(false), host), [
    { op: "bind", path: "", source: "/sys/fs/cgroup/tinyo.slice/tinyo-abc.scope", attrs: RO_ATTRS },
  ]);
  // A cgroup2 type asks for the same, also on a hybrid host (its unified hierarchy).
  assert.deepEqual(
    planCgroupMount(request(false, { type: "cgroup2" }), host),
    planCgroupMount(request(false), host),
  );
  assert.deepEqual(
    planCgroupMount(request(false, { type: "cgroup2", flags: BASE }), {
      mountinfo: JOINT_MOUNTINFO,
      procCgroup: JOINT_CGROUP,
    }),
    [{
      op: "bind",
      path: "",
      source: "/sys/fs/cgroup/unified/user.slice/x.scope",
      attrs: RO_ATTRS & ~MOUNT_ATTR.RDONLY,
    }],
  );
});

Deno.test("planCgroupMount() refuses a host without cgroups, and a cgroup outside the host's mount", () => {
  assert.throws(
    () =>
      planCgroupMount(request(false), {
        mountinfo: HYBRID_MOUNTINFO.split("\n").slice(0, 6).join("\n"),
        procCgroup: "0::/\n",
      }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'Cannot mount cgroup on "/sys/fs/cgroup": the host has no cgroup filesystem',
  );
  // What a process in a cgroup namespace sees: the host's mount roots lie above its own.
  const inNamespace = V2_MOUNTINFO.replace(" / /sys/fs/cgroup ", " /../.. /sys/fs/cgroup ");
  assert.throws(
    () => planCgroupMount(request(false), { mountinfo: inNamespace, procCgroup: "0::/\n" }),
    /the container's cgroup "\/" is outside the host's mount of it at "\/sys\/fs\/cgroup"/,
  );
  assert.equal(
    planCgroupMount(request(true), { mountinfo: inNamespace, procCgroup: "0::/\n" })[0]!.op,
    "mount",
  );
});

Deno.test("planCgroupMount() plans this machine's own layout", () => {
  const host = readCgroupHost();
  for (const cgroupns of [false, true]) {
    const steps = planCgroupMount(request(cgroupns), host);
    assert.ok(steps.length >= 1);
    for (const s of steps) {
      if (s.op === "bind") assert.ok(Deno.statSync(s.source).isDirectory, s.source);
      assert.ok(!s.path.includes("/"), s.path);
    }
  }
});

/** Runs `mountCgroup` in a fresh rootfs with the fake; returns the rootfs and the calls. */
function runInRootfs(
  host: CgroupHost,
  req: CgroupMountRequest,
  prepare?: (rootfs: string) => void,
): { rootfs: string; sys: FakeSyscalls } {
  const rootfs = Deno.makeTempDirSync({ prefix: "tinyo-cgmount-" });
  const sys = new FakeSyscalls();
  try {
    Deno.mkdirSync(`${rootfs}/sys`);
    prepare?.(rootfs);
    withRoot(rootfs, (root) => mountCgroup(sys, root, { ...req, host }));
    return { rootfs, sys };
  } catch (err) {
    Deno.removeSync(rootfs, { recursive: true });
    throw err;
  }
}

Deno.test("mountCgroup() mounts on descriptors inside the root, links joint controllers, then makes the tmpfs read-only", () => {
  const { rootfs, sys } = runInRootfs(
    { mountinfo: JOINT_MOUNTINFO, procCgroup: JOINT_CGROUP },
    request(false),
  );
  try {
    const dest = `${rootfs}/sys/fs/cgroup`;
    const bind = (name: string, source: string) => [
      { op: "mount", source, target: `${dest}/${name}`, flags: MS.BIND | MS.REC, viaFd: true },
      { op: "mountSetattr", target: `${dest}/${name}`, set: RO_ATTRS, clear: 0, recursive: true },
    ];
    assert.deepEqual(sys.calls, [
      {
        op: "mount",
        source: "tmpfs",
        target: dest,
        fstype: "tmpfs",
        flags: BASE,
        data: "mode=755",
        viaFd: true,
      },
      ...bind("systemd", "/sys/fs/cgroup/systemd/user.slice/x.scope"),
      ...bind("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/tinyo/abc"),
      ...bind("net_cls,net_prio", "/sys/fs/cgroup/net_cls,net_prio/tinyo/abc"),
      ...bind("memory", "/sys/fs/cgroup/memory/tinyo/abc"),
      ...bind("unified", "/sys/fs/cgroup/unified/user.slice/x.scope"),
      // Only the tmpfs itself: what is mounted below keeps its own flags.
      { op: "mountSetattr", target: dest, set: MOUNT_ATTR.RDONLY, clear: 0, recursive: false },
    ]);
    assert.ok(Deno.statSync(`${dest}/cpu,cpuacct`).isDirectory);
    assert.equal(Deno.readLinkSync(`${dest}/cpu`), "cpu,cpuacct");
    assert.equal(Deno.readLinkSync(`${dest}/net_prio`), "net_cls,net_prio");
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("mountCgroup() with cgroupns mounts cgroup2 fresh on a v2 host", () => {
  const { rootfs, sys } = runInRootfs({ mountinfo: V2_MOUNTINFO, procCgroup: "0::/\n" }, request(true));
  try {
    assert.deepEqual(sys.calls, [{
      op: "mount",
      source: "cgroup2",
      target: `${rootfs}/sys/fs/cgroup`,
      fstype: "cgroup2",
      flags: BASE | MS.RELATIME | MS.RDONLY,
      viaFd: true,
    }]);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("mountCgroup() refuses a destination that goes through a symlink", () => {
  assert.throws(
    () =>
      runInRootfs({ mountinfo: V2_MOUNTINFO, procCgroup: V2_CGROUP }, request(false), (rootfs) => {
        Deno.mkdirSync(`${rootfs}/elsewhere`);
        Deno.mkdirSync(`${rootfs}/sys/fs`);
        Deno.symlinkSync("/elsewhere", `${rootfs}/sys/fs/cgroup`);
      }),
    /goes through a symlink/,
  );
});

Deno.test("applyMount() hands cgroup mounts to mountCgroup, with the propagation of the options last", () => {
  const rootfs = Deno.makeTempDirSync({ prefix: "tinyo-cgmount-" });
  try {
    const sys = new FakeSyscalls();
    withRoot(rootfs, (root) =>
      applyMount(sys, root, {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"],
      }, { cgroupns: true, cgroupHost: { mountinfo: V2_MOUNTINFO, procCgroup: "0::/\n" } }));
    assert.deepEqual(sys.calls.map((c) => c.op === "mount" ? [c.fstype, c.flags] : [c.op]), [
      ["cgroup2", BASE | MS.RELATIME | MS.RDONLY],
      [undefined, MS.PRIVATE | MS.REC],
    ]);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

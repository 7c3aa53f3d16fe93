import assert from "node:assert/strict";
import { FakeSyscalls } from "../helpers/fake_syscalls.ts";
import { planExec, setupContainer } from "../../runtime/init.ts";
import { buildRunSpec, type RunOptions } from "../../runtime/run_spec.ts";
import { type Spec, validateSpec } from "../../runtime/spec.ts";
import { CLONE, MNT, MS, PR, SyscallError } from "../../runtime/syscalls.ts";
import { CommandNotFoundError } from "../../runtime/errors.ts";

function makeRootfs(): string {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-init-" });
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp"]) Deno.mkdirSync(`${dir}/${d}`);
  return dir;
}

const BASE: RunOptions = {
  image: "/img.tar.gz",
  command: ["/bin/sh", "-c", "true"],
  env: [],
  volumes: [],
  readOnly: false,
  rootfsRw: false,
  network: "none",
};

function specFor(rootfs: string, opts: Partial<RunOptions> = {}): Spec {
  const etc = { hostname: "/dev/null", hosts: "/dev/null", resolvConf: "/dev/null" };
  return validateSpec(buildRunSpec({ ...BASE, ...opts }, { id: "abcdef0123456789", rootfs, etc }));
}

Deno.test("setupContainer() runs the steps in order: pdeathsig, namespaces, hostname, lo, mounts, pivot, identity", () => {
  const rootfs = makeRootfs();
  try {
    const sys = new FakeSyscalls();
    const spec = specFor(rootfs);
    spec.process!.user = { uid: 1000, gid: 100 };
    setupContainer(sys, spec, {
      bundle: "/bundle",
      rootfs: { lower: ["/images/x/rootfs"], upper: "/c/upper", work: "/c/work" },
    });
    const ops = sys.calls.map((c) => c.op);
    assert.deepEqual(sys.calls[0], { op: "prctl", option: PR.SET_PDEATHSIG, arg: 9, arg3: 0 });
    assert.deepEqual(sys.calls[1], {
      op: "unshare",
      flags: CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWCGROUP | CLONE.NEWNET,
    });
    assert.deepEqual(sys.calls[2], { op: "sethostname", name: "abcdef012345" });
    assert.deepEqual(sys.calls[3], { op: "linkUp", name: "lo" });
    // Host mounts are made private before anything is mounted.
    assert.deepEqual(sys.calls[4], { op: "mount", source: "", target: "/", flags: MS.REC | MS.PRIVATE });
    assert.deepEqual(sys.calls[5], {
      op: "mount",
      source: "overlay",
      target: rootfs,
      fstype: "overlay",
      flags: 0,
      data: "lowerdir=/images/x/rootfs,upperdir=/c/upper,workdir=/c/work",
    });
    const mountTargets = sys.of("mount").map((m) => m.target);
    const pivotAt = ops.indexOf("pivotRoot");
    const procAt = sys.calls.findIndex((c) => c.op === "mount" && c.target === `${rootfs}/proc`);
    assert.ok(procAt > 5 && procAt < pivotAt, "proc is mounted by the init, under the rootfs, before pivot");
    assert.ok(mountTargets.includes(`${rootfs}/dev/pts`));
    assert.ok(mountTargets.includes(`${rootfs}/etc/hostname`));
    // /dev nodes exist before pivot.
    assert.equal(sys.of("mknod").length, 6);
    assert.ok(ops.lastIndexOf("mknod") < pivotAt);
    // The pivot sequence: chdir rootfs, pivot(".", "."), old root slave, detached, chdir /.
    assert.deepEqual(sys.calls.slice(pivotAt - 1, pivotAt + 4), [
      { op: "chdir", path: rootfs },
      { op: "pivotRoot", newRoot: ".", putOld: "." },
      { op: "mount", source: "", target: ".", flags: MS.SLAVE | MS.REC },
      { op: "umount2", target: ".", flags: MNT.DETACH },
      { op: "chdir", path: "/" },
    ]);
    // Identity last: bounding set trimmed while root, caps kept across setuid,
    // groups, gid, uid, then the capability sets, ambient cleared, no_new_privs.
    const tail = sys.calls.slice(
      sys.calls.findIndex((c) => c.op === "prctl" && c.option === PR.CAPBSET_DROP),
    );
    const drops = tail.filter((c) => c.op === "prctl" && c.option === PR.CAPBSET_DROP);
    const lastCap = Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap"));
    assert.equal(
      drops.length,
      lastCap + 1 - 14,
      "all but the 14 default capabilities leave the bounding set",
    );
    assert.ok(!drops.some((c) => c.op === "prctl" && c.arg === 0), "CAP_CHOWN stays");
    assert.deepEqual(tail.slice(drops.length), [
      { op: "prctl", option: PR.SET_KEEPCAPS, arg: 1, arg3: 0 },
      { op: "setgroups", gids: [] },
      { op: "setgid", gid: 100 },
      { op: "setuid", uid: 1000 },
      // docker's default set is the well-known mask 0xa80425fb.
      { op: "capset", effective: [0xa80425fb, 0], permitted: [0xa80425fb, 0], inheritable: [0xa80425fb, 0] },
      { op: "prctl", option: PR.CAP_AMBIENT, arg: PR.CAP_AMBIENT_CLEAR_ALL, arg3: 0 },
      { op: "prctl", option: PR.SET_NO_NEW_PRIVS, arg: 1, arg3: 0 },
    ]);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("setupContainer() stops at the first failing call: no pivot after a failed mount", () => {
  const rootfs = makeRootfs();
  try {
    const sys = new FakeSyscalls().failOn("mount", "EPERM", {
      when: (c) => c.op === "mount" && c.target.endsWith("/sys"),
    });
    assert.throws(
      () => setupContainer(sys, specFor(rootfs), { bundle: "/b" }),
      (err: unknown) => err instanceof SyscallError && err.code === "EPERM" && err.syscall === "mount",
    );
    assert.equal(sys.of("pivotRoot").length, 0);
    assert.equal(sys.of("setuid").length, 0);
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("setupContainer() with --network host keeps the host network and does not touch lo", () => {
  const rootfs = makeRootfs();
  try {
    const sys = new FakeSyscalls();
    setupContainer(sys, specFor(rootfs, { network: "host" }), { bundle: "/b" });
    assert.equal(sys.of("linkUp").length, 0);
    assert.equal(sys.of("unshare")[0]!.flags & CLONE.NEWNET, 0);
    // Without overlay information the rootfs is bound onto itself.
    assert.ok(sys.calls.some((c) =>
      c.op === "mount" && c.source === rootfs && c.target === rootfs &&
      c.flags === (MS.BIND | MS.REC)
    ));
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("setupContainer() remounts the root read-only for --read-only and creates the workdir first", () => {
  const rootfs = makeRootfs();
  try {
    const sys = new FakeSyscalls();
    setupContainer(sys, specFor(rootfs, { readOnly: true, workdir: "/app/data" }), { bundle: "/b" });
    const ro = sys.calls.findIndex((c) =>
      c.op === "mount" && c.target === "/" && c.flags === (MS.BIND | MS.REMOUNT | MS.RDONLY | MS.REC)
    );
    assert.ok(ro > sys.calls.findIndex((c) => c.op === "pivotRoot"));
    assert.ok(Deno.statSync(`${rootfs}/app/data`).isDirectory);
    assert.ok(sys.calls.some((c) => c.op === "chdir" && c.path === "/app/data"));
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("setupContainer() joins namespaces given by path before creating the others", () => {
  const rootfs = makeRootfs();
  try {
    const sys = new FakeSyscalls();
    const spec = specFor(rootfs);
    spec.linux!.namespaces = [
      { type: "pid" },
      { type: "network", path: "/proc/42/ns/net" },
      { type: "mount" },
      { type: "uts" },
    ];
    setupContainer(sys, spec, { bundle: "/b" });
    assert.deepEqual(sys.calls.slice(1, 3), [
      { op: "setns", path: "/proc/42/ns/net", nstype: CLONE.NEWNET },
      { op: "unshare", flags: CLONE.NEWNS | CLONE.NEWUTS },
    ]);
    assert.equal(sys.of("linkUp").length, 0, "a joined network namespace is not reconfigured");
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("planExec() resolves the command in the container's PATH and fails with 127", () => {
  const spec = specFor("/nonexistent", { command: ["no-such-tinyo-cmd"], env: ["PATH=/nonexistent/bin"] });
  assert.throws(
    () => planExec(spec),
    (e: unknown) => e instanceof CommandNotFoundError && e.exitCode === 127,
  );
  const sh = planExec(specFor("/x", { command: ["sh", "-c", "x"], env: ["PATH=/bin:/usr/bin"] }));
  assert.equal(sh.path, "/bin/sh");
  assert.deepEqual(sh.argv, ["sh", "-c", "x"]);
});

import assert from "node:assert/strict";
import { FakeSyscalls } from "../../helpers/fake_syscalls.ts";
import { closeLeakedFds, planExec, readLastCap, setupContainer } from "../../../runtime/container/init.ts";
import { buildRunSpec, type RunOptions } from "../../../runtime/model/run_spec.ts";
import { type Spec, validateSpec } from "../../../runtime/model/spec.ts";
import { CLONE, MNT, MS, O, PR, processCalls, SyscallError } from "../../../runtime/syscalls.ts";
import { CannotExecuteError, CommandNotFoundError } from "../../../runtime/errors.ts";

function makeRootfs(): string {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-init-" });
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp"]) Deno.mkdirSync(`${dir}/${d}`);
  // The command the specs run, found (not executed) inside the root.
  Deno.writeTextFileSync(`${dir}/bin/sh`, "", { mode: 0o755 });
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
      lastCap + 1 - 11,
      "all but the 11 default capabilities leave the bounding set",
    );
    assert.ok(!drops.some((c) => c.op === "prctl" && c.arg === 0), "CAP_CHOWN stays");
    assert.deepEqual(tail.slice(drops.length), [
      { op: "prctl", option: PR.SET_KEEPCAPS, arg: 1, arg3: 0 },
      { op: "setgroups", gids: [] },
      { op: "setgid", gid: 100 },
      { op: "setuid", uid: 1000 },
      // podman's default set (docker's without MKNOD, NET_RAW, AUDIT_WRITE) is the mask 0x800405fb.
      { op: "capset", effective: [0x800405fb, 0], permitted: [0x800405fb, 0], inheritable: [0, 0] },
      { op: "prctl", option: PR.CAP_AMBIENT, arg: PR.CAP_AMBIENT_CLEAR_ALL, arg3: 0 },
      { op: "prctl", option: PR.SET_NO_NEW_PRIVS, arg: 1, arg3: 0 },
      // setuid cleared the parent-death signal: it is set again.
      { op: "prctl", option: PR.SET_PDEATHSIG, arg: 9, arg3: 0 },
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
    // Entered through a descriptor opened inside the root (fchdir).
    assert.ok(sys.calls.some((c) => c.op === "fchdir" && c.path === `${rootfs}/app/data`));
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
  const root = processCalls.open("/", O.PATH | O.DIRECTORY | O.CLOEXEC);
  try {
    const spec = specFor("/nonexistent", { command: ["no-such-tinyo-cmd"], env: ["PATH=/nonexistent/bin"] });
    assert.throws(
      () => planExec(spec, root),
      (e: unknown) => e instanceof CommandNotFoundError && e.exitCode === 127,
    );
    const sh = planExec(specFor("/x", { command: ["sh", "-c", "x"], env: ["PATH=/bin:/usr/bin"] }), root);
    assert.equal(sh.path, "/bin/sh");
    assert.deepEqual(sh.argv, ["sh", "-c", "x"]);
    assert.equal(Deno.readLinkSync(`/proc/self/fd/${sh.fd}`), Deno.realPathSync("/bin/sh"));
    processCalls.close(sh.fd);
  } finally {
    processCalls.close(root);
  }
});

Deno.test("planExec() follows no link through /proc: a command or #! interpreter leading out is refused", () => {
  // The host's root stands for the container's: it has a /proc to link through.
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-exec-path-" });
  const root = processCalls.open("/", O.PATH | O.DIRECTORY | O.CLOEXEC);
  try {
    Deno.mkdirSync(`${dir}/bin`);
    Deno.writeTextFileSync(`${dir}/bin/real`, `#!${dir}/bin/inner\n`, { mode: 0o755 });
    Deno.writeTextFileSync(`${dir}/bin/inner`, "\x7fELF", { mode: 0o755 });
    Deno.symlinkSync("/proc/self/root/bin/sh", `${dir}/bin/magic`);
    Deno.writeTextFileSync(`${dir}/bin/script`, "#!/proc/self/root/bin/sh\n", { mode: 0o755 });
    const env = [`PATH=${dir}/bin`];
    const ok = planExec(specFor(dir, { command: ["real"], env }), root);
    assert.equal(ok.path, `${dir}/bin/real`);
    processCalls.close(ok.fd);
    for (const command of ["magic", `${dir}/bin/magic`, "script"]) {
      assert.throws(
        () => planExec(specFor(dir, { command: [command], env }), root),
        (e: unknown) => e instanceof CannotExecuteError && /leads out of the container/.test(e.message),
        command,
      );
    }
    // A relative command is taken from the working directory, inside the root.
    const spec = specFor(dir, { command: ["./real"], env });
    spec.process!.cwd = `${dir}/bin`;
    const rel = planExec(spec, root);
    assert.equal(rel.path, `${dir}/bin/./real`);
    processCalls.close(rel.fd);
  } finally {
    processCalls.close(root);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("setupContainer() leaves the mount namespace to the runtime that made it; joins pidfds first", () => {
  const rootfs = makeRootfs();
  const [r, w] = processCalls.pipe2(O.CLOEXEC);
  try {
    const sys = new FakeSyscalls();
    const spec = specFor(rootfs);
    spec.linux!.namespaces = [
      { type: "pid" },
      { type: "network", path: "/proc/42/ns/net" },
      { type: "ipc", path: "/proc/42/ns/ipc" },
      { type: "mount" },
      { type: "uts" },
    ];
    // A pidfd stands in for the process whose network and IPC namespaces are joined.
    const fd = processCalls.dup(r);
    setupContainer(sys, spec, {
      bundle: "/b",
      mountNamespaceCreated: true,
      joinPidfds: [{ fd, flags: CLONE.NEWNET | CLONE.NEWIPC }],
    }, { lastCap: 40, syncFd: w });
    assert.deepEqual(sys.calls.slice(1, 3), [
      { op: "setnsFd", what: "a container's namespaces", nstype: CLONE.NEWNET | CLONE.NEWIPC },
      // No path join for what the pidfd joined, and no NEWNS: the init was born in it.
      { op: "unshare", flags: CLONE.NEWUTS },
    ]);
    assert.equal(sys.of("setns").length, 0);
  } finally {
    processCalls.close(r);
    processCalls.close(w);
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("setupContainer() stops when the runtime died before the parent-death signal was set", () => {
  const rootfs = makeRootfs();
  const [r, w] = processCalls.pipe2(O.CLOEXEC);
  try {
    processCalls.close(r); // the runtime's end: gone
    const sys = new FakeSyscalls();
    assert.throws(
      () => setupContainer(sys, specFor(rootfs), { bundle: "/b" }, { lastCap: 40, syncFd: w }),
      /runtime that started this container is gone/,
    );
    assert.deepEqual(sys.calls.map((c) => c.op), ["prctl"], "nothing after the parent-death signal");
  } finally {
    processCalls.close(w);
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("readLastCap() reads the host's value and refuses one it cannot trust", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assert.equal(readLastCap(), Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap")));
    for (const bad of ["", "abc", "3", "99", "-1"]) {
      Deno.writeTextFileSync(`${dir}/cap`, bad);
      assert.throws(() => readLastCap(`${dir}/cap`), /Cannot trust/);
    }
    assert.throws(() => readLastCap(`${dir}/missing`), /Cannot read/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("closeLeakedFds() closes inherited descriptors, keeps close-on-exec ones and those asked for", () => {
  const [r, w] = processCalls.pipe2(O.CLOEXEC);
  const leaked = processCalls.dup(r); // dup() clears close-on-exec: what a careless caller passes
  const kept = processCalls.dup(w);
  try {
    closeLeakedFds([kept]);
    assert.equal(processCalls.isCloexec(leaked), undefined, "the leaked descriptor is closed");
    assert.equal(processCalls.isCloexec(kept), false, "a descriptor to keep stays open");
    assert.equal(processCalls.isCloexec(r), true, "close-on-exec ones stay");
  } finally {
    for (const fd of [r, w, kept]) processCalls.close(fd);
  }
});

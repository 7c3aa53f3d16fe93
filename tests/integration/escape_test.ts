/**
 * The attacks of the security issue, each as it was found: a hostile image,
 * a hostile container, a careless caller, a hostile mirror. Every assertion
 * looks at the host after the attack (device contents, host file modes,
 * files that must not exist, processes that must still live, the caller's
 * terminal), not only at tinyo's exit code: refusing to start would pass an
 * exit-code check, and proves nothing.
 */

import assert from "node:assert/strict";
import {
  ALPINE_320,
  IGNORE_ROOT,
  leftovers,
  listDir,
  makeRoot,
  Output,
  spawnTinyo,
  tinyo,
  tinyoArgv,
  waitFor,
} from "../helpers/tinyo.ts";
import { tar } from "../helpers/tar_builder.ts";
import { startMirror } from "../helpers/mirror.ts";
import { processStartTime } from "../../runtime/host/proc.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-escape-");
const IMG = ALPINE_320;
const dec = new TextDecoder();

function sh(script: string): { code: number; out: string; err: string } {
  const r = new Deno.Command("bash", { args: ["-c", script], stdout: "piped", stderr: "piped" }).outputSync();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

async function run(args: string[], script: string): Promise<{ code: number; out: string; err: string }> {
  const r = await tinyo(ROOT, ["run", "-q", ...args, IMG, "sh", "-c", script]);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** The container cgroup directories that exist now, on either hierarchy. */
function tinyoCgroups(): string[] {
  const out: string[] = [];
  for (const base of ["/sys/fs/cgroup", ...listDir("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}`)]) {
    for (const id of listDir(`${base}/tinyo`)) {
      try {
        if (Deno.statSync(`${base}/tinyo/${id}`).isDirectory) out.push(`${base}/tinyo/${id}`);
      } catch {
        // Removed meanwhile.
      }
    }
  }
  return out;
}

/** Asserts that nothing of containers is left under ROOT nor in the cgroup tree. */
function assertClean(cgroupsBefore: readonly string[]): void {
  assert.deepEqual(leftovers(ROOT), []);
  const left = tinyoCgroups().filter((d) => !cgroupsBefore.includes(d));
  assert.deepEqual(left, [], "container cgroups left behind");
}

/** The probe (tests/helpers/probe.c), compiled statically once. */
let probePath: string | undefined;
function probe(): string {
  if (probePath !== undefined) return probePath;
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-probe-" });
  const src = new URL("../helpers/probe.c", import.meta.url).pathname;
  const r = sh(`gcc -static -O1 -o ${dir}/probe ${src}`);
  if (r.code !== 0) throw new Error(`Cannot build the probe (gcc -static, libc6-dev): ${r.err}`);
  probePath = `${dir}/probe`;
  return probePath;
}

/** An unpacked Alpine tree to use with --rootfs (images ship what we put there). */
let alpineDir: string | undefined;
async function alpineTree(): Promise<string> {
  if (alpineDir !== undefined) return alpineDir;
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-escape-tree-" });
  const r = await tinyo(ROOT, ["unpack", IMG, dir]);
  assert.equal(r.code, 0, r.stderr);
  alpineDir = dir;
  return dir;
}

/** A loop device over a file that starts with `marker`; detached in `finally`. */
function loopDevice(marker: string): { dev: string; minor: number; file: string; detach(): void } {
  const file = Deno.makeTempFileSync({ prefix: "tinyo-loop-" });
  const data = new Uint8Array(1024 * 1024);
  data.set(new TextEncoder().encode(marker));
  Deno.writeFileSync(file, data);
  const r = sh(`losetup -f --show ${file}`);
  assert.equal(r.code, 0, r.err);
  const dev = r.out.trim();
  return {
    dev,
    minor: Number(/loop(\d+)$/.exec(dev)![1]),
    file,
    detach(): void {
      sh(`losetup -d ${dev}`);
      Deno.removeSync(file);
    },
  };
}

/** The first bytes of a host block device, read by the host. */
function deviceHead(dev: string, n: number): string {
  return sh(`dd if=${dev} bs=512 count=1 iflag=direct 2>/dev/null | head -c ${n}`).out;
}

// --- 1. Host devices -------------------------------------------------------

Deno.test(
  "escape: a container cannot read or write a host block device it makes with mknod",
  opts,
  async () => {
    const before = tinyoCgroups();
    const marker = `TINYO-MARKER-${crypto.randomUUID().slice(0, 8)}`;
    const loop = loopDevice(marker);
    try {
      assert.equal(deviceHead(loop.dev, marker.length), marker);
      const attack =
        `mknod /tmp/bd b 7 ${loop.minor}; echo mknod=$?; head -c ${marker.length} /tmp/bd; echo; ` +
        `dd if=/dev/zero of=/tmp/bd bs=512 count=1 conv=notrunc 2>&1; echo dd=$?`;
      // Default: no CAP_MKNOD (podman's set), so the node cannot even be made.
      const dflt = await run([], attack);
      assert.doesNotMatch(dflt.out, new RegExp(marker));
      assert.match(dflt.out, /mknod=1/);
      // Even given CAP_MKNOD, the device cgroup refuses to open the node.
      const mknod = await run(["--cap-add", "MKNOD"], attack);
      assert.match(mknod.out, /mknod=0/, "with MKNOD the node itself can be made");
      assert.doesNotMatch(mknod.out, new RegExp(marker));
      assert.match(mknod.out, /Operation not permitted/);
      assert.match(mknod.out, /dd=1/);
      // The host's device is as it was.
      assert.equal(deviceHead(loop.dev, marker.length), marker);
    } finally {
      loop.detach();
    }
    assertClean(before);
  },
);

Deno.test("escape: /dev/net/tun and /dev/fuse made with mknod do not open", opts, async () => {
  const r = await run(
    ["--cap-add", "MKNOD"],
    "mknod /tmp/tun c 10 200 && cat /tmp/tun 2>&1; mknod /tmp/fuse c 10 229 && cat /tmp/fuse 2>&1; echo done",
  );
  assert.match(r.out, /done/);
  assert.doesNotMatch(r.out, /File descriptor in bad state/, "tun opened (EBADFD comes from the tun driver)");
  assert.equal((r.out.match(/Operation not permitted/g) ?? []).length, 2, r.out);
});

Deno.test("escape: device nodes an image ships are just as useless", opts, async () => {
  const marker = `TINYO-MARKER-${crypto.randomUUID().slice(0, 8)}`;
  const loop = loopDevice(marker);
  const tree = await alpineTree();
  try {
    sh(`mknod ${tree}/evil-disk b 7 ${loop.minor}; mknod ${tree}/evil-mem c 1 1`);
    const r = await tinyo(ROOT, [
      "run",
      "--rootfs",
      tree,
      "sh",
      "-c",
      `head -c ${marker.length} /evil-disk; echo; head -c 1 /evil-mem; echo rc=$?`,
    ]);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(marker));
    assert.match(r.stdout + r.stderr, /evil-disk: Operation not permitted/);
    assert.match(r.stdout + r.stderr, /evil-mem: Operation not permitted/);
    assert.equal(deviceHead(loop.dev, marker.length), marker);
  } finally {
    sh(`rm -f ${tree}/evil-disk ${tree}/evil-mem`);
    loop.detach();
  }
});

// --- The init's binary (CVE-2019-5736) -------------------------------------

Deno.test(
  "escape: a container cannot rewrite the host's runtime binary through /proc/self/exe",
  opts,
  async () => {
    const before = tinyoCgroups();
    const work = Deno.makeTempDirSync({ prefix: "tinyo-exe-" });
    const root = makeRoot("tinyo-exe-root-");
    try {
      // tinyo runs from a copy of Deno, so whatever happens the real one is safe.
      const deno = `${work}/deno`;
      Deno.copyFileSync(Deno.execPath(), deno);
      Deno.chmodSync(deno, 0o755);
      const sum = (): string => sh(`sha256sum ${deno}`).out.split(" ")[0]!;
      const original = sum();
      // An image that ships glibc (any Debian-based image does)...
      const tree = `${work}/tree`;
      assert.equal(sh(`mkdir -p ${tree} && tar -xzf ${IMG} -C ${tree}`).code, 0);
      for (const lib of sh(`ldd ${Deno.execPath()}`).out.matchAll(/(\/lib[^\s]*)/g)) {
        sh(`mkdir -p ${tree}$(dirname ${lib[1]}) && cp -L ${lib[1]} ${tree}${lib[1]}`);
      }
      // ...and whose command is a script run by /proc/self/exe: the kernel
      // would start the init's own binary (the host's Deno) as the
      // interpreter; the script would keep a descriptor of that binary across
      // an execve into sh, so nothing runs it any more (no ETXTBSY), and
      // write through it.
      Deno.writeTextFileSync(
        `${tree}/evil`,
        `#!/proc/self/exe -A
const libc = Deno.dlopen("libc.so.6", {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  execv: { parameters: ["buffer", "buffer"], result: "i32" },
});
const c = (s) => new TextEncoder().encode(s + "\\0");
const fd = libc.symbols.open(c("/proc/self/exe"), 0o10000000, 0);
const args = ["/bin/sh", "-c", "sleep 1; if echo PWNED > /proc/self/fd/" + fd + "; then echo WROTE; else echo REFUSED; fi"].map(c);
const argv = new BigUint64Array(args.length + 1);
args.forEach((a, i) => argv[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a))));
console.log("fd", fd);
libc.symbols.execv(args[0], new Uint8Array(argv.buffer));
`,
      );
      Deno.chmodSync(`${tree}/evil`, 0o755);
      // Detached: only conmon stays on the host side, nothing keeps the binary busy.
      const run = new Deno.Command(deno, {
        args: [
          "run",
          "-A",
          "--no-config",
          "--quiet",
          new URL("../../main.ts", import.meta.url).pathname,
          "--root",
          root,
          "run",
          "-d",
          "-q",
          "--network",
          "none",
          "--name",
          "evil",
          "--rootfs",
          tree,
          "/evil",
        ],
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
      // The interpreter path leads out of the container through a magic link:
      // refused before anything runs (and were it not, the binary the init runs
      // is a read-only bind of itself: the write would fail, EROFS).
      assert.equal(run.code, 126, dec.decode(run.stderr));
      assert.match(dec.decode(run.stderr), /interpreter "\/proc\/self\/exe" leads out of the container/);
      assert.equal(sum(), original, "the runtime's binary changed");
      await tinyo(root, ["rm", "-f", "evil"]);
      assert.deepEqual(leftovers(root), []);
    } finally {
      Deno.removeSync(work, { recursive: true });
      Deno.removeSync(root, { recursive: true });
    }
    assertClean(before);
  },
);

// --- 2. Image metadata through symlinks -------------------------------------

Deno.test("escape: an archive cannot make a host file setuid (unpack, import, run)", opts, async () => {
  const victim = Deno.makeTempFileSync({ prefix: "tinyo-victim-" });
  Deno.writeTextFileSync(victim, "#!/bin/sh\n");
  Deno.chmodSync(victim, 0o755);
  const archive = Deno.makeTempFileSync({ prefix: "tinyo-hostile-", suffix: ".tar" });
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-hostile-out-" });
  try {
    Deno.writeFileSync(
      archive,
      tar([
        { name: "bin/sh", data: "#!", mode: 0o755 },
        { name: "x", type: "5", mode: 0o6755, uid: 0, gid: 0 },
        { name: "x", type: "2", linkname: victim },
      ]),
    );
    await tinyo(ROOT, ["unpack", archive, `${dir}/out`]);
    await tinyo(ROOT, ["import", "-q", archive, "hostile:1"]);
    await tinyo(ROOT, ["run", "-q", archive, "true"]);
    assert.equal((Deno.statSync(victim).mode ?? 0) & 0o7777, 0o755, "the host file became setuid/setgid");
  } finally {
    Deno.removeSync(victim);
    Deno.removeSync(archive);
    Deno.removeSync(dir, { recursive: true });
    await tinyo(ROOT, ["rmi", "hostile:1"]);
  }
});

// --- 3. Leaked descriptors --------------------------------------------------

Deno.test("escape: descriptors the caller leaked do not reach the container", opts, () => {
  const before = tinyoCgroups();
  const hostDir = Deno.makeTempDirSync({ prefix: "tinyo-leak-" });
  const marker = `LEAKED-${crypto.randomUUID().slice(0, 8)}`;
  Deno.writeTextFileSync(`${hostDir}/${marker}`, "host");
  try {
    const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
    const cmd = [
      Deno.execPath(),
      ...tinyoArgv(ROOT, [
        "run",
        "-q",
        IMG,
        "sh",
        "-c",
        "ls /proc/self/fd/; ls /proc/self/fd/9/ /proc/self/fd/10/ /proc/self/fd/251/ 2>&1; echo end",
      ]),
    ]
      .map(q).join(" ");
    const r = sh(`exec 9<${hostDir} 10<${hostDir} 251<${hostDir}; ${cmd}`);
    assert.match(r.out, /end/, r.err);
    assert.doesNotMatch(
      r.out,
      new RegExp(marker),
      "the container listed a host directory through a leaked fd",
    );
    // Only stdio (and ls's own directory descriptor) are open in there.
    const fds = r.out.split("\n")[0]!.trim().split(/\s+/).map(Number);
    assert.ok(fds.every((fd) => fd <= 3), `unexpected descriptors in the container: ${fds}`);
  } finally {
    Deno.removeSync(hostDir, { recursive: true });
  }
  assertClean(before);
});

// --- 4. run -d that fails ---------------------------------------------------

Deno.test("escape: run -d of a missing command says why, exits 127 and leaves nothing", opts, async () => {
  const before = tinyoCgroups();
  const r = await tinyo(ROOT, ["run", "-d", "-q", IMG, "nosuchcmd"]);
  assert.equal(r.code, 127, r.stderr);
  assert.match(r.stderr, /^tinyo: Cannot run "nosuchcmd": executable file not found in \$PATH/);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  const ps = await tinyo(ROOT, ["ps", "-a", "-q"]);
  assert.equal(ps.stdout.trim(), "");
  assertClean(before);
});

// --- 6. Corrupt and legal gzip ----------------------------------------------

Deno.test("escape: a gzip with a bad CRC is refused; a multi-member gzip is accepted", opts, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-gz-" });
  try {
    const whole = Deno.readFileSync(IMG);
    // Flip one bit of the CRC32 in the trailer (the last 8 bytes: CRC32, ISIZE).
    const bad = whole.slice();
    bad[bad.length - 8]! ^= 1;
    Deno.writeFileSync(`${dir}/bad.tar.gz`, bad);
    const r = await tinyo(ROOT, ["unpack", `${dir}/bad.tar.gz`, `${dir}/out-bad`]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /incorrect data check|checksum/);
    assert.deepEqual(listDir(`${dir}/out-bad`), [], "a refused archive leaves nothing");
    // The same tar split into two gzip members, as `cat a.gz b.gz` or pigz make.
    const plain = sh(`gzip -dc ${IMG}`);
    assert.equal(plain.code, 0);
    sh(
      `gzip -dc ${IMG} > ${dir}/all.tar && head -c 1000000 ${dir}/all.tar | gzip > ${dir}/multi.tar.gz && ` +
        `tail -c +1000001 ${dir}/all.tar | gzip >> ${dir}/multi.tar.gz`,
    );
    const ok = await tinyo(ROOT, ["run", "-q", `${dir}/multi.tar.gz`, "cat", "/etc/alpine-release"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), "3.20.3");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// --- 7. The init's window ---------------------------------------------------

Deno.test(
  "escape: a waiting init leaks neither the host root nor its environment to the container",
  opts,
  async () => {
    const before = tinyoCgroups();
    for (const capAdd of [[], ["--cap-add", "SYS_PTRACE"]]) {
      const id = await createWaiting(capAdd);
      try {
        const rec = JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${id}.json`));
        const pid = rec.pid as number;
        assert.ok(listDir(`/proc/${pid}/task`).length > 1, "the init is a multi-threaded Deno process");
        // A root process with exactly the container's capabilities (what a
        // process inside has) reads what it can of the init: every thread's
        // root and working directory (Deno's threads are not the main thread).
        const spec = JSON.parse(Deno.readTextFileSync(`${rec.bundle}/config.json`));
        const caps = (spec.process.capabilities.permitted as string[]).map((c) =>
          `+${c.slice(4).toLowerCase()}`
        );
        const r = sh(
          `setpriv --inh-caps=-all --bounding-set=-all,${caps.join(",")} ` +
            `sh -c 'for t in /proc/${pid}/task/*; do ls -d $t/root/* $t/cwd/* 2>&1; done; ` +
            `head -c 100 /proc/${pid}/environ 2>&1; echo'`,
        );
        // Only the host has these at its root (the checkout lives in /work).
        assert.doesNotMatch(
          r.out,
          /root\/work\b|cwd\/(work|main|shared|tests)\b/,
          `host root reachable:\n${r.out}`,
        );
        if (capAdd.length === 0) {
          assert.doesNotMatch(r.out, /TINYO_INIT/, "the init's environment is readable");
          assert.match(r.out, /Permission denied/);
        }
      } finally {
        await tinyo(ROOT, ["rm", "-f", id]);
      }
    }
    assertClean(before);
  },
);

/**
 * Prepares a container the way `run -d` does and runs `tinyo create` on it,
 * so that its init is left set up and waiting on its exec FIFO.
 */
async function createWaiting(runArgs: string[]): Promise<string> {
  const { prepareContainer } = await import("../../runtime/host/run.ts");
  const { parseRunArgs } = await import("../../runtime/cli/run.ts");
  const { resolveLayout } = await import("../../runtime/host/records.ts");
  const layout = resolveLayout(ROOT);
  const parsed = parseRunArgs(["--network", "none", ...runArgs, IMG, "sleep", "60"]);
  if (parsed === "help") throw new Error("unexpected help");
  const c = await prepareContainer(layout, parsed, { pull: "never" }, { detached: true });
  Deno.writeTextFileSync(
    `${c.dir}/init.json`,
    JSON.stringify({ launch: c.launch }),
  );
  // The waiting init keeps create's stdio: give it none, so nothing blocks on it.
  const status = await new Deno.Command(Deno.execPath(), {
    args: tinyoArgv(ROOT, ["create", "--bundle", c.dir, c.id]),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn().status;
  assert.equal(status.code, 0);
  // This test process wrote the record, as `run -d` would before conmon
  // takes over: hand it to nobody, so that `rm -f` does not wait for us.
  const recPath = `${ROOT}/state/${c.id}.json`;
  const rec = JSON.parse(Deno.readTextFileSync(recPath));
  Deno.writeTextFileSync(recPath, JSON.stringify({ ...rec, ownerPid: 999_999_999, ownerStartTime: 1 }));
  return c.id;
}

// --- 8. The working directory ------------------------------------------------

Deno.test("escape: a workdir symlink through /proc magic links cannot reach the host", opts, async () => {
  const tree = await alpineTree();
  const hostDir = Deno.makeTempDirSync({ prefix: "tinyo-wd-" });
  const marker = `HOSTDIR-${crypto.randomUUID().slice(0, 8)}`;
  Deno.writeTextFileSync(`${hostDir}/${marker}`, "host");
  const links: string[] = [];
  try {
    // The init is PID 1 of the new PID namespace and Deno's threads get the
    // next tids; their root is still the host's until execve.
    for (let tid = 2; tid <= 12; tid++) {
      links.push(`${tree}/wd${tid}`);
      Deno.symlinkSync(`/proc/self/task/${tid}/root${hostDir}`, `${tree}/wd${tid}`);
    }
    Deno.symlinkSync(`/proc/1/cwd/../../../../../..${hostDir}`, `${tree}/wdcwd`);
    links.push(`${tree}/wdcwd`);
    for (const link of links) {
      const wd = link.slice(tree.length);
      const r = await tinyo(ROOT, ["run", "--rootfs", tree, "-w", wd, "sh", "-c", "pwd; ls"]);
      assert.doesNotMatch(r.stdout, new RegExp(marker), `-w ${wd} reached the host:\n${r.stdout}`);
      if (r.code !== 0) assert.match(r.stderr, /working directory/, r.stderr);
    }
  } finally {
    for (const l of links) Deno.removeSync(l);
    Deno.removeSync(hostDir, { recursive: true });
  }
});

Deno.test(
  "escape: a command linked through the exec init's threads' roots runs nothing of the host",
  opts,
  async () => {
    // The exec init joins the container's mount namespace on its main thread
    // only: Deno's other threads keep the root they started with until
    // execve. A container that watches for the init links its command
    // through /proc/INIT/task/TID/root: the command must not be resolved
    // through that (the probe, a host file absent from the container, would
    // run: CVE-2019-5736 by another road).
    const host = probe();
    const watcher = `mkdir -p /usr/local/bin; while :; do for d in /proc/[0-9]*; do p=\${d#/proc/}; ` +
      `tr "\\0" " " < $d/cmdline 2>/dev/null | grep -q " init $" || continue; ` +
      `for t in $(ls $d/task 2>/dev/null); do [ "$t" = "$p" ] && continue; ` +
      `ln -sfn /proc/$p/task/$t/root${host} /usr/local/bin/pwn; ln -sfn /proc/$p/task/$t/root${host} /pwn; ` +
      `printf "#!/proc/%s/task/%s/root%s\\n" $p $t ${host} > /pwn.sh; chmod 755 /pwn.sh; ` +
      `break; done; done; done`;
    const bg = spawnTinyo(ROOT, [
      "run",
      "-q",
      "--name",
      "execesc",
      IMG,
      "sh",
      "-c",
      `echo ready; ${watcher}`,
    ]);
    const out = new Output(bg.stdout);
    try {
      await out.waitFor("ready");
      for (let round = 0; round < 4; round++) {
        for (const cmd of ["pwn", "/pwn", "/pwn.sh"]) {
          const r = await tinyo(ROOT, ["exec", "execesc", cmd, "ctty"]);
          assert.doesNotMatch(r.stdout, /ctty/, `the host's probe ran inside the container (${cmd})`);
          assert.notEqual(r.code, 0);
        }
      }
      // Ordinary commands still run, scripts included.
      const fine = await tinyo(ROOT, [
        "exec",
        "execesc",
        "sh",
        "-c",
        "printf '#!/bin/sh\\necho script-ran\\n' > /ok.sh; chmod +x /ok.sh; /ok.sh",
      ]);
      assert.equal(fine.stdout, "script-ran\n", fine.stderr);
    } finally {
      const rec = listDir(`${ROOT}/state`).filter((n) => n.endsWith(".json"))
        .map((n) => JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${n}`)))
        .find((r) => r.name === "execesc");
      if (rec?.pid) Deno.kill(rec.pid, "SIGKILL");
      await bg.status;
      await out.done;
    }
  },
);

Deno.test("escape: run and exec give no inheritable capabilities (CVE-2022-29162)", opts, async () => {
  // Inheritable capabilities survive an execve into a file with inheritable
  // file capabilities even after a switch to another user: a root process
  // of the container would hand them to whatever it runs unprivileged.
  const r = await run([], "grep -E '^Cap(Inh|Amb)' /proc/self/status");
  assert.equal(r.out, "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\n", r.err);
  const bg = spawnTinyo(ROOT, [
    "run",
    "-q",
    "--name",
    "capinh",
    IMG,
    "sh",
    "-c",
    "echo ready; exec sleep 60",
  ]);
  const out = new Output(bg.stdout);
  try {
    await out.waitFor("ready");
    for (const extra of [[], ["--cap", "CAP_NET_ADMIN"]]) {
      const e = await tinyo(ROOT, [
        "exec",
        ...extra,
        "capinh",
        "grep",
        "-E",
        "^Cap(Inh|Amb)",
        "/proc/self/status",
      ]);
      assert.equal(e.stdout, "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\n", e.stderr);
    }
  } finally {
    const rec = listDir(`${ROOT}/state`).filter((n) => n.endsWith(".json"))
      .map((n) => JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${n}`)))
      .find((r) => r.name === "capinh");
    if (rec?.pid) Deno.kill(rec.pid, "SIGKILL");
    await bg.status;
    await out.done;
  }
});

// --- 9. The caller's terminal -----------------------------------------------

const hasTmux = sh("command -v tmux").code === 0;

Deno.test(
  "escape: without -t the container has no controlling terminal and cannot type into the caller's shell",
  {
    ...opts,
    ignore: opts.ignore || !hasTmux,
  },
  async () => {
    const socket = `tinyo-escape-${Deno.pid}`;
    const dir = Deno.makeTempDirSync({ prefix: "tinyo-tiocsti-" });
    const pwned = `${dir}/PWNED`;
    try {
      const p = probe();
      const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
      const cmd = [
        Deno.execPath(),
        ...tinyoArgv(ROOT, [
          "run",
          "-q",
          "-v",
          `${p}:/probe:ro`,
          IMG,
          "sh",
          "-c",
          `/probe ctty; /probe tiocsti ${q(`touch ${pwned}~`)}`,
        ]),
      ]
        .map(q).join(" ");
      // An interactive shell in tmux runs tinyo; whatever the container pushes
      // into the terminal's input queue, that shell reads once tinyo is done.
      new Deno.Command("tmux", {
        args: ["-L", socket, "new-session", "-d", "-s", "t", "-x", "120", "-y", "30", "sh"],
      }).outputSync();
      await new Promise((r) => setTimeout(r, 300));
      new Deno.Command("tmux", {
        args: [
          "-L",
          socket,
          "send-keys",
          "-t",
          "t",
          `${cmd} > ${dir}/out 2>&1; echo DONE > ${dir}/done`,
          "Enter",
        ],
      }).outputSync();
      await waitFor(() => listDir(dir).includes("done"), 60_000, "tinyo in tmux");
      await new Promise((r) => setTimeout(r, 1000));
      const out = Deno.readTextFileSync(`${dir}/out`);
      assert.match(out, /ctty: none/, out);
      assert.match(out, /tiocsti: EPERM/, out);
      assert.ok(!listDir(dir).includes("PWNED"), "the container typed a command into the caller's shell");
    } finally {
      new Deno.Command("tmux", { args: ["-L", socket, "kill-server"] }).outputSync();
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

// --- 10. Mount targets --------------------------------------------------------

Deno.test("escape: a :ro volume is read-only all the way down (its submounts too)", opts, () => {
  const src = Deno.makeTempDirSync({ prefix: "tinyo-rovol-" });
  Deno.mkdirSync(`${src}/sub`);
  try {
    const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
    const cmd = [
      Deno.execPath(),
      ...tinyoArgv(ROOT, [
        "run",
        "-q",
        "-v",
        `${src}:/v:ro`,
        IMG,
        "sh",
        "-c",
        "touch /v/top 2>&1; touch /v/sub/inner 2>&1; echo end",
      ]),
    ]
      .map(q).join(" ");
    // The submount lives in a private mount namespace made for this test.
    const r = sh(
      `unshare -m --propagation private sh -c ${q(`mount -t tmpfs tinyo-sub ${src}/sub && ${cmd}`)}`,
    );
    assert.match(r.out, /end/, r.err);
    assert.equal((r.out.match(/Read-only file system/g) ?? []).length, 2, r.out);
  } finally {
    Deno.removeSync(src, { recursive: true });
  }
});

// --- 11. Reading container files from the host -------------------------------

Deno.test("escape: exec -u does not hang on a FIFO or read /dev/zero for /etc/passwd", opts, async () => {
  const before = tinyoCgroups();
  const r = await tinyo(ROOT, ["run", "-d", "--name", "fifo", IMG, "sleep", "120"]);
  assert.equal(r.code, 0, r.stderr);
  try {
    for (
      const [what, setup] of [
        ["fifo", "rm /etc/passwd && mkfifo /etc/passwd"],
        ["/dev/zero", "rm -f /etc/passwd && ln -s /dev/zero /etc/passwd"],
        ["absolute symlink", `rm -f /etc/passwd && ln -s /proc/1/root/../../../../etc/shadow /etc/passwd`],
      ]
    ) {
      const s = await tinyo(ROOT, ["exec", "fifo", "sh", "-c", setup!]);
      assert.equal(s.code, 0, s.stderr);
      const t0 = Date.now();
      const e = await Promise.race([
        tinyo(ROOT, ["exec", "-u", "nobody", "fifo", "id"]),
        new Promise<undefined>((res) => setTimeout(() => res(undefined), 15_000)),
      ]);
      assert.ok(e !== undefined, `exec -u hung on a ${what}`);
      assert.ok(Date.now() - t0 < 15_000);
      assert.equal(e.code, 125, `${what}: ${e.stdout}${e.stderr}`);
      assert.match(e.stderr, /\/etc\/passwd/);
    }
  } finally {
    await tinyo(ROOT, ["rm", "-f", "fifo"]);
  }
  assertClean(before);
});

Deno.test(
  "escape: an image's etc/alpine-release cannot make tinyo read a host file or hang",
  opts,
  async () => {
    const secret = Deno.makeTempFileSync({ prefix: "tinyo-secret-" });
    const marker = `SECRET-${crypto.randomUUID().slice(0, 8)}`;
    Deno.writeTextFileSync(secret, marker);
    const archive = Deno.makeTempFileSync({ prefix: "tinyo-release-", suffix: ".tar" });
    try {
      for (
        const release of [
          { name: "etc/alpine-release", type: "2", linkname: secret },
          { name: "etc/alpine-release", type: "6" },
        ]
      ) {
        Deno.writeFileSync(archive, tar([{ name: "bin/sh", data: "#!", mode: 0o755 }, release]));
        const r = await Promise.race([
          tinyo(ROOT, ["import", "-q", archive, "release:1"]),
          new Promise<undefined>((res) => setTimeout(() => res(undefined), 15_000)),
        ]);
        assert.ok(r !== undefined, `import hung on etc/alpine-release of type ${release.type}`);
        const images = await tinyo(ROOT, ["images", "--format", "json"]);
        assert.doesNotMatch(images.stdout, new RegExp(marker), "a host file's content showed as the version");
        await tinyo(ROOT, ["rmi", "release:1"]);
      }
    } finally {
      Deno.removeSync(secret);
      Deno.removeSync(archive);
    }
  },
);

// --- 12. The mirror names the file -------------------------------------------

Deno.test("escape: a mirror's index cannot make pull write outside the cache", opts, async () => {
  const mirror = startMirror();
  const root = makeRoot("tinyo-evil-mirror-");
  const target = `/tmp/tinyo-pwned-${crypto.randomUUID().slice(0, 8)}.tar.gz`;
  try {
    const r = await tinyo(root, [
      "pull",
      "-q",
      "--allow-http",
      "--mirror",
      mirror.url("evilfile", target),
      "alpine:3.20",
    ]);
    assert.equal(r.code, 125, r.stdout + r.stderr);
    assert.match(r.stderr, /file name/);
    assert.throws(() => Deno.statSync(target), "pull wrote outside the cache");
  } finally {
    await mirror.close();
    try {
      Deno.removeSync(target);
    } catch {
      // Not there: good.
    }
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("escape: plain-http mirrors need an explicit --allow-http", opts, async () => {
  const mirror = startMirror();
  const root = makeRoot("tinyo-http-mirror-");
  try {
    const r = await tinyo(root, ["pull", "-q", "--mirror", mirror.url("ok"), "alpine:3.20"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /plain http.*--allow-http/i);
    assert.deepEqual(mirror.requests, [], "nothing is fetched from a refused mirror");
  } finally {
    await mirror.close();
    Deno.removeSync(root, { recursive: true });
  }
});

// --- 13. PID reuse ----------------------------------------------------------------

Deno.test(
  "escape: garbage collection never signals a process it cannot prove is the container's",
  opts,
  async () => {
    const victim = new Deno.Command("sleep", { args: ["120"] }).spawn();
    try {
      const start = processStartTime(victim.pid)!;
      // Records left by dead runtimes that name the victim's pid: one with no
      // start time at all, one with another process's start time.
      for (const [i, pidStartTime] of [[1, undefined], [2, start + 1]] as const) {
        const id = `${"0".repeat(63)}${i}`;
        Deno.mkdirSync(`${ROOT}/state`, { recursive: true });
        Deno.writeTextFileSync(
          `${ROOT}/state/${id}.json`,
          JSON.stringify({
            ociVersion: "1.2.0",
            id,
            status: "running",
            bundle: `${ROOT}/containers/${id}`,
            created: new Date().toISOString(),
            ownerPid: 999_999_999,
            pid: victim.pid,
            ...(pidStartTime === undefined ? {} : { pidStartTime }),
          }),
        );
      }
      const r = await tinyo(ROOT, ["ps", "-a"]);
      assert.equal(r.code, 0, r.stderr);
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(processStartTime(victim.pid), start, "an unrelated process was killed");
      assert.deepEqual(listDir(`${ROOT}/state`).filter((n) => n.endsWith(".json")), [], "stale records stay");
    } finally {
      victim.kill("SIGKILL");
      await victim.status;
    }
  },
);

// --- 14. Seccomp ------------------------------------------------------------------

Deno.test(
  "escape: seccomp is an allow-list: io_uring is refused, unknown new calls get ENOSYS",
  opts,
  async () => {
    const p = probe();
    const r = await tinyo(ROOT, [
      "run",
      "-q",
      "-v",
      `${p}:/probe:ro`,
      IMG,
      "sh",
      "-c",
      "/probe syscall 425; /probe syscall 1000; /probe syscall 435; /probe syscall 39",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /syscall 425: ret -1 errno EPERM/, "io_uring_setup");
    assert.match(r.stdout, /syscall 1000: ret -1 errno ENOSYS/, "a number beyond the table");
    assert.match(r.stdout, /syscall 435: ret -1 errno ENOSYS/, "clone3");
    assert.match(r.stdout, /syscall 39: ret 1 errno 0/, "getpid is allowed");
  },
);

Deno.test("escape: a SIGKILLed tinyo exec takes its process with it", opts, async () => {
  const before = tinyoCgroups();
  const r = await tinyo(ROOT, ["run", "-d", "--name", "execkill", IMG, "sleep", "120"]);
  assert.equal(r.code, 0, r.stderr);
  try {
    // A sleep of a length nothing else uses, to find it in the process list.
    const marker = `sleep ${300_000 + Math.floor(Math.random() * 100_000)}`;
    const child = spawnTinyo(ROOT, ["exec", "execkill", "sh", "-c", `echo up; exec ${marker}`]);
    const out = new Output(child.stdout);
    await out.waitFor("up");
    child.kill("SIGKILL");
    await child.status;
    await waitFor(() => !sh(`ps -eo args`).out.includes(marker), 5_000, "the exec'd process to die");
  } finally {
    await tinyo(ROOT, ["rm", "-f", "execkill"]);
  }
  assertClean(before);
});

addEventListener("unload", () => {
  if (alpineDir !== undefined) Deno.removeSync(alpineDir, { recursive: true });
  if (probePath !== undefined) {
    Deno.removeSync(probePath.slice(0, probePath.lastIndexOf("/")), { recursive: true });
  }
  if (ROOT !== "") {
    try {
      Deno.removeSync(ROOT, { recursive: true });
    } catch {
      // Something is still mounted or busy: leftovers() reports it above.
    }
  }
});

Deno.test("escape: a container running as another user still dies with a SIGKILLed tinyo", opts, async () => {
  const before = tinyoCgroups();
  // setuid(2) clears the parent-death signal: it must be set again afterwards.
  const child = spawnTinyo(ROOT, [
    "run",
    "-q",
    "-u",
    "1000:1000",
    IMG,
    "sh",
    "-c",
    "echo up; exec sleep 300",
  ]);
  const out = new Output(child.stdout);
  await out.waitFor("up");
  let pid = 0;
  for (const name of listDir(`${ROOT}/state`).filter((n) => n.endsWith(".json"))) {
    const rec = JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${name}`));
    if (typeof rec.pid === "number") pid = rec.pid;
  }
  assert.ok(pid > 0);
  const start = processStartTime(pid);
  child.kill("SIGKILL");
  await child.status;
  await child.stderr.cancel();
  // No other tinyo command runs: the kernel alone must end the container.
  await waitFor(() => processStartTime(pid) !== start, 5_000, "the container to die with its runtime");
  assert.equal((await tinyo(ROOT, ["ps", "-a", "-q"])).stdout, "");
  assertClean(before);
});

Deno.test("escape: an image whose /dev is a symlink into a shared volume is refused", opts, async () => {
  const before = tinyoCgroups();
  const work = Deno.makeTempDirSync({ prefix: "tinyo-devlink-" });
  try {
    const tree = `${work}/tree`;
    assert.equal(sh(`mkdir -p ${tree} && tar -xzf ${IMG} -C ${tree} && rm -rf ${tree}/dev`).code, 0);
    // /dev -> /data, and /data is a volume others share: tinyo's /dev tmpfs
    // would land under the volume, its nodes in the shared directory, where
    // another container could swap /dev/null before it is used for masking.
    Deno.symlinkSync("/data", `${tree}/dev`);
    Deno.mkdirSync(`${tree}/data`);
    const vol = `${work}/vol`;
    Deno.mkdirSync(vol);
    const r = await tinyo(ROOT, ["run", "-q", "-v", `${vol}:/data`, "--rootfs", tree, "true"]);
    assert.equal(r.code, 125, r.stdout + r.stderr);
    assert.match(r.stderr, /Cannot mount on "\/dev": the path goes through a symlink/);
    assert.deepEqual(listDir(vol), [], "device nodes were made in the shared volume");
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
  assertClean(before);
});

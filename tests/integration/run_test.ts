/**
 * `tinyo run` end to end, as root, against the genuine Alpine tarballs:
 * what the container sees from inside, and what the host sees afterwards.
 */

import assert from "node:assert/strict";
import {
  ALPINE_319,
  ALPINE_320,
  IGNORE_ROOT,
  leftovers,
  listDir,
  listImages,
  makeRoot,
  Output,
  processesMentioning,
  spawnTinyo,
  tinyo,
  tinyoArgv,
  waitFor,
} from "../helpers/tinyo.ts";
import { processStartTime } from "../../runtime/host/proc.ts";
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "../../runtime/model/run_spec.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };

// One root (and so one image cache) for the suite; every test checks that
// its own container left nothing behind in it.
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-run-");
const IMG = ALPINE_320;

async function run(
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return await tinyo(ROOT, ["run", ...args], stdin === undefined ? {} : { stdin });
}

function assertClean(root = ROOT): void {
  assert.deepEqual(leftovers(root), []);
}

Deno.test("run: the command is PID 1 and exits with its own status", opts, async () => {
  const r = await run([IMG, "sh", "-c", "echo pid=$$; exit 3"]);
  assert.equal(r.stdout.trim(), "pid=1");
  assert.equal(r.code, 3);
  assertClean();
});

Deno.test("run: host processes are invisible; /proc is the container's", opts, async () => {
  const r = await run([
    IMG,
    "sh",
    "-c",
    "ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; ps -o pid | tail -n +2 | wc -l",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [pids, psCount] = r.stdout.trim().split("\n");
  // PID 1 (sh) and the few processes of the pipeline; never host PIDs.
  const list = pids!.trim().split(" ").map(Number);
  assert.ok(list.includes(1));
  assert.ok(list.every((p) => p < 20), `unexpected pids: ${pids}`);
  assert.ok(Number(psCount) <= 4, `ps saw ${psCount} processes`);
  const mount = await run([IMG, "sh", "-c", "grep ' /proc ' /proc/self/mountinfo"]);
  assert.match(mount.stdout, / \/proc rw,nosuid,nodev,noexec,relatime - proc proc /);
  assertClean();
});

Deno.test("run: private hostname, default short id, host unchanged", opts, async () => {
  const before = Deno.hostname();
  const def = await run([
    IMG,
    "sh",
    "-c",
    'hostname; cat /etc/hostname; grep -c "$(hostname)" /etc/hosts; echo $HOSTNAME',
  ]);
  const [h, etcHostname, hostsCount, envHostname] = def.stdout.trim().split("\n");
  assert.match(h!, /^[0-9a-f]{12}$/);
  assert.equal(etcHostname, h);
  assert.equal(hostsCount, "1");
  assert.equal(envHostname, h);
  const named = await run([
    "--hostname",
    "box1",
    IMG,
    "sh",
    "-c",
    "hostname; cat /etc/hostname; grep box1 /etc/hosts",
  ]);
  assert.equal(named.code, 0, named.stderr);
  assert.match(named.stdout, /^box1\nbox1\n127\.0\.1\.1\tbox1\n$/);
  assert.equal(Deno.hostname(), before);
  assertClean();
});

Deno.test("run: only the loopback interface, and it is up", opts, async () => {
  const r = await run([
    IMG,
    "sh",
    "-c",
    "ls /sys/class/net; ip -o link; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines[0], "lo");
  assert.equal(lines.filter((l) => /^\d+: /.test(l)).length, 1, r.stdout);
  assert.match(r.stdout, /1: lo: <LOOPBACK,UP,LOWER_UP>/);
  assert.match(r.stdout, /ping-ok/);
  assertClean();
});

Deno.test(
  "run: the host's files are unreachable; the root is an overlay and the old root is gone",
  opts,
  async () => {
    const marker = `/tmp/tinyo-host-marker-${crypto.randomUUID()}`;
    Deno.writeTextFileSync(marker, "host secret");
    try {
      const r = await run([
        IMG,
        "sh",
        "-c",
        `test -e ${marker} && echo visible; cat /proc/self/mountinfo; ls -a /`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /visible/);
      const mountLines = r.stdout.split("\n").filter((l) => / - /.test(l));
      const rootLine = mountLines.find((l) => l.split(" ")[4] === "/");
      assert.ok(rootLine?.includes(" - overlay overlay "), `root mount: ${rootLine}`);
      // Every mount point is one the container made; none is a host path.
      const points = new Set(mountLines.map((l) => l.split(" ")[4]!));
      const base = [
        "/",
        "/dev",
        "/dev/mqueue",
        "/dev/pts",
        "/dev/shm",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
      ];
      for (const p of base) assert.ok(points.has(p), `${p} is mounted`);
      const allowed = new Set([...base, ...DEFAULT_MASKED_PATHS, ...DEFAULT_READONLY_PATHS]);
      assert.deepEqual([...points].filter((p) => !allowed.has(p)), []);
      assert.doesNotMatch(r.stdout, /old_root|oldroot|put_old/);
      // Writes land in the container's layer, never in the cached image.
      const w = await run([IMG, "sh", "-c", "echo changed > /etc/motd; rm /bin/ls; echo done"]);
      assert.equal(w.stdout.trim(), "done");
      const again = await run([
        IMG,
        "sh",
        "-c",
        "cat /etc/motd | head -c 7; test -e /bin/ls && echo ls-present",
      ]);
      assert.doesNotMatch(again.stdout, /changed/);
      assert.match(again.stdout, /ls-present/);
    } finally {
      Deno.removeSync(marker);
    }
    assertClean();
  },
);

Deno.test("run: /dev is a private tmpfs with only the safe device nodes", opts, async () => {
  const r = await run([
    IMG,
    "sh",
    "-c",
    "ls -A /dev | tr '\\n' ' '; echo; stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; for l in ptmx fd stdin; do readlink /dev/$l; done; grep ' /dev ' /proc/self/mountinfo; echo x > /dev/null && head -c 4 /dev/zero | wc -c; ls /dev/pts",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.equal(
    lines[0]!.trim(),
    "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero",
  );
  assert.deepEqual(lines.slice(1, 7), [
    "/dev/null 1:3 666",
    "/dev/zero 1:5 666",
    "/dev/full 1:7 666",
    "/dev/random 1:8 666",
    "/dev/urandom 1:9 666",
    "/dev/tty 5:0 666",
  ]);
  assert.deepEqual(lines.slice(7, 10), ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0"]);
  assert.match(lines[10]!, / \/dev rw,nosuid - tmpfs tmpfs /);
  assert.equal(lines[11], "4");
  assert.match(r.stdout, /ptmx/);
  // The host's disks are not there.
  const disks = await run([
    IMG,
    "sh",
    "-c",
    "ls /dev/vda /dev/sda /dev/mem /dev/kmsg 2>&1 | grep -c 'No such file'",
  ]);
  assert.equal(disks.stdout.trim(), "4");
  assertClean();
});

Deno.test("run: /sys is read-only", opts, async () => {
  const r = await run([
    IMG,
    "sh",
    "-c",
    "grep ' /sys ' /proc/self/mountinfo; echo 1 > /sys/kernel/profiling 2>&1; touch /sys/x 2>&1; ls /sys | head -3",
  ]);
  assert.match(r.stdout, / \/sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro/);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /block|bus|class/);
  assertClean();
});

Deno.test("run: environment defaults and -e", opts, async () => {
  const r = await tinyo(ROOT, [
    "run",
    "-e",
    "FOO=bar baz",
    "-e",
    "FROM_HOST",
    "-e",
    "UNSET_ON_HOST",
    "--env=PATH=/bin:/usr/bin",
    IMG,
    "env",
  ], {
    env: { FROM_HOST: "copied" },
  });
  assert.equal(r.code, 0, r.stderr);
  const env = new Set(r.stdout.trim().split("\n"));
  assert.ok(env.has("FOO=bar baz"));
  assert.ok(env.has("FROM_HOST=copied"));
  assert.ok(env.has("PATH=/bin:/usr/bin"));
  assert.ok(env.has("HOME=/root"));
  assert.ok([...env].some((e) => /^HOSTNAME=[0-9a-f]{12}$/.test(e)));
  assert.ok(![...env].some((e) => e.startsWith("UNSET_ON_HOST")));
  // Nothing of tinyo's own environment leaks in.
  assert.ok(![...env].some((e) => e.startsWith("TINYO_")), r.stdout);
  const path = await run([IMG, "sh", "-c", "echo $PATH"]);
  assert.equal(path.stdout.trim(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  assertClean();
});

Deno.test("run: -w sets the working directory and creates it", opts, async () => {
  const r = await run(["-w", "/work/deep/dir", IMG, "sh", "-c", "pwd; ls -ld . | cut -c1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "/work/deep/dir\nd\n");
  const tmp = await run(["--workdir=/tmp", IMG, "pwd"]);
  assert.equal(tmp.stdout, "/tmp\n");
  assertClean();
});

Deno.test("run: -v bind-mounts host directories and files, read-only with :ro", opts, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-vol-" });
  const file = `${dir}/file.txt`;
  Deno.writeTextFileSync(file, "from host\n");
  try {
    const rw = await run([
      "-v",
      `${dir}:/data`,
      IMG,
      "sh",
      "-c",
      "cat /data/file.txt; echo from-container > /data/new.txt",
    ]);
    assert.equal(rw.code, 0, rw.stderr);
    assert.equal(rw.stdout, "from host\n");
    assert.equal(Deno.readTextFileSync(`${dir}/new.txt`), "from-container\n");
    const ro = await run([
      "-v",
      `${dir}:/data:ro`,
      "-v",
      `${file}:/etc/single.txt:ro`,
      IMG,
      "sh",
      "-c",
      "cat /etc/single.txt; touch /data/x 2>&1; { echo x >> /etc/single.txt; } 2>&1; echo end",
    ]);
    assert.equal(ro.code, 0, ro.stderr);
    assert.match(ro.stdout, /^from host\n/);
    assert.equal((ro.stdout.match(/Read-only file system/g) ?? []).length, 2, ro.stdout);
    assert.equal(Deno.readTextFileSync(file), "from host\n");
    assert.deepEqual(listDir(dir), ["file.txt", "new.txt"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  assertClean();
});

Deno.test("run: --read-only makes the root read-only, mounts stay writable", opts, async () => {
  const r = await run([
    "--read-only",
    IMG,
    "sh",
    "-c",
    "touch /etc/x 2>&1; echo ok > /dev/shm/y && cat /dev/shm/y; grep ' / / ' /proc/self/mountinfo | cut -d' ' -f6",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /\nok\n/);
  assert.match(r.stdout, /^ro,/m);
  assertClean();
});

Deno.test("run: stdin is passed through", opts, async () => {
  const r = await run([IMG, "cat"], "hello through stdin\n");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "hello through stdin\n");
  const wc = await run([IMG, "wc", "-l"], "a\nb\nc\n");
  assert.equal(wc.stdout.trim(), "3");
  assertClean();
});

Deno.test("run: exit codes 127, 126 and 125 with a one-line message each", opts, async () => {
  const missing = await run([IMG, "no-such-command"]);
  assert.equal(missing.code, 127);
  assert.equal(missing.stderr.trim().split("\n").length, 1);
  assert.match(missing.stderr, /no-such-command.*not found/);
  const missingPath = await run([IMG, "/usr/bin/nope"]);
  assert.equal(missingPath.code, 127);
  assert.match(missingPath.stderr, /\/usr\/bin\/nope.*no such file/);
  const notExec = await run([IMG, "/etc/passwd"]);
  assert.equal(notExec.code, 126);
  assert.match(notExec.stderr, /\/etc\/passwd.*permission denied/);
  const dir = await run([IMG, "/etc"]);
  assert.equal(dir.code, 126);
  // The command's own 127/126 pass through unchanged, with no tinyo message.
  const own = await run([IMG, "sh", "-c", "exit 127"]);
  assert.equal(own.code, 127);
  assert.equal(own.stderr, "");
  assertClean();
});

Deno.test("run: a command killed by a signal gives 128+N", opts, async () => {
  const child = spawnTinyo(ROOT, ["run", IMG, "sh", "-c", "echo started; sleep 30 & wait"]);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  await out.waitFor("started");
  // The container's PID 1 as the host sees it, from the state record.
  const rec = await findRecord();
  Deno.kill(rec.pid, "SIGKILL");
  const status = await child.status;
  await out.done;
  await err.done;
  assert.equal(status.code, 137);
  assertClean();
});

async function findRecord(): Promise<{ id: string; pid: number }> {
  let rec: { id: string; pid: number } | undefined;
  await waitFor(
    () => {
      for (const name of listDir(`${ROOT}/state`)) {
        if (!name.endsWith(".json")) continue;
        const r = JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${name}`));
        if (typeof r.pid === "number") rec = r;
      }
      return rec !== undefined;
    },
    10_000,
    "a container record with a pid",
  );
  return rec!;
}

Deno.test("run: signals sent to tinyo reach the container's PID 1", opts, async (t) => {
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const) {
    await t.step(sig, async () => {
      const name = sig.slice(3);
      const script = `trap 'echo got-${name}; exit 42' ${name}; echo ready; while :; do sleep 0.05; done`;
      const child = spawnTinyo(ROOT, ["run", IMG, "sh", "-c", script]);
      const stdout = new Output(child.stdout);
      const stderr = new Output(child.stderr);
      await stdout.waitFor("ready");
      child.kill(sig);
      const out = await stdout.done;
      await stderr.done;
      const status = await child.status;
      assert.match(out, new RegExp(`got-${name}`));
      assert.equal(status.code, 42);
    });
  }
  assertClean();
});

Deno.test("run: a setup error in the middle leaves nothing behind", opts, async () => {
  // The working directory cannot be created over a file: this fails after
  // the namespaces, the overlay and the mounts are in place.
  const r = await run(["-w", "/etc/passwd/sub", IMG, "true"]);
  assert.equal(r.code, 125);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /passwd/);
  assertClean();
  // A volume whose host path does not exist.
  const v = await run(["-v", "/nonexistent/tinyo/path:/data", IMG, "true"]);
  assert.equal(v.code, 125);
  assert.match(v.stderr, /\/nonexistent\/tinyo\/path.*no such file or directory/);
  assertClean();
});

Deno.test("run: SIGKILL of tinyo takes the container down; the next command cleans up", opts, async () => {
  const child = spawnTinyo(ROOT, ["run", IMG, "sh", "-c", "echo up; sleep 600 & wait"]);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  await out.waitFor("up");
  const rec = await findRecord();
  const start = processStartTime(rec.pid);
  assert.ok(start !== undefined);
  child.kill("SIGKILL");
  await child.status;
  await out.done;
  await err.done;
  // The parent-death signal killed PID 1, and with it the PID namespace.
  await waitFor(() => processStartTime(rec.pid) !== start, 5_000, "the container to die");
  assert.ok(listDir(`${ROOT}/containers`).includes(rec.id), "the killed runtime could not clean up itself");
  const next = await run([IMG, "true"]);
  assert.equal(next.code, 0, next.stderr);
  assertClean();
});

Deno.test("run: 10 containers at once do not disturb each other", opts, async () => {
  // A fresh root, so the 10 also race to unpack the same image.
  const root = makeRoot("tinyo-many-");
  try {
    const runs = Array.from(
      { length: 10 },
      (_, i) =>
        tinyo(root, [
          "run",
          "--hostname",
          `c${i}`,
          IMG,
          "sh",
          "-c",
          `echo ${i} > /mine; sleep 0.3; ls /c* /mine 2>/dev/null | tr '\\n' ' '; cat /mine; hostname; echo $$`,
        ]),
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `/mine ${i}\nc${i}\n1\n`);
    });
    assert.equal(listImages(root).length, 1);
    assertClean(root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("run: both Alpine versions work", opts, async () => {
  const a = await run([ALPINE_320, "cat", "/etc/alpine-release"]);
  const b = await run([ALPINE_319, "cat", "/etc/alpine-release"]);
  assert.equal(a.stdout.trim(), "3.20.3");
  assert.equal(b.stdout.trim(), "3.19.4");
  assertClean();
});

Deno.test("run: a rootfs directory, through an overlay unless --rootfs-rw", opts, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-rootfs-" });
  try {
    const tar = new Deno.Command("tar", { args: ["-xzf", IMG, "-C", dir] }).outputSync();
    assert.ok(tar.success);
    const viaFlag = await tinyo(ROOT, [
      "run",
      "--rootfs",
      dir,
      "sh",
      "-c",
      "echo hi > /written; cat /etc/alpine-release",
    ]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(viaFlag.stdout.trim(), "3.20.3");
    assert.deepEqual(listDir(dir).includes("written"), false, "the overlay kept the directory pristine");
    const positional = await run([dir, "--", "cat", "/etc/alpine-release"]);
    assert.equal(positional.stdout.trim(), "3.20.3");
    const rw = await tinyo(ROOT, ["run", "--rootfs", dir, "--rootfs-rw", "sh", "-c", "echo hi > /written"]);
    assert.equal(rw.code, 0, rw.stderr);
    assert.equal(Deno.readTextFileSync(`${dir}/written`), "hi\n");
    assert.deepEqual(leftovers(ROOT), []);
    assert.equal(hostMountsOf(dir), 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function hostMountsOf(path: string): number {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) => l.includes(path)).length;
}

Deno.test("run: bad inputs give one clear line, exit 125, and leave nothing", opts, async (t) => {
  const scratch = Deno.makeTempDirSync({ prefix: "tinyo-bad-" });
  try {
    const cases: [string, string[], RegExp][] = [
      [
        "missing file",
        ["/nonexistent/alpine.tar.gz", "true"],
        /"\/nonexistent\/alpine\.tar\.gz": no such file or directory/,
      ],
      ["not a rootfs", [scratch, "true"], /is not a root filesystem/],
      ["unknown option", ["--frobnicate", IMG, "true"], /unknown option "--frobnicate"/],
      ["missing option value", ["-e"], /option "-e" needs a value/],
      ["no image", [], /missing IMAGE/],
      ["bad volume", ["-v", "relative:/x", IMG, "true"], /host path must be absolute/],
      ["bad hostname", ["--hostname", "bad name!", IMG, "true"], /not a valid host name/],
    ];
    const corrupt = `${scratch}/corrupt.tar.gz`;
    const bytes = Deno.readFileSync(IMG);
    Deno.writeFileSync(corrupt, bytes.slice(0, bytes.length / 2));
    cases.push(["truncated tarball", [corrupt, "true"], /Cannot unpack image .*corrupt\.tar\.gz/]);
    const garbage = `${scratch}/garbage.tar`;
    Deno.writeFileSync(garbage, crypto.getRandomValues(new Uint8Array(4096)));
    cases.push([
      "not a tarball",
      [garbage, "true"],
      /Cannot unpack image .*garbage\.tar.*(checksum|corrupt)/,
    ]);
    for (const [name, args, pattern] of cases) {
      await t.step(name, async () => {
        const imagesBefore = listDir(`${ROOT}/images`);
        const r = await run(args);
        assert.equal(r.code, 125, `${name}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, /^tinyo/);
        assert.match(r.stderr, pattern);
        assert.deepEqual(listDir(`${ROOT}/images`), imagesBefore);
        assertClean();
      });
    }
  } finally {
    Deno.removeSync(scratch, { recursive: true });
  }
});

Deno.test("run: without root tinyo says it needs root", opts, async () => {
  const denoDir = Deno.makeTempDirSync({ prefix: "tinyo-nobody-" });
  Deno.chmodSync(denoDir, 0o777);
  try {
    const out = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "-A",
        "--no-config",
        "--quiet",
        (await import("../helpers/tinyo.ts")).MAIN,
        "--root",
        `${denoDir}/root`,
        "run",
        IMG,
        "true",
      ],
      env: { DENO_DIR: `${denoDir}/cache`, HOME: denoDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 125, stderr);
    assert.match(stderr, /needs root.*try: sudo tinyo run/);
    assert.deepEqual(listDir(`${denoDir}/root`), []);
  } finally {
    Deno.removeSync(denoDir, { recursive: true });
  }
});

Deno.test("run: the image is unpacked once and then reused", opts, async () => {
  const root = makeRoot("tinyo-cache-");
  try {
    const first = await tinyo(root, ["run", IMG, "true"]);
    // Not a terminal: one line once the image is unpacked.
    assert.match(
      first.stderr,
      /^Unpacked alpine-minirootfs-3\.20\.3-x86_64\.tar\.gz \(3\.3 MiB\) in \d+\.\ds\n$/,
    );
    const [sha] = listImages(root);
    const meta = JSON.parse(Deno.readTextFileSync(`${root}/images/${sha}/image.json`));
    const mtime = Deno.statSync(`${root}/images/${sha}/image.json`).mtime;
    // The same tarball through another path: same cache entry, not unpacked again.
    const copy = `${root}/copy.tar.gz`;
    Deno.copyFileSync(IMG, copy);
    const r = await tinyo(root, ["run", copy, "true"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "a cached image is not unpacked again");
    assert.deepEqual(listImages(root), [sha]);
    assert.deepEqual(Deno.statSync(`${root}/images/${sha}/image.json`).mtime, mtime);
    const expected =
      new TextDecoder().decode(new Deno.Command("sha256sum", { args: [IMG] }).outputSync().stdout).split(
        " ",
      )[0];
    assert.equal(sha, expected);
    assert.equal(meta.sha256, expected);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test(
  "run --init: catatonit is PID 1, forwards signals, reaps orphans; the command's status stays",
  opts,
  async () => {
    const r = await tinyo(ROOT, [
      "run",
      "-q",
      "--init",
      IMG,
      "sh",
      "-c",
      "tr '\\0' ' ' < /proc/1/cmdline; echo; echo x > /dev/init 2>/dev/null || echo init-ro; " +
      "(sleep 0.1 &); sleep 0.6; ps -o stat= | grep -c Z; exit 7",
    ]);
    assert.equal(r.code, 7, r.stderr);
    const [cmdline, ro, zombies] = r.stdout.trim().split("\n");
    assert.match(cmdline!, /^\/dev\/init -- sh -c /);
    assert.equal(ro, "init-ro");
    assert.equal(zombies, "0", "an orphan was left a zombie");
    // A signal reaches the command through the init; without it, PID 1 ignores it.
    for (const init of [true, false]) {
      const child = spawnTinyo(ROOT, [
        "run",
        "-q",
        ...(init ? ["--init"] : []),
        IMG,
        "sh",
        "-c",
        "echo up; exec sleep 30",
      ]);
      const out = new Output(child.stdout);
      const err = new Output(child.stderr);
      await out.waitFor("up");
      await new Promise((res) => setTimeout(res, 200));
      child.kill("SIGTERM");
      const ended = await Promise.race([
        child.status.then(() => true),
        new Promise((res) => setTimeout(() => res(false), 2000)),
      ]);
      if (init) {
        assert.equal(ended, true, "SIGTERM did not end the command under --init");
        assert.equal((await child.status).code, 143);
      } else {
        assert.equal(ended, false, "sleep as PID 1 should ignore SIGTERM");
        child.kill("SIGKILL");
        await child.status;
      }
      await out.done;
      await err.done;
    }
    // The SIGKILLed one is collected by the next command.
    await tinyo(ROOT, ["ps", "-a"]);
    await waitFor(() => leftovers(ROOT).length === 0, 10_000, `clean-up: ${leftovers(ROOT).join("; ")}`);
    // No init binary: one line, 125, nothing made.
    const missing = await tinyo(ROOT, ["run", "-q", "--init", IMG, "true"], {
      env: { ...Deno.env.toObject(), TINYO_INIT_PATH: "/nonexistent/catatonit" },
    });
    assert.equal(missing.code, 125);
    assert.equal(
      missing.stderr,
      'tinyo run: --init: TINYO_INIT_PATH="/nonexistent/catatonit" is not a file\n',
    );
    assert.deepEqual(leftovers(ROOT), []);
  },
);

/** Removes a timeline file; absent when tinyo failed early (the assertion says why). */
function removeTimeline(file: string): void {
  try {
    Deno.removeSync(file);
  } catch {
    // Never written.
  }
}

/** The steps a run recorded with TINYO_TIMELINE, as "side: step". */
function timelineSteps(file: string): string[] {
  return Deno.readTextFileSync(file).trim().split("\n").map((l) => {
    const { side, step } = JSON.parse(l) as { side: string; step: string };
    return `${side}: ${step}`;
  });
}

Deno.test(
  "run: the init starts ahead of the preparation (early init) and runs the container",
  opts,
  async () => {
    const file = `${ROOT}/timeline-early.jsonl`;
    try {
      const r = await tinyo(ROOT, ["run", IMG, "sh", "-c", "echo pid=$$"], { env: { TINYO_TIMELINE: file } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "pid=1\n");
      const steps = timelineSteps(file);
      const at = (s: string): number => steps.indexOf(s);
      assert.ok(at("runtime: early init spawned") >= 0, steps.join("\n"));
      // Spawned before the image and the record; took its bootstrap after them.
      assert.ok(at("runtime: early init spawned") < at("runtime: image resolved"), steps.join("\n"));
      assert.ok(at("init: execve") > at("runtime: cgroup made"), steps.join("\n"));
      // Only one init: the runtime did not spawn another.
      assert.equal(steps.filter((s) => s === "runtime: spawn").length, 1, steps.join("\n"));
      assertClean();
    } finally {
      removeTimeline(file);
    }
  },
);

Deno.test("run: a run that fails before its container kills and reaps its early init", opts, async () => {
  const file = `${ROOT}/timeline-early-fail.jsonl`;
  try {
    const r = await tinyo(ROOT, ["run", `${ROOT}/no-such-image.tar.gz`, "true"], {
      env: { TINYO_TIMELINE: file },
    });
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /^tinyo: .*no-such-image\.tar\.gz/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.ok(timelineSteps(file).includes("runtime: early init spawned"));
    // Again without pipes (the init holds the runtime's stdio, so reading
    // them to their end waits for it too): gone when the runtime has exited.
    const status = await new Deno.Command(Deno.execPath(), {
      args: tinyoArgv(ROOT, ["run", `${ROOT}/no-such-image.tar.gz`, "true"]),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn().status;
    assert.equal(status.code, 125);
    // An early init that has not exec'd shows TINYO_INIT_FD in its environment.
    assert.deepEqual(processesMentioning("TINYO_INIT_FD"), []);
    assertClean();
  } finally {
    removeTimeline(file);
  }
});

Deno.test(
  "run: an early init that dies while the runtime prepares is replaced by a new one",
  opts,
  async () => {
    // Hold the names lock, so the runtime waits in its preparation with its
    // early init spawned; kill that init; let go. The runtime must notice (its
    // pid could be someone else's by then) and spawn a fresh init.
    const file = `${ROOT}/timeline-early-dead.jsonl`;
    Deno.mkdirSync(`${ROOT}/state`, { recursive: true });
    const lock = Deno.openSync(`${ROOT}/state/.names.lock`, { write: true, create: true });
    lock.lockSync(true);
    let locked = true;
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: tinyoArgv(ROOT, ["run", IMG, "sh", "-c", "echo pid=$$"]),
        env: { TINYO_TIMELINE: file },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await waitFor(() => processesMentioning("TINYO_INIT_FD").length === 1, 10_000, "the early init");
      await waitFor(
        () => {
          try {
            return Deno.readTextFileSync(file).includes('"cli: parsed, garbage collected"');
          } catch {
            return false;
          }
        },
        10_000,
        "the runtime in its preparation",
      );
      const [early] = processesMentioning("TINYO_INIT_FD");
      Deno.kill(early!, "SIGKILL");
      await waitFor(() => processesMentioning("TINYO_INIT_FD").length === 0, 10_000, "the early init gone");
      lock.unlockSync();
      locked = false;
      const out = await child.output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.equal(dec.decode(out.stdout), "pid=1\n");
      const steps = timelineSteps(file);
      assert.equal(steps.filter((s) => s === "runtime: spawn").length, 2, steps.join("\n"));
      assertClean();
    } finally {
      if (locked) lock.unlockSync();
      lock.close();
      removeTimeline(file);
    }
  },
);

Deno.test("run: suite root is removed", { ...opts, ignore: IGNORE_ROOT }, () => {
  assertClean();
  Deno.removeSync(ROOT, { recursive: true });
});

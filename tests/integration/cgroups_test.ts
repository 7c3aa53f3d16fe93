/**
 * Resource limits for real, on whichever cgroup layout the machine has: v1 on
 * the hybrid build hosts, v2 in the throw-away VM (tasks/test.ts runs this
 * file there too). Two kinds of tests:
 *
 * - "cgroups: ..." run containers and check the limits from the host side:
 *   the cgroup's own counters, the exit status and message, its removal;
 * - "cgroup resources: ..." run no container: they create real cgroups with
 *   the managers under a private parent of their own (removed afterwards),
 *   and check every linux.resources field against the kernel's files.
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
  waitFor,
} from "../helpers/tinyo.ts";
import {
  Cgroup1Manager,
  Cgroup2Manager,
  type CgroupManager,
  hostHugePageSizes,
  hostLayout,
  sharesToWeight,
} from "../../runtime/host/cgroups.ts";
import type { CgroupResources } from "../../runtime/model/run_spec.ts";
import { ALLOW_ALL_DEVICES } from "../../runtime/model/devices.ts";

const layout = IGNORE_ROOT ? undefined : hostLayout();
const opts = { ignore: IGNORE_ROOT || layout === undefined, sanitizeResources: false, sanitizeOps: false };
const ROOT = opts.ignore ? "" : makeRoot("tinyo-cg-");
const IMG = ALPINE_320;

// deno-lint-ignore no-console
if (!opts.ignore) console.error(`cgroup layout: v${layout!.version}`);

async function record(): Promise<{ id: string; pid: number; cgroups: string[] }> {
  let rec: { id: string; pid: number; cgroups: string[] } | undefined;
  await waitFor(
    () => {
      for (const n of listDir(`${ROOT}/state`)) {
        if (!n.endsWith(".json")) continue;
        const r = JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${n}`));
        if (typeof r.pid === "number" && Array.isArray(r.cgroups)) rec = r;
      }
      return rec !== undefined;
    },
    20_000,
    "a container record with cgroups",
  );
  return rec!;
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** CPU time of a cgroup in microseconds (v2 cpu.stat, v1 cpuacct.usage). */
function cpuUsec(dirs: string[]): number {
  for (const d of dirs) {
    if (exists(`${d}/cpu.stat`) && layout!.version === 2) {
      return Number(/^usage_usec (\d+)$/m.exec(Deno.readTextFileSync(`${d}/cpu.stat`))![1]);
    }
    if (exists(`${d}/cpuacct.usage`)) {
      return Number(Deno.readTextFileSync(`${d}/cpuacct.usage`).trim()) / 1000;
    }
  }
  throw new Error(`no CPU accounting file in ${dirs.join(", ")}`);
}

/** The tasks of a cgroup (the pids hierarchy on v1). */
function tasks(dirs: string[]): number {
  const d = dirs.find((x) => exists(`${x}/pids.max`)) ?? dirs[0]!;
  return Deno.readTextFileSync(`${d}/cgroup.procs`).trim().split("\n").filter((l) => l !== "").length;
}

Deno.test("cgroups: a memory hog is killed at its limit and reported", opts, async () => {
  const r = await tinyo(ROOT, ["run", "-q", "-m", "32m", IMG, "tail", "/dev/zero"]);
  assert.equal(r.code, 137);
  assert.equal(r.stderr.trim(), "tinyo: container killed: out of memory (limit 32 MiB)");
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test(
  "cgroups: the memory limit is the cgroup's, and the container sees its own cgroup as /",
  opts,
  async () => {
    const child = spawnTinyo(ROOT, [
      "run",
      "-m",
      "48m",
      "--memory-swap",
      "48m",
      IMG,
      "sh",
      "-c",
      "cat /proc/self/cgroup; echo ready; exec sleep 30",
    ]);
    const out = new Output(child.stdout);
    const err = new Output(child.stderr);
    await out.waitFor("ready");
    const rec = await record();
    const limitFile = layout!.version === 2 ? "memory.max" : "memory.limit_in_bytes";
    const dir = rec.cgroups.find((d) => exists(`${d}/${limitFile}`))!;
    assert.equal(Deno.readTextFileSync(`${dir}/${limitFile}`).trim(), String(48 * 1024 * 1024));
    // Every line of /proc/self/cgroup ends in ":/" inside its cgroup namespace.
    assert.ok(out.text.split("\n").filter((l) => l.includes(":")).every((l) => l.endsWith(":/")), out.text);
    Deno.kill(rec.pid, "SIGKILL");
    assert.equal((await child.status).code, 137);
    await out.done;
    await err.done;
    for (const d of rec.cgroups) assert.ok(!exists(d), `${d} was removed`);
    assert.deepEqual(leftovers(ROOT), []);
  },
);

Deno.test("cgroups: a fork bomb stops at the pids limit and the host stays fine", opts, async () => {
  const script =
    "sh -c 'i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done' 2>/dev/null; echo bomb-exit=$?; exec sleep 30";
  const child = spawnTinyo(ROOT, ["run", "--pids-limit", "12", IMG, "sh", "-c", script]);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  await out.waitFor("bomb-exit=");
  assert.match(out.text, /bomb-exit=2/, "the inner shell died when fork failed");
  const rec = await record();
  const n = tasks(rec.cgroups);
  assert.ok(n <= 12 && n >= 6, `the cgroup holds ${n} tasks`);
  // The host can still start processes.
  assert.ok((await new Deno.Command("true").output()).success);
  Deno.kill(rec.pid, "SIGKILL");
  await child.status;
  await out.done;
  await err.done;
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("cgroups: a busy loop under --cpus 0.5 uses about half a CPU", opts, async () => {
  const child = spawnTinyo(ROOT, ["run", "--cpus", "0.5", IMG, "sh", "-c", "echo go; while :; do :; done"]);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  await out.waitFor("go");
  const rec = await record();
  await new Promise((r) => setTimeout(r, 300));
  const u0 = cpuUsec(rec.cgroups);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 2000));
  const used = (cpuUsec(rec.cgroups) - u0) / 1000 / (performance.now() - t0);
  Deno.kill(rec.pid, "SIGKILL");
  await child.status;
  await out.done;
  await err.done;
  assert.ok(used > 0.3 && used < 0.7, `the container used ${used.toFixed(2)} CPUs`);
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("cgroups: stats and top read the container's own cgroup", opts, async () => {
  const script = "echo go; while :; do :; done";
  const child = spawnTinyo(ROOT, [
    "run",
    "--name",
    "statbox",
    "-m",
    "64m",
    "--pids-limit",
    "20",
    IMG,
    "sh",
    "-c",
    script,
  ]);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  await out.waitFor("go");
  const rec = await record();
  try {
    const stats = await tinyo(ROOT, ["stats", "--no-stream", "--format", "json", "statbox"]);
    assert.equal(stats.code, 0, stats.stderr);
    const [row] = JSON.parse(stats.stdout);
    assert.equal(row.name, "statbox");
    assert.equal(row.memoryLimit, 64 * 1024 * 1024);
    assert.equal(row.limited, true);
    assert.ok(row.memory > 0 && row.memory < 64 * 1024 * 1024, `memory ${row.memory}`);
    assert.ok(row.pids >= 1 && row.pids < 20, `pids ${row.pids}`);
    assert.ok(row.cpuPercent > 10, `a busy loop used ${row.cpuPercent.toFixed(1)}% of a CPU`);
    const table = await tinyo(ROOT, ["stats", "--no-stream"]);
    assert.match(table.stdout, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS\n/);
    assert.match(table.stdout, /statbox\s+[\d.]+%\s+[\d.]+[KMG]?i?B \/ 64\.0MiB\s+[\d.]+%\s+\d+\n/);
    const top = await tinyo(ROOT, ["top", "statbox"]);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /^UID\s+PID\s+PPID\s+TIME\s+CMD\n/);
    // PID 1 of the container, by its host pid.
    assert.match(
      top.stdout,
      new RegExp(
        `^0\\s+${rec.pid}\\s+\\d+\\s+\\d\\d:\\d\\d:\\d\\d\\s+sh -c ${
          script.replace(/[.*+?^${}()|[\]\\;]/g, "\\$&")
        }$`,
        "m",
      ),
    );
    // Streaming: a reading a second until Ctrl-C.
    const stream = spawnTinyo(ROOT, ["stats", "--format", "json", "statbox"]);
    const lines = new Output(stream.stdout);
    const streamErr = new Output(stream.stderr);
    await lines.waitFor("]\n", 10_000);
    await lines.waitFor("]\n[", 10_000);
    stream.kill("SIGINT");
    assert.equal((await stream.status).code, 0);
    await lines.done;
    await streamErr.done;
    for (const line of lines.text.trim().split("\n")) assert.equal(JSON.parse(line)[0].name, "statbox");
    const gone = await tinyo(ROOT, ["stats", "--no-stream", "nosuch"]);
    assert.equal(gone.code, 125);
  } finally {
    Deno.kill(rec.pid, "SIGKILL");
    await child.status;
    await out.done;
    await err.done;
  }
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("cgroups: bad limits are refused before anything starts", opts, async () => {
  for (
    const [args, pattern] of [
      [["-m", "1k"], /Invalid --memory "1k": the minimum is 6m/],
      [["-m", "lots"], /invalid --memory "lots"/],
      [["--cpus", "0"], /Invalid --cpus "0"/],
      [["--memory-swap", "64m"], /--memory-swap: it needs --memory too/],
      [["-m", "64m", "--memory-swap", "32m"], /must be at least --memory/],
      [["--pids-limit", "x"], /Invalid --pids-limit "x"/],
    ] as [string[], RegExp][]
  ) {
    const r = await tinyo(ROOT, ["run", ...args, IMG, "true"]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, pattern);
  }
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("cgroups: the cgroup of a SIGKILLed tinyo is removed by the next command", opts, async () => {
  const child = spawnTinyo(ROOT, ["run", "--pids-limit", "50", IMG, "sh", "-c", "echo up; exec sleep 60"]);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  await out.waitFor("up");
  const rec = await record();
  assert.ok(rec.cgroups.length > 0 && rec.cgroups.every(exists));
  child.kill("SIGKILL");
  await child.status;
  await out.done;
  await err.done;
  const next = await tinyo(ROOT, ["run", "-q", IMG, "true"]);
  assert.equal(next.code, 0, next.stderr);
  for (const d of rec.cgroups) assert.ok(!exists(d), `${d} was removed`);
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("cgroups: device access is controlled on this layout (v1 devices, v2 eBPF)", opts, async () => {
  // A host block device node made inside (with MKNOD given back) must not
  // open, a denied char device neither; the safe ones work. No loop device is
  // needed: an allowed node of a missing device says ENXIO, a denied one EPERM.
  const r = await tinyo(ROOT, [
    "run",
    "-q",
    "--cap-add",
    "MKNOD",
    IMG,
    "sh",
    "-c",
    "mknod /tmp/disk b 7 250 && head -c 1 /tmp/disk; mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem; " +
    "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\/tmp\/disk: Operation not permitted/);
  assert.match(r.stderr, /\/tmp\/mem: Operation not permitted/);
  assert.match(r.stdout, /^4\nnull-ok\n$/);
  if (layout!.version === 2) {
    // And the filter went away with the cgroup.
    assert.deepEqual(listDir(`${layout!.root}/tinyo`).filter((n) => /^[0-9a-f]{64}$/.test(n)), []);
  }
  assert.deepEqual(leftovers(ROOT), []);
});

// ---------------------------------------------------------------------------
// linux.resources on real cgroups, without containers: a private parent of
// our own in every hierarchy, removed afterwards.

const HOST_LAYOUT = Deno.uid() === 0 ? hostLayout() : undefined;
const real = { ignore: HOST_LAYOUT === undefined, sanitizeResources: false, sanitizeOps: false };
const PARENT = `/tinyo-restest-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
const MiB = 1024 ** 2;

/** The hierarchies' mount points (one on v2). */
function mountPoints(): string[] {
  const l = HOST_LAYOUT!;
  return l.version === 2 ? [l.root] : [...new Set(Object.values(l.controllers))];
}

function manager(id: string): CgroupManager {
  const l = HOST_LAYOUT!;
  // Device rules are not what these tests are about: no eBPF program on v2.
  return l.version === 2
    ? new Cgroup2Manager(l.root, `${PARENT}/${id}`, () => {})
    : new Cgroup1Manager(l.controllers, `${PARENT}/${id}`);
}

/** Removes the private parent from every hierarchy (its children first, if a test left one). */
function removeParent(): void {
  for (const m of mountPoints()) {
    for (const child of listDir(`${m}${PARENT}`)) {
      try {
        Deno.removeSync(`${m}${PARENT}/${child}`);
      } catch {
        // An interface file, not a child cgroup.
      }
    }
    try {
      Deno.removeSync(`${m}${PARENT}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

/** An interface file of the manager's cgroup (the hierarchy holding it, on v1). */
function cgFile(m: CgroupManager, file: string): string {
  const dir = m.dirs.find((d) => exists(`${d}/${file}`));
  if (dir === undefined) throw new Error(`no ${file} in ${m.dirs.join(", ")}`);
  return Deno.readTextFileSync(`${dir}/${file}`).trim();
}

function hasFile(m: CgroupManager, file: string): boolean {
  return m.dirs.some((d) => exists(`${d}/${file}`));
}

/**
 * A block device of this machine for the throttling limits (a disk rather
 * than a loop device); in the VM, which has none, a 1 MiB RAM disk.
 */
function blockDevice(): { major: number; minor: number } | undefined {
  const find = (): string | undefined => {
    const names = listDir("/sys/block").sort();
    return names.find((n) => !/^(loop|zram|ram)/.test(n)) ?? names[0];
  };
  let name = find();
  if (name === undefined) {
    new Deno.Command("modprobe", { args: ["brd", "rd_nr=1", "rd_size=1024"], stderr: "null" }).outputSync();
    name = find();
  }
  if (name === undefined) return undefined;
  const [major, minor] = Deno.readTextFileSync(`/sys/block/${name}/dev`).trim().split(":").map(Number);
  return { major: major!, minor: minor! };
}

Deno.test("cgroup resources: every field this host has reaches the kernel's files", real, async () => {
  const v2 = HOST_LAYOUT!.version === 2;
  const dev = blockDevice();
  // deno-lint-ignore no-console
  if (dev === undefined) console.error("no block device here: the throttling limits are not checked");
  const cpuMount = v2 ? undefined : (HOST_LAYOUT as { controllers: Record<string, string> }).controllers.cpu;
  const rt = cpuMount !== undefined && exists(`${cpuMount}/cpu.rt_runtime_us`);
  let sleeper: Deno.ChildProcess | undefined;
  try {
    if (rt) {
      // A real-time runtime must fit in the parent's: give our parent a little.
      Deno.mkdirSync(`${cpuMount}${PARENT}`);
      Deno.writeTextFileSync(`${cpuMount}${PARENT}/cpu.rt_runtime_us`, "10000");
    }
    const r: CgroupResources = {
      memory: 64 * MiB,
      memorySwap: 96 * MiB,
      memoryReservation: 32 * MiB,
      cpuShares: 512,
      cpuQuota: 50000,
      cpuPeriod: 100000,
      cpuBurst: 10000,
      cpusetCpus: "0",
      cpusetMems: "0",
      pidsLimit: 40,
      ...(dev
        ? {
          blkioThrottleReadBpsDevice: [{ ...dev, rate: 1048576 }],
          blkioThrottleWriteIOPSDevice: [{ ...dev, rate: 200 }],
        }
        : {}),
      ...(v2
        ? {
          hugepageLimits: [{ pageSize: "2MB", limit: 4 * MiB }],
          blkioWeight: 500,
          unified: { "memory.high": String(48 * MiB) },
        }
        : { memorySwappiness: 20, disableOOMKiller: true }),
      ...(rt ? { cpuRealtimePeriod: 1000000, cpuRealtimeRuntime: 5000 } : {}),
    };
    const m = manager("all");
    m.create(r, ALLOW_ALL_DEVICES);
    const expect: [string, string][] = v2
      ? [
        ["memory.max", String(64 * MiB)],
        ["memory.low", String(32 * MiB)],
        ["memory.high", String(48 * MiB)],
        ["cpu.weight", String(sharesToWeight(512))],
        ["cpu.max", "50000 100000"],
        ["cpu.max.burst", "10000"],
        ["cpuset.cpus", "0"],
        ["cpuset.mems", "0"],
        ["pids.max", "40"],
        ["hugetlb.2MB.max", String(4 * MiB)],
        ["io.weight", "default 4950"],
      ]
      : [
        ["memory.limit_in_bytes", String(64 * MiB)],
        ["memory.soft_limit_in_bytes", String(32 * MiB)],
        ["memory.swappiness", "20"],
        ["cpu.shares", "512"],
        ["cpu.cfs_quota_us", "50000"],
        ["cpu.cfs_period_us", "100000"],
        ["cpu.cfs_burst_us", "10000"],
        ["cpuset.cpus", "0"],
        ["cpuset.mems", "0"],
        ["pids.max", "40"],
      ];
    // Swap only where the kernel accounts for it (the plan skips it otherwise, as docker does).
    if (hasFile(m, v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes")) {
      expect.push(
        v2 ? ["memory.swap.max", String(32 * MiB)] : ["memory.memsw.limit_in_bytes", String(96 * MiB)],
      );
    }
    if (rt) expect.push(["cpu.rt_period_us", "1000000"], ["cpu.rt_runtime_us", "5000"]);
    if (v2 && hasFile(m, "hugetlb.2MB.rsvd.max")) expect.push(["hugetlb.2MB.rsvd.max", String(4 * MiB)]);
    for (const [file, value] of expect) assert.equal(cgFile(m, file), value, file);
    if (!v2) assert.match(cgFile(m, "memory.oom_control"), /^oom_kill_disable 1$/m);
    if (dev) {
      const d = `${dev.major}:${dev.minor}`;
      if (v2) {
        assert.match(
          cgFile(m, "io.max"),
          new RegExp(`^${d} rbps=1048576 wbps=max riops=max wiops=200$`, "m"),
        );
      } else {
        assert.equal(cgFile(m, "blkio.throttle.read_bps_device"), `${d} 1048576`);
        assert.equal(cgFile(m, "blkio.throttle.write_iops_device"), `${d} 200`);
      }
    }
    // A process can join every directory, the cpuset one included (its
    // CPUs and memory nodes were set before anything joined).
    sleeper = new Deno.Command("sleep", { args: ["30"], stdin: "null", stdout: "null" }).spawn();
    for (const procs of m.procsFiles()) Deno.writeTextFileSync(procs, String(sleeper.pid));
    const lines = Deno.readTextFileSync(`/proc/${sleeper.pid}/cgroup`).split("\n");
    if (!v2) {
      assert.ok(lines.some((l) => /:cpuset:/.test(l) && l.endsWith(`:${PARENT}/all`)), lines.join("\n"));
    }
    assert.deepEqual(m.pids(), [sleeper.pid]);
    // update: an idle group.
    m.update({ cpuIdle: 1 });
    assert.equal(cgFile(m, "cpu.idle"), "1");
    sleeper.kill("SIGKILL");
    await sleeper.status;
    sleeper = undefined;
    m.destroy();
    for (const d of m.dirs) assert.ok(!exists(d), `${d} was removed`);
  } finally {
    if (sleeper !== undefined) {
      sleeper.kill("SIGKILL");
      await sleeper.status;
    }
    manager("all").destroy();
    removeParent();
  }
});

Deno.test("cgroup resources: update changes only the fields it is given", real, () => {
  const v2 = HOST_LAYOUT!.version === 2;
  try {
    const m = manager("upd");
    m.create(
      { memory: 64 * MiB, memorySwap: 128 * MiB, cpuQuota: 50000, cpuPeriod: 100000, pidsLimit: 50 },
      [],
    );
    const swapFile = v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
    const swap = hasFile(m, swapFile);
    // A fresh manager, as `tinyo update` makes one.
    manager("upd").update({ memory: 32 * MiB });
    assert.equal(cgFile(m, v2 ? "memory.max" : "memory.limit_in_bytes"), String(32 * MiB));
    // Memory plus swap stays 128 MiB: on v2 the swap part grows.
    if (swap) assert.equal(cgFile(m, swapFile), String(v2 ? 96 * MiB : 128 * MiB));
    manager("upd").update({ cpuPeriod: 200000 });
    if (v2) assert.equal(cgFile(m, "cpu.max"), "50000 200000");
    else {
      assert.equal(cgFile(m, "cpu.cfs_period_us"), "200000");
      assert.equal(cgFile(m, "cpu.cfs_quota_us"), "50000");
    }
    const cpus = Deno.readTextFileSync("/sys/devices/system/cpu/online").trim();
    const last = cpus.split(/[-,]/).pop()!;
    manager("upd").update({ cpusetCpus: last });
    assert.equal(cgFile(m, "cpuset.cpus"), last);
    assert.equal(cgFile(m, "pids.max"), "50");
    // Memory above memory plus swap is refused, naming the field.
    if (swap) {
      assert.throws(
        () => manager("upd").update({ memory: 256 * MiB }),
        /^TinyoError: Cannot apply linux\.resources\.memory\.limit: /,
      );
    }
    m.destroy();
  } finally {
    manager("upd").destroy();
    removeParent();
  }
});

Deno.test("cgroup resources: what this host lacks is refused before anything is made", real, () => {
  const l = HOST_LAYOUT!;
  const cases: [CgroupResources, RegExp][] = [];
  if (l.version === 1) {
    const root = (c: string): string | undefined => l.controllers[c];
    cases.push([
      { unified: { "memory.high": "1" } },
      /^Cannot apply linux\.resources\.unified: this host uses cgroup v1/,
    ]);
    if (root("hugetlb") === undefined) {
      cases.push([
        { hugepageLimits: [{ pageSize: "2MB", limit: 2 * MiB }] },
        /^Cannot apply linux\.resources\.hugepageLimits: this host has no hugetlb cgroup controller$/,
      ]);
    }
    if (root("net_cls") === undefined) {
      cases.push([
        { netClassID: 0x100001 },
        /^Cannot apply linux\.resources\.network\.classID: this host has no net_cls/,
      ]);
    }
    if (root("rdma") === undefined) {
      cases.push([
        { rdma: { mlx5_0: { hcaHandles: 1 } } },
        /^Cannot apply linux\.resources\.rdma: this host has no rdma/,
      ]);
    }
    const blkio = root("blkio");
    if (blkio !== undefined && !exists(`${blkio}/blkio.leaf_weight`)) {
      cases.push([
        { blkioLeafWeight: 500 },
        /^Cannot apply linux\.resources\.blockIO\.leafWeight: this kernel has no/,
      ]);
    }
    if (blkio !== undefined && !exists(`${blkio}/blkio.weight`) && !exists(`${blkio}/blkio.bfq.weight`)) {
      cases.push([
        { blkioWeight: 500 },
        /^Cannot apply linux\.resources\.blockIO\.weight: this host's blkio/,
      ]);
    }
  } else {
    const missing = ["64KB", "16MB", "1GB", "2MB"].find((s) => !hostHugePageSizes().includes(s));
    if (missing !== undefined) {
      cases.push([
        { hugepageLimits: [{ pageSize: missing, limit: 2 * MiB }] },
        new RegExp(
          `^Cannot apply linux\\.resources\\.hugepageLimits: this host has no ${missing} huge pages`,
        ),
      ]);
    }
    cases.push(
      [
        { cpuRealtimeRuntime: 1000 },
        /^Cannot apply linux\.resources\.cpu\.realtimeRuntime: cgroup v2 has no/,
      ],
      [
        { netPriorities: [{ name: "lo", priority: 1 }] },
        /^Cannot apply linux\.resources\.network\.priorities: /,
      ],
      [
        { blkioLeafWeight: 500 },
        /^Cannot apply linux\.resources\.blockIO\.leafWeight: cgroup v2 has no leaf/,
      ],
      [{ disableOOMKiller: true }, /^Cannot apply linux\.resources\.memory\.disableOOMKiller: /],
      [
        { unified: { "net_cls.classid": "1" } },
        /^Cannot apply linux\.resources\.unified\["net_cls\.classid"\]: /,
      ],
      [{ unified: { "../cgroup.procs": "1" } }, /unified\["\.\.\/cgroup\.procs"\]: not a file name/],
    );
  }
  try {
    for (const [r, pattern] of cases) {
      assert.throws(() => manager("refused").create({ memory: 32 * MiB, ...r }, []), (err: Error) => {
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes("\n"));
        return true;
      });
      for (const m of mountPoints()) assert.ok(!exists(`${m}${PARENT}`), `nothing made in ${m}`);
    }
  } finally {
    removeParent();
  }
});

// Last: the device test above runs containers in ROOT too.
Deno.test("cgroups: suite root is removed", { ignore: opts.ignore }, () => {
  assert.deepEqual(leftovers(ROOT), []);
  Deno.removeSync(ROOT, { recursive: true });
});

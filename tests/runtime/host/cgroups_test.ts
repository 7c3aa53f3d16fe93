import assert from "node:assert/strict";
import {
  Cgroup1Manager,
  Cgroup2Manager,
  detectLayout,
  sharesToWeight,
} from "../../../runtime/host/cgroups.ts";
import { DEFAULT_DEVICE_RULES, type DeviceRule } from "../../../runtime/model/devices.ts";
import { parseResources } from "../../../runtime/model/run_spec.ts";
import { parseSize } from "../../../runtime/model/units.ts";

const HYBRID = `
31 27 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const UNIFIED =
  `30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

Deno.test("detectLayout() tells v2 from hybrid v1 by the mounts", () => {
  assert.deepEqual(detectLayout(UNIFIED), { version: 2, root: "/sys/fs/cgroup" });
  assert.deepEqual(detectLayout(HYBRID), {
    version: 1,
    controllers: {
      cpu: "/sys/fs/cgroup/cpu",
      cpuacct: "/sys/fs/cgroup/cpuacct",
      memory: "/sys/fs/cgroup/memory",
      pids: "/sys/fs/cgroup/pids",
    },
  });
  assert.deepEqual(
    detectLayout("1 2 0:3 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct"),
    { version: 1, controllers: { cpu: "/sys/fs/cgroup/cpu,cpuacct", cpuacct: "/sys/fs/cgroup/cpu,cpuacct" } },
  );
  assert.equal(detectLayout(""), undefined);
});

function fakeV2(): string {
  const root = Deno.makeTempDirSync({ prefix: "tinyo-fake-cg2-" });
  Deno.writeTextFileSync(`${root}/cgroup.controllers`, "cpuset cpu io memory hugetlb pids rdma misc\n");
  Deno.writeTextFileSync(`${root}/cgroup.subtree_control`, "");
  return root;
}

Deno.test("Cgroup2Manager.create() enables controllers along the path and writes every limit", () => {
  const root = fakeV2();
  try {
    const installed: [string, readonly DeviceRule[]][] = [];
    const m = new Cgroup2Manager(root, "c1", "tinyo", (dir, rules) => installed.push([dir, rules]));
    // A fake tree does not populate new directories: give tinyo/ its controllers file on creation.
    Deno.mkdirSync(`${root}/tinyo`);
    Deno.writeTextFileSync(`${root}/tinyo/cgroup.controllers`, "cpu memory pids\n");
    m.create({
      memory: 64 * 1024 ** 2,
      memorySwap: 128 * 1024 ** 2,
      cpuQuota: 50000,
      cpuPeriod: 100000,
      cpuShares: 512,
      pidsLimit: 20,
    }, DEFAULT_DEVICE_RULES);
    // The device filter goes onto the container's own cgroup, with its rules.
    assert.deepEqual(installed, [[`${root}/tinyo/c1`, DEFAULT_DEVICE_RULES]]);
    const read = (p: string): string => Deno.readTextFileSync(`${root}/${p}`);
    assert.equal(read("cgroup.subtree_control"), "+memory +cpu +pids");
    assert.equal(read("tinyo/cgroup.subtree_control"), "+memory +cpu +pids");
    assert.equal(read("tinyo/c1/memory.max"), String(64 * 1024 ** 2));
    assert.equal(read("tinyo/c1/memory.swap.max"), String(64 * 1024 ** 2));
    assert.equal(read("tinyo/c1/cpu.max"), "50000 100000");
    assert.equal(read("tinyo/c1/cpu.weight"), String(sharesToWeight(512)));
    assert.equal(read("tinyo/c1/pids.max"), "20");
    assert.deepEqual(m.procsFiles(), [`${root}/tinyo/c1/cgroup.procs`]);
    Deno.writeTextFileSync(`${root}/tinyo/c1/memory.events`, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    assert.equal(m.oomKills(), 1);
    Deno.writeTextFileSync(`${root}/tinyo/c1/cpu.stat`, "usage_usec 1234\nuser_usec 1000\n");
    assert.equal(m.cpuUsageUsec(), 1234);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("Cgroup2Manager.create() reports the failing write, naming the file and value", () => {
  const root = fakeV2();
  try {
    // memory.max pointing nowhere makes the write fail as a refusal would.
    const orig = Deno.mkdirSync;
    Deno.mkdirSync = ((p: string | URL, o?: Deno.MkdirOptions) => {
      orig(p, o);
      if (String(p).endsWith("/c2")) Deno.symlinkSync("/nonexistent/tinyo/dir/file", `${p}/memory.max`);
    }) as typeof Deno.mkdirSync;
    try {
      assert.throws(
        () => new Cgroup2Manager(root, "c2", "tinyo", () => {}).create({ memory: 10 * 1024 ** 2 }, []),
        /^TinyoError: Cannot set cgroup limit: write "10485760" to .*\/tinyo\/c2\/memory\.max: No such file or directory/,
      );
    } finally {
      Deno.mkdirSync = orig;
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("Cgroup1Manager writes each limit in its controller's hierarchy", () => {
  const base = Deno.makeTempDirSync({ prefix: "tinyo-fake-cg1-" });
  try {
    const controllers: Record<string, string> = {};
    for (const c of ["memory", "cpu", "cpuacct", "pids", "devices"]) {
      Deno.mkdirSync(`${base}/${c}`);
      controllers[c] = `${base}/${c}`;
    }
    Deno.writeTextFileSync(`${base}/memory/memory.memsw.limit_in_bytes`, "");
    const m = new Cgroup1Manager(controllers, "c1");
    // Interface files a real hierarchy would create in the new directory.
    const orig = Deno.mkdirSync;
    Deno.mkdirSync = ((p: string | URL, o?: Deno.MkdirOptions) => {
      orig(p, o);
      if (String(p).endsWith("/memory/tinyo/c1")) {
        Deno.writeTextFileSync(`${p}/memory.memsw.limit_in_bytes`, "");
      }
    }) as typeof Deno.mkdirSync;
    try {
      m.create({
        memory: 32 * 1024 ** 2,
        memorySwap: 64 * 1024 ** 2,
        cpuQuota: 50000,
        cpuPeriod: 100000,
        pidsLimit: 10,
      }, DEFAULT_DEVICE_RULES);
    } finally {
      Deno.mkdirSync = orig;
    }
    const read = (p: string): string => Deno.readTextFileSync(`${base}/${p}`);
    assert.equal(read("memory/tinyo/c1/memory.limit_in_bytes"), String(32 * 1024 ** 2));
    assert.equal(read("memory/tinyo/c1/memory.memsw.limit_in_bytes"), String(64 * 1024 ** 2));
    assert.equal(read("cpu/tinyo/c1/cpu.cfs_period_us"), "100000");
    assert.equal(read("cpu/tinyo/c1/cpu.cfs_quota_us"), "50000");
    assert.equal(read("pids/tinyo/c1/pids.max"), "10");
    // A fake file keeps only the last write; the real devices.allow keeps a
    // list. What matters: "a" denied first, then the rules, allow last here.
    assert.equal(read("devices/tinyo/c1/devices.deny"), "a *:* rwm");
    assert.equal(read("devices/tinyo/c1/devices.allow"), "c 136:* rwm");
    assert.deepEqual(
      m.procsFiles().sort(),
      ["cpu", "cpuacct", "devices", "memory", "pids"].map((c) => `${base}/${c}/tinyo/c1/cgroup.procs`),
    );
    Deno.writeTextFileSync(
      `${base}/memory/tinyo/c1/memory.oom_control`,
      "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    assert.equal(m.oomKills(), 2);
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});

Deno.test("parseResources() follows docker's flags", () => {
  const r = parseResources({ memory: "64m", cpus: "1.5", cpuShares: "512", pidsLimit: "0" }, parseSize);
  assert.deepEqual(r, {
    memory: 64 * 1024 ** 2,
    memorySwap: 128 * 1024 ** 2,
    cpuPeriod: 100000,
    cpuQuota: 150000,
    cpuShares: 512,
    pidsLimit: -1,
  });
  assert.equal(parseResources({ memory: "1g", memorySwap: "-1" }, parseSize).memorySwap, -1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(262144), 10000);
});

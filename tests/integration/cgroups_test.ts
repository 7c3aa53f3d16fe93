/**
 * Resource limits for real, on whichever cgroup layout the machine has: v1 on
 * the hybrid build hosts, v2 in the throw-away VM (CI runs this file there
 * too, see .ci/run). Limits are checked from the host side: the cgroup's own
 * counters, the exit status and message, and the cgroup's removal.
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
import { hostLayout } from "../../runtime/host/cgroups.ts";

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

Deno.test("cgroups: suite root is removed", { ignore: opts.ignore }, () => {
  assert.deepEqual(leftovers(ROOT), []);
  Deno.removeSync(ROOT, { recursive: true });
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

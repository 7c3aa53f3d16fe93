/**
 * The cgroup v2 device filter on the real kernel: a cgroup of our own
 * (`tinyo-devtest-<random>` at the cgroup2 mount), the filter attached with
 * attachDeviceFilter, and a shell moved into the cgroup that tries device
 * nodes and reports what happened. No container is involved.
 *
 * On the hybrid build hosts cgroup2 is mounted at /sys/fs/cgroup/unified
 * (with no controllers, which eBPF device programs do not need); on a pure
 * v2 machine at /sys/fs/cgroup.
 */

import assert from "node:assert/strict";
import {
  ALLOW_ALL_DEVICES,
  compileDeviceFilter,
  DEFAULT_DEVICE_RULES,
  type DeviceRule,
} from "../../runtime/model/devices.ts";
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, bpfCalls, linuxSyscalls, O, S_IF } from "../../runtime/syscalls.ts";
import { attachDeviceFilter } from "../../runtime/host/device_filter.ts";

/** The cgroup2 mount point from /proc/self/mountinfo, the unified root preferred. */
function cgroup2Mount(): string | undefined {
  const mounts: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (pre === undefined || post === undefined || post.split(" ")[0] !== "cgroup2") continue;
    mounts.push(pre.split(" ")[4]!);
  }
  return mounts.find((m) => m === "/sys/fs/cgroup") ?? mounts.find((m) => m === "/sys/fs/cgroup/unified") ??
    mounts[0];
}

function skipReason(): string | undefined {
  if (Deno.uid() !== 0) return "needs root";
  const mount = cgroup2Mount();
  if (mount === undefined) return "no cgroup2 mount in /proc/self/mountinfo";
  try {
    Deno.statSync(`${mount}/cgroup.procs`);
  } catch (err) {
    return `cgroup2 mount ${mount} is not usable: ${(err as Error).message}`;
  }
  return undefined;
}

const why = skipReason();
// deno-lint-ignore no-console
if (why !== undefined) console.error(`SKIPPING device filter tests: ${why}`);
const opts = { ignore: why !== undefined, sanitizeResources: false, sanitizeOps: false };

function randomHex(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

/** rmdir with retries: a cgroup stays busy for a moment after its last task exits. */
async function removeCgroup(dir: string): Promise<void> {
  for (let i = 0;; i++) {
    try {
      Deno.removeSync(dir);
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      if (!(err instanceof Deno.errors.Busy) || i >= 100) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * A directory where device nodes can be made and opened: /tmp unless it is
 * mounted nodev or is a 9p share (in the VM, /tmp may be the share of the
 * checkout's parent), else /dev (devtmpfs). From /proc/self/mountinfo.
 */
function nodeCapableDir(): string {
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").trim().split("\n").map((l) => {
    const [pre, post] = l.split(" - ");
    const f = pre!.split(" ");
    return { point: f[4]!, options: `${f[5]},${post!.split(" ")[2] ?? ""}`, fstype: post!.split(" ")[0]! };
  });
  for (const dir of ["/tmp", "/dev"]) {
    const m = mounts.filter((x) => dir === x.point || dir.startsWith(x.point === "/" ? "/" : `${x.point}/`))
      .sort((a, b) => b.point.length - a.point.length)[0];
    if (m !== undefined && m.fstype !== "9p" && !m.options.split(",").includes("nodev")) return dir;
  }
  return "/tmp";
}

/** Runs `fn` with a fresh cgroup and a temporary directory, removing both after. */
async function withCgroup(fn: (cgroup: string, tmp: string) => Promise<void>): Promise<void> {
  const cgroup = `${cgroup2Mount()}/tinyo-devtest-${randomHex()}`;
  const tmp = Deno.makeTempDirSync({ prefix: "tinyo-devtest-", dir: nodeCapableDir() });
  Deno.mkdirSync(cgroup);
  try {
    await fn(cgroup, tmp);
  } finally {
    try {
      await removeCgroup(cgroup);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  }
}

/** The ids of the device programs attached directly to `cgroup`. */
function attached(cgroup: string): number[] {
  const fd = bpfCalls.open(cgroup, O.RDONLY | O.DIRECTORY | O.CLOEXEC);
  try {
    return bpfCalls.progQuery(fd, BPF_ATTACH_TYPE.CGROUP_DEVICE);
  } finally {
    bpfCalls.close(fd);
  }
}

/**
 * Each probe line prints "name: ok" or "name: <the error>". The shell moves
 * itself into the cgroup, then execs the probe, so every command the probe
 * runs starts inside it.
 */
function probeScript(tmp: string): string {
  const t = (name: string, cmd: string): string =>
    `if r=$({ ${cmd}; } 2>&1); then echo "${name}: ok"; else echo "${name}: $r"; fi`;
  return [
    `echo "cgroup: $(grep '^0::' /proc/self/cgroup)"`,
    t("null", "cat /dev/null"),
    t("zero", "head -c 4 /dev/zero >/dev/null"),
    // Opens fine; the write itself fails with ENOSPC.
    t("full", "dd if=/dev/zero of=/dev/full bs=1 count=1"),
    t("host-null-node", `cat ${tmp}/null`),
    t("host-blk-node", `dd if=${tmp}/blk of=/dev/null count=0`),
    t("mknod-blk", `mknod ${tmp}/made-blk b 7 254`),
    t("open-made-blk", `dd if=${tmp}/made-blk of=/dev/null count=0`),
    t("mknod-tun", `mknod ${tmp}/tun c 10 200`),
    t("open-tun", `dd if=${tmp}/tun of=/dev/null count=0`),
  ].join("\n");
}

async function runInCgroup(cgroup: string, script: string): Promise<Map<string, string>> {
  const out = await new Deno.Command("sh", {
    args: ["-c", 'echo $$ > "$1/cgroup.procs" && exec sh -c "$2"', "sh", cgroup, script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `probe failed: ${stdout}${new TextDecoder().decode(out.stderr)}`);
  // deno-lint-ignore no-console
  console.error(stdout.trimEnd().replace(/^/gm, "  | "));
  const results = new Map<string, string>();
  for (const line of stdout.trim().split("\n")) {
    const at = line.indexOf(": ");
    results.set(line.slice(0, at), line.slice(at + 2));
  }
  return results;
}

function makeHostNodes(tmp: string): void {
  // Made outside the cgroup: the host may create any node; what matters is
  // whether a process in the cgroup may open it. b 7:253 is a loop device
  // number that need not exist: opening it would give ENXIO if allowed.
  linuxSyscalls.mknod(`${tmp}/blk`, S_IF.BLK | 0o600, 7, 253);
  linuxSyscalls.mknod(`${tmp}/null`, S_IF.CHR | 0o666, 1, 3);
}

Deno.test("attachDeviceFilter() default rules on the real kernel", opts, async () => {
  await withCgroup(async (cgroup, tmp) => {
    makeHostNodes(tmp);
    attachDeviceFilter(cgroup, DEFAULT_DEVICE_RULES);
    assert.equal(attached(cgroup).length, 1);
    const r = await runInCgroup(cgroup, probeScript(tmp));
    assert.ok(r.get("cgroup")?.endsWith(`/${cgroup.split("/").pop()}`), r.get("cgroup"));
    assert.equal(r.get("null"), "ok");
    assert.equal(r.get("zero"), "ok");
    assert.match(r.get("full")!, /No space left on device/);
    // The same null device through a node made elsewhere: proves the temp
    // directory allows device nodes, so the refusals below are the filter's.
    assert.equal(r.get("host-null-node"), "ok");
    assert.match(r.get("host-blk-node")!, /Operation not permitted/);
    assert.equal(r.get("mknod-blk"), "ok");
    assert.match(r.get("open-made-blk")!, /Operation not permitted/);
    assert.equal(r.get("mknod-tun"), "ok");
    assert.match(r.get("open-tun")!, /Operation not permitted/);
  });
});

Deno.test("attachDeviceFilter() a rule denying /dev/zero refuses it", opts, async () => {
  await withCgroup(async (cgroup, tmp) => {
    makeHostNodes(tmp);
    const rules: DeviceRule[] = [...DEFAULT_DEVICE_RULES, { allow: false, type: "c", major: 1, minor: 5 }];
    attachDeviceFilter(cgroup, rules);
    const r = await runInCgroup(cgroup, probeScript(tmp));
    assert.equal(r.get("null"), "ok");
    assert.match(r.get("zero")!, /Operation not permitted/);
    assert.match(r.get("host-blk-node")!, /Operation not permitted/);
  });
});

Deno.test("attachDeviceFilter() a second filter can only take away (BPF_F_ALLOW_MULTI)", opts, async () => {
  await withCgroup(async (cgroup, tmp) => {
    makeHostNodes(tmp);
    attachDeviceFilter(cgroup, [{ allow: true }]);
    attachDeviceFilter(cgroup, DEFAULT_DEVICE_RULES);
    assert.equal(attached(cgroup).length, 2);
    const r = await runInCgroup(cgroup, probeScript(tmp));
    assert.equal(r.get("null"), "ok");
    assert.match(r.get("host-blk-node")!, /Operation not permitted/);
  });
});

Deno.test("attachDeviceFilter() reports a missing cgroup directory", opts, () => {
  const dir = `${cgroup2Mount()}/tinyo-devtest-${randomHex()}-missing`;
  assert.throws(
    () => attachDeviceFilter(dir, DEFAULT_DEVICE_RULES),
    new RegExp(`^TinyoError: Cannot install the device filter on "${dir}": .*ENOENT`),
  );
});

Deno.test("compileDeviceFilter() output passes the kernel's verifier for assorted rule lists", opts, () => {
  // 100 rules of every kind, and the defaults plus 100 device nodes. Larger
  // lists verify too, but ffi/bpf.ts always asks for the verifier's log
  // (64 KiB), and a log that overflows fails the load with ENOSPC.
  const mixed: DeviceRule[] = Array.from({ length: 100 }, (_, i) => ({
    allow: i % 3 !== 0,
    type: (["a", "b", "c"] as const)[i % 3]!,
    ...(i % 5 !== 0 ? { major: i % 4096 } : {}),
    ...(i % 7 !== 0 ? { minor: i } : {}),
    access: ["r", "w", "m", "rw", "rwm"][i % 5]!,
  }));
  const nodes: DeviceRule[] = Array.from(
    { length: 100 },
    (_, i) => ({ allow: true, type: "c", major: 10, minor: i }),
  );
  const lists: DeviceRule[][] = [
    [],
    [...ALLOW_ALL_DEVICES],
    [{ allow: false }],
    [...DEFAULT_DEVICE_RULES],
    mixed,
    [...DEFAULT_DEVICE_RULES, ...nodes],
  ];
  for (const rules of lists) {
    // Loaded only, never attached: the program is freed on close.
    const fd = bpfCalls.progLoad(BPF_PROG_TYPE.CGROUP_DEVICE, compileDeviceFilter(rules), {
      license: "Apache-2.0",
      expectedAttachType: BPF_ATTACH_TYPE.CGROUP_DEVICE,
      name: "tinyo_dev_test",
    });
    bpfCalls.close(fd);
  }
});

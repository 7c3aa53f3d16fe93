import assert from "node:assert/strict";
import { defaultSpec } from "../../../runtime/model/default_spec.ts";
import { OCI_VERSION, validateSpec } from "../../../runtime/model/spec.ts";
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  defaultMounts,
} from "../../../runtime/model/run_spec.ts";
import { normalizeCap } from "../../../runtime/model/capabilities.ts";
import { ConfigError } from "../../../runtime/errors.ts";

const RUNC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

Deno.test("defaultSpec() passes validateSpec, also after a JSON round trip", () => {
  validateSpec(defaultSpec());
  const json = JSON.parse(JSON.stringify(defaultSpec()));
  assert.deepEqual(json, defaultSpec());
  // validateSpec normalises linux.resources.devices in place (type "a" added).
  validateSpec(json);
});

Deno.test("defaultSpec() has runc spec's process", () => {
  const { process } = defaultSpec();
  assert.ok(process);
  assert.equal(process.terminal, true);
  assert.deepEqual(process.user, { uid: 0, gid: 0 });
  assert.deepEqual(process.args, ["sh"]);
  assert.deepEqual(process.env, [`PATH=${DEFAULT_PATH}`, "TERM=xterm"]);
  assert.equal(process.cwd, "/");
  assert.equal(process.noNewPrivileges, true);
  assert.deepEqual(process.rlimits, [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }]);
  // No inheritable set, hence no ambient one (runc#4367).
  assert.deepEqual(process.capabilities, { bounding: RUNC_CAPS, effective: RUNC_CAPS, permitted: RUNC_CAPS });
  for (const c of RUNC_CAPS) assert.equal(normalizeCap(c), c);
});

Deno.test("defaultSpec() has a read-only rootfs, a hostname and runc's namespaces", () => {
  const spec = defaultSpec();
  assert.equal(spec.ociVersion, OCI_VERSION);
  assert.deepEqual(spec.root, { path: "rootfs", readonly: true });
  assert.equal(spec.hostname, "tinyo");
  assert.deepEqual(spec.linux?.namespaces?.map((n) => n.type), [
    "pid",
    "network",
    "ipc",
    "uts",
    "mount",
    "cgroup",
  ]);
  assert.ok(spec.linux?.namespaces?.every((n) => n.path === undefined));
  assert.deepEqual(spec.linux?.resources, { devices: [{ allow: false, access: "rwm" }] });
  assert.equal(spec.linux?.cgroupsPath, undefined);
  assert.equal(spec.linux?.seccomp, undefined);
});

Deno.test("defaultSpec() mounts tinyo's defaults and a read-only /sys/fs/cgroup", () => {
  const mounts = defaultSpec().mounts ?? [];
  assert.deepEqual(mounts.map((m) => m.destination), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
  ]);
  assert.deepEqual(mounts.slice(0, -1), defaultMounts());
  assert.ok(mounts.find((m) => m.destination === "/sys")?.options?.includes("ro"));
  assert.deepEqual(mounts.at(-1), {
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    source: "cgroup",
    options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
  });
});

Deno.test("defaultSpec() masks and protects runc's and docker's paths", () => {
  const linux = defaultSpec().linux!;
  const masked = linux.maskedPaths ?? [];
  for (const p of DEFAULT_MASKED_PATHS) assert.ok(masked.includes(p), p);
  // runc's current template has it; docker's list does not.
  assert.ok(masked.includes("/sys/devices/virtual/tpm"));
  assert.equal(new Set(masked).size, masked.length, "no duplicates");
  for (
    const p of [
      "/proc/acpi",
      "/proc/asound",
      "/proc/kcore",
      "/proc/keys",
      "/proc/latency_stats",
      "/proc/timer_list",
      "/proc/timer_stats",
      "/proc/sched_debug",
      "/sys/firmware",
      "/proc/scsi",
    ]
  ) assert.ok(masked.includes(p), p);
  assert.deepEqual(linux.readonlyPaths, DEFAULT_READONLY_PATHS);
  assert.deepEqual(linux.readonlyPaths, [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
  ]);
});

Deno.test("defaultSpec() returns fresh objects that share nothing with the defaults", () => {
  const a = defaultSpec();
  a.linux!.maskedPaths!.push("/x");
  a.linux!.readonlyPaths!.push("/y");
  a.process!.capabilities!.bounding!.push("CAP_SYS_ADMIN");
  a.mounts!.at(-1)!.options!.push("rw");
  a.mounts![0]!.options!.push("exec");
  const b = defaultSpec();
  assert.ok(!b.linux!.maskedPaths!.includes("/x") && !DEFAULT_MASKED_PATHS.includes("/x"));
  assert.ok(!b.linux!.readonlyPaths!.includes("/y") && !DEFAULT_READONLY_PATHS.includes("/y"));
  assert.deepEqual(b.process!.capabilities!.bounding, RUNC_CAPS);
  assert.ok(!b.mounts!.at(-1)!.options!.includes("rw"));
  assert.ok(!b.mounts![0]!.options!.includes("exec"));
});

Deno.test("defaultSpec() refuses rootless with one line", () => {
  assert.throws(() => defaultSpec({ rootless: true }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, "Cannot make a rootless spec: tinyo does not support user namespaces");
    return true;
  });
  validateSpec(defaultSpec({ rootless: false }));
});

import assert from "node:assert/strict";
import { features, OCI_VERSION_MIN } from "../../../runtime/model/features.ts";
import { NAMESPACE_TYPES, OCI_VERSION, type Spec } from "../../../runtime/model/spec.ts";
import { allCapabilities, normalizeCap } from "../../../runtime/model/capabilities.ts";
import { NAMESPACE_FLAGS, planNamespaces } from "../../../runtime/model/namespaces.ts";
import { compileSeccomp } from "../../../runtime/model/seccomp/compile.ts";
import { ConfigError } from "../../../runtime/errors.ts";
// Test only: the model must not import the container side.
import { parseMountOptions } from "../../../runtime/container/mounts.ts";

/** Whether the mount table knows `name` (unknown names go to the data string). */
function recognised(name: string): boolean {
  return parseMountOptions([name]).data === "";
}

/** The mount option names of features.md's example (runc's list), and a few more. */
const SPEC_EXAMPLE_OPTIONS = [
  "acl",
  "async",
  "atime",
  "bind",
  "defaults",
  "dev",
  "diratime",
  "dirsync",
  "exec",
  "iversion",
  "lazytime",
  "loud",
  "mand",
  "noacl",
  "noatime",
  "nodev",
  "nodiratime",
  "noexec",
  "noiversion",
  "nolazytime",
  "nomand",
  "norelatime",
  "nostrictatime",
  "nosuid",
  "nosymfollow",
  "private",
  "ratime",
  "rbind",
  "rdev",
  "rdiratime",
  "relatime",
  "remount",
  "rexec",
  "rnoatime",
  "rnodev",
  "rnodiratime",
  "rnoexec",
  "rnorelatime",
  "rnostrictatime",
  "rnosuid",
  "rnosymfollow",
  "ro",
  "rprivate",
  "rrelatime",
  "rro",
  "rrw",
  "rshared",
  "rslave",
  "rstrictatime",
  "rsuid",
  "rsymfollow",
  "runbindable",
  "rw",
  "shared",
  "silent",
  "slave",
  "strictatime",
  "suid",
  "symfollow",
  "sync",
  "tmpcopyup",
  "unbindable",
  "idmap",
  "ridmap",
  "nocopyup",
  "copyup",
];

Deno.test("features() has the runtime-spec shape and nothing else", () => {
  const f = features({ version: "9.9.9" });
  assert.deepEqual(Object.keys(f).sort(), [
    "annotations",
    "hooks",
    "linux",
    "mountOptions",
    "ociVersionMax",
    "ociVersionMin",
  ]);
  assert.deepEqual(Object.keys(f.linux).sort(), [
    "apparmor",
    "capabilities",
    "cgroup",
    "intelRdt",
    "mountExtensions",
    "namespaces",
    "seccomp",
    "selinux",
  ]);
  assert.equal(f.ociVersionMin, "1.0.0");
  assert.equal(f.ociVersionMin, OCI_VERSION_MIN);
  assert.equal(f.ociVersionMax, OCI_VERSION);
  const semver = (v: string): number[] => v.split(".").map(Number);
  for (const v of [f.ociVersionMin, f.ociVersionMax]) assert.match(v, /^\d+\.\d+\.\d+$/);
  const [min, max] = [semver(f.ociVersionMin), semver(f.ociVersionMax)];
  assert.ok(min[0]! * 1e6 + min[1]! * 1e3 + min[2]! <= max[0]! * 1e6 + max[1]! * 1e3 + max[2]!, "min <= max");
  assert.deepEqual(f.hooks, [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
  ]);
  assert.deepEqual(f.linux.cgroup, { v1: true, v2: true, systemd: false, systemdUser: false, rdma: true });
  // Applied when the host has the module (runtime/container/labels.ts), refused otherwise.
  assert.deepEqual(f.linux.apparmor, { enabled: true });
  assert.deepEqual(f.linux.selinux, { enabled: true });
  assert.deepEqual(f.linux.intelRdt, { enabled: false });
  assert.deepEqual(f.linux.mountExtensions, { idmap: { enabled: false } });
  assert.equal(f.linux.seccomp.enabled, true);
  assert.deepEqual(f.linux.seccomp.archs, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  assert.ok(f.linux.seccomp.knownFlags.includes("SECCOMP_FILTER_FLAG_LOG"));
  for (const flag of f.linux.seccomp.supportedFlags) assert.ok(f.linux.seccomp.knownFlags.includes(flag));
  assert.ok(f.linux.seccomp.supportedFlags.includes("SECCOMP_FILTER_FLAG_SPEC_ALLOW"));
  assert.deepEqual(f.annotations, { "org.tinyo.version": "9.9.9" });
  assert.deepEqual(features().annotations, {});
});

Deno.test("features() is JSON-serialisable and fresh on every call", () => {
  const f = features({ version: "0.1.0" });
  assert.deepEqual(JSON.parse(JSON.stringify(f)), f);
  f.mountOptions.push("bogus");
  f.linux.capabilities.length = 0;
  f.linux.cgroup.systemd = true;
  const g = features({ version: "0.1.0" });
  assert.ok(!g.mountOptions.includes("bogus"));
  assert.equal(g.linux.capabilities.length, 41);
  assert.equal(g.linux.cgroup.systemd, false);
});

Deno.test("features() lists only mount options the mount table turns into flags", () => {
  const { mountOptions } = features();
  assert.equal(new Set(mountOptions).size, mountOptions.length, "no duplicates");
  assert.deepEqual(mountOptions, [...mountOptions].sort(), "sorted");
  for (const name of mountOptions) assert.ok(recognised(name), `parseMountOptions does not know "${name}"`);
});

Deno.test("features() lists every mount option the mount table knows", () => {
  const { mountOptions } = features();
  for (const name of SPEC_EXAMPLE_OPTIONS) {
    if (recognised(name)) assert.ok(mountOptions.includes(name), `"${name}" is understood but not listed`);
  }
  // Filesystem data options are not listed, and stay data.
  assert.equal(parseMountOptions(["mode=755", "size=65536k"]).data, "mode=755,size=65536k");
});

Deno.test("features() lists every capability, each known to capabilities.ts", () => {
  const { capabilities } = features().linux;
  assert.deepEqual(capabilities, allCapabilities());
  assert.equal(capabilities.length, 41);
  assert.equal(capabilities.at(-1), "CAP_CHECKPOINT_RESTORE");
  for (const c of capabilities) {
    assert.match(c, /^CAP_[A-Z_]+$/);
    assert.equal(normalizeCap(c), c);
  }
});

Deno.test("features() lists the namespaces tinyo creates, not user or time", () => {
  const { namespaces } = features().linux;
  assert.deepEqual([...namespaces].sort(), ["cgroup", "ipc", "mount", "network", "pid", "uts"]);
  for (const ns of namespaces) assert.ok((NAMESPACE_TYPES as readonly string[]).includes(ns));
  assert.ok(!namespaces.includes("user") && !namespaces.includes("time"));
  // The init unshares all but pid (the runtime handles that one around spawning).
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    root: { path: "rootfs" },
    linux: { namespaces: namespaces.map((type) => ({ type })) },
  };
  const want = namespaces.filter((n) => n !== "pid").reduce((acc, n) => acc | NAMESPACE_FLAGS[n], 0);
  assert.equal(planNamespaces(spec).unshareFlags, want);
});

Deno.test("features() lists the seccomp actions and operators the compiler accepts", () => {
  const { actions, operators } = features().linux.seccomp;
  const ctx = { capabilities: [] };
  for (const action of actions) {
    assert.ok(compileSeccomp({ defaultAction: action }, ctx).length > 0, action);
    compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["getpid"], action }] }, ctx);
  }
  for (const op of operators) {
    compileSeccomp({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{
        names: ["personality"],
        action: "SCMP_ACT_ERRNO",
        args: [{ index: 0, value: 8, valueTwo: 8, op }],
      }],
    }, ctx);
  }
  // The compiler does refuse what is not listed, so the checks above mean something.
  assert.throws(() => compileSeccomp({ defaultAction: "SCMP_ACT_NOTIFY" }, ctx), ConfigError);
  assert.throws(
    () =>
      compileSeccomp({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["personality"],
          action: "SCMP_ACT_ERRNO",
          args: [{ index: 0, value: 8, op: "SCMP_CMP_XX" }],
        }],
      }, ctx),
    ConfigError,
  );
  assert.ok(!actions.includes("SCMP_ACT_NOTIFY"));
});

import assert from "node:assert/strict";
import {
  assertSupported,
  loadSpec,
  probeHostSecurity,
  unsupportedFeatures,
  validateResources,
  validateSpec,
} from "../../../runtime/model/spec.ts";
import { ConfigError } from "../../../runtime/errors.ts";

const good = () => ({
  ociVersion: "1.2.0",
  root: { path: "rootfs" },
  process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", env: ["A=1"] },
  hostname: "h",
  linux: { namespaces: [{ type: "pid" }, { type: "uts" }, { type: "mount" }] },
  mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
});

Deno.test("validateSpec() accepts a well-formed config and ignores unknown fields", () => {
  const spec = validateSpec({ ...good(), somethingNew: { x: 1 } });
  assert.equal(spec.process?.args[0], "sh");
});

Deno.test("validateSpec() names the invalid field", () => {
  const cases: [string, (s: ReturnType<typeof good>) => void, RegExp][] = [
    ["relative cwd", (s) => s.process.cwd = "tmp", /process\.cwd: must be an absolute path, got "tmp"/],
    ["empty args", (s) => s.process.args = [], /process\.args: must name a command/],
    ["bad env", (s) => s.process.env = ["NOEQUALS"], /process\.env: entry "NOEQUALS" is not KEY=VALUE/],
    ["negative uid", (s) => s.process.user.uid = -1, /process\.user\.uid: must be a non-negative integer/],
    [
      "unknown ns",
      (s) => s.linux.namespaces.push({ type: "bogus" }),
      /linux\.namespaces\[3\]\.type: unknown namespace type "bogus"/,
    ],
    ["duplicate ns", (s) => s.linux.namespaces.push({ type: "pid" }), /duplicate namespace "pid"/],
    [
      "hostname without uts",
      (s) => s.linux.namespaces = [{ type: "pid" }],
      /hostname: setting a hostname needs a new UTS namespace/,
    ],
    [
      "relative mount",
      (s) => s.mounts[0]!.destination = "proc",
      /mounts\[0\]\.destination: must be an absolute path/,
    ],
    [
      "no root",
      (s) => (s as { root?: unknown }).root = undefined,
      /root\.path: must name the root filesystem/,
    ],
    ["bad hostname", (s) => s.hostname = "a b", /hostname: "a b" is not a valid host name/],
  ];
  for (const [name, mutate, pattern] of cases) {
    const s = good();
    mutate(s);
    assert.throws(
      () => validateSpec(s),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      name,
    );
  }
});

Deno.test("loadSpec() reports unreadable and unparsable files with their path", () => {
  assert.throws(
    () => loadSpec("/nonexistent/config.json"),
    /Cannot read container configuration "\/nonexistent\/config.json"/,
  );
  const f = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(f, "{ not json");
    assert.throws(() => loadSpec(f), /Cannot parse container configuration/);
  } finally {
    Deno.removeSync(f);
  }
});

/** A config.json as podman 4 writes it (trimmed): what tinyo must take as runc does. */
const PODMAN_CONFIG = (() => {
  const caps = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
  ];
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: true,
      user: { uid: 0, gid: 0, umask: 18, additionalGids: [0] },
      args: ["sh"],
      env: [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
        "container=podman",
      ],
      cwd: "/",
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [
        { type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576 },
        { type: "RLIMIT_NPROC", hard: 4194304, soft: 4194304 },
      ],
      oomScoreAdj: 0,
      ioPriority: { class: "IOPRIO_CLASS_BE", priority: 4 },
    },
    root: { path: "/var/lib/containers/storage/overlay/0123/merged" },
    hostname: "0123456789ab",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/etc/hostname",
        type: "bind",
        source: "/run/containers/storage/overlay-containers/0123/userdata/hostname",
        options: ["bind", "rprivate"],
      },
      { destination: "/run/.containerenv", source: "/run/x/.containerenv", options: ["bind", "rprivate"] },
      {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"],
      },
    ],
    annotations: { "io.container.manager": "libpod" },
    linux: {
      sysctl: { "net.ipv4.ping_group_range": "0 0" },
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        memory: { limit: 536870912, swap: 1073741824, reservation: -1 },
        cpu: { shares: 1024, quota: 50000, period: 100000, cpus: "0-3", mems: "" },
        pids: { limit: 2048 },
        hugepageLimits: [{ pageSize: "2MB", limit: 9223372036854772000 }],
        blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
        unified: { "memory.high": "400M" },
      },
      cgroupsPath: "machine.slice:libpod:0123",
      namespaces: [
        { type: "pid" },
        { type: "network", path: "/run/netns/netns-0123" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "cgroup" },
      ],
      personality: { domain: "LINUX" },
      seccomp: {
        defaultAction: "SCMP_ACT_ERRNO",
        defaultErrnoRet: 38,
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        flags: ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        syscalls: [
          { names: ["bdflush", "kexec_load"], action: "SCMP_ACT_ERRNO", errnoRet: 1 },
          { names: ["read", "write", "_llseek", "futex_waitv"], action: "SCMP_ACT_ALLOW" },
          {
            names: ["personality"],
            action: "SCMP_ACT_ALLOW",
            args: [{ index: 0, value: 4294967295, valueTwo: 0, op: "SCMP_CMP_EQ" }],
          },
        ],
      },
      maskedPaths: ["/proc/acpi", "/proc/kcore"],
      readonlyPaths: ["/proc/asound", "/proc/bus"],
    },
  };
})();

/** A fresh copy of `PODMAN_CONFIG` to change. */
function podmanConfig(): typeof PODMAN_CONFIG {
  return structuredClone(PODMAN_CONFIG);
}

/** The namespace probe of tests: nothing is the host's. */
const notHost = { isHostNamespace: () => false };

Deno.test("validateSpec() accepts the config.json podman writes", () => {
  const spec = validateSpec(podmanConfig(), notHost);
  assert.equal(spec.process?.user.umask, 18);
  assert.equal(spec.process?.ioPriority?.class, "IOPRIO_CLASS_BE");
  assert.equal(spec.linux?.personality?.domain, "LINUX");
  assert.deepEqual(unsupportedFeatures(spec, { apparmor: false, selinux: false }), []);
});

Deno.test("validateSpec() names each invalid field of the process, mounts and linux sections", () => {
  type Config = ReturnType<typeof podmanConfig>;
  // deno-lint-ignore no-explicit-any
  const cases: [string, (s: any) => void, RegExp][] = [
    [
      "umask",
      (s: Config) => s.process.user.umask = -1,
      /process\.user\.umask: must be a non-negative integer/,
    ],
    [
      "oom",
      (s: Config) => s.process.oomScoreAdj = 1001,
      /process\.oomScoreAdj: must be an integer from -1000 to 1000/,
    ],
    ["ioprio class", (s) => s.process.ioPriority.class = "RT", /process\.ioPriority\.class: must be one of/],
    [
      "ioprio level",
      (s) => s.process.ioPriority.priority = 8,
      /process\.ioPriority\.priority: must be an integer from 0 to 7/,
    ],
    ["apparmor", (s) => s.process.apparmorProfile = 5, /process\.apparmorProfile: must be a string/],
    ["selinux", (s) => s.process.selinuxLabel = [], /process\.selinuxLabel: must be a string/],
    ["terminal", (s) => s.process.terminal = "yes", /process\.terminal: must be true or false/],
    [
      "rlimit name",
      (s) => s.process.rlimits[1].type = "RLIMIT_FOO",
      /process\.rlimits\[1\]\.type: unknown resource "RLIMIT_FOO"/,
    ],
    [
      "rlimit bare",
      (s) => s.process.rlimits[0].type = "NOFILE",
      /process\.rlimits\[0\]\.type: unknown resource "NOFILE"/,
    ],
    [
      "rlimit twice",
      (s) => s.process.rlimits[1].type = "RLIMIT_NOFILE",
      /process\.rlimits\[1\]\.type: duplicate RLIMIT_NOFILE/,
    ],
    [
      "rlimit order",
      (s) => s.process.rlimits[0].soft = 2 ** 21,
      /process\.rlimits\[0\]: soft limit 2097152 is above hard limit/,
    ],
    [
      "rlimit negative",
      (s) => s.process.rlimits[0].hard = -2,
      /process\.rlimits\[0\]\.hard: must be an integer from -1/,
    ],
    [
      "capability",
      (s) => s.process.capabilities.effective.push("CAP_FLY"),
      /process\.capabilities\.effective\[11\]: unknown capability "CAP_FLY"/,
    ],
    [
      "capability spelling",
      (s) => s.process.capabilities.bounding[0] = "chown",
      /unknown capability "chown"/,
    ],
    [
      "mount type",
      (s) => s.mounts[0].type = "proc fs",
      /mounts\[0\]\.type: "proc fs" is not a filesystem type/,
    ],
    [
      "untyped mount",
      (s) => s.mounts[0].type = undefined,
      /mounts\[0\]\.type: missing: a mount without a filesystem type must be a bind mount/,
    ],
    [
      "bind source",
      (s) => s.mounts[5].source = "",
      /mounts\[5\]\.source: a bind mount needs the path to bind/,
    ],
    [
      "idmapped mount",
      (s) => s.mounts[5].uidMappings = [{ containerID: 0, hostID: 1000 }],
      /mounts\[5\]\.uidMappings\[0\]\.size/,
    ],
    [
      "memory",
      (s) => s.linux.resources.memory.limit = "512m",
      /linux\.resources\.memory\.limit: must be an integer from -1/,
    ],
    [
      "swappiness",
      (s) => s.linux.resources.memory.swappiness = 101,
      /linux\.resources\.memory\.swappiness: must be an integer from -1 to 100/,
    ],
    [
      "oom killer",
      (s) => s.linux.resources.memory.disableOOMKiller = 1,
      /linux\.resources\.memory\.disableOOMKiller: must be true or false/,
    ],
    [
      "cpus",
      (s) => s.linux.resources.cpu.cpus = "all",
      /linux\.resources\.cpu\.cpus: "all" is not a list such as "0-3,7"/,
    ],
    ["shares", (s) => s.linux.resources.cpu.shares = -2, /linux\.resources\.cpu\.shares/],
    ["pids", (s) => s.linux.resources.pids.limit = 1.5, /linux\.resources\.pids\.limit/],
    [
      "hugepages",
      (s) => s.linux.resources.hugepageLimits[0].pageSize = "2M",
      /linux\.resources\.hugepageLimits\[0\]\.pageSize: "2M" is not a page size/,
    ],
    [
      "blkio",
      (s) => s.linux.resources.blockIO.weight = 70000,
      /linux\.resources\.blockIO\.weight: must be an integer from 0 to 65535/,
    ],
    [
      "throttle",
      (s) => delete s.linux.resources.blockIO.throttleReadBpsDevice[0].rate,
      /linux\.resources\.blockIO\.throttleReadBpsDevice\[0\]\.rate/,
    ],
    [
      "unified",
      (s) => s.linux.resources.unified["memory.high"] = 400,
      /linux\.resources\.unified\["memory\.high"\]: must be a string/,
    ],
    ["devices", (s) => s.linux.resources.devices = {}, /linux\.resources\.devices: must be an array/],
    [
      "personality",
      (s) => s.linux.personality.domain = "LINUX64",
      /linux\.personality\.domain: must be LINUX or LINUX32, got "LINUX64"/,
    ],
    [
      "personality flags",
      (s) => s.linux.personality.flags = "x",
      /linux\.personality\.flags: must be an array of strings/,
    ],
    [
      "uid map",
      (s) => s.linux.uidMappings = [{ containerID: 0, hostID: -1, size: 1 }],
      /linux\.uidMappings\[0\]\.hostID/,
    ],
    ["mount label", (s) => s.linux.mountLabel = 1, /linux\.mountLabel: must be a string/],
    [
      "seccomp arch",
      (s) => s.linux.seccomp.architectures.push("SCMP_ARCH_Z80"),
      /linux\.seccomp\.architectures: unknown architecture "SCMP_ARCH_Z80"/,
    ],
    ["seccomp flag", (s) => s.linux.seccomp.flags = ["LOG"], /linux\.seccomp\.flags: unknown flag "LOG"/],
    [
      "seccomp notify",
      (s) => s.linux.seccomp.syscalls[1].action = "SCMP_ACT_NOTIFY",
      /linux\.seccomp\.syscalls\[1\]\.action: SCMP_ACT_NOTIFY is not supported/,
    ],
    [
      "seccomp agent",
      (s) => s.linux.seccomp.listenerPath = "/run/agent.sock",
      /linux\.seccomp\.listenerPath: SCMP_ACT_NOTIFY is not supported/,
    ],
    [
      "seccomp op",
      (s) => s.linux.seccomp.syscalls[2].args[0].op = "==",
      /linux\.seccomp\.syscalls\[2\]\.args\[0\]\.op: unknown operator "=="/,
    ],
    ["seccomp shape", (s) => s.linux.seccomp = [], /linux\.seccomp: must be an object/],
  ];
  for (const [name, mutate, pattern] of cases) {
    const s = podmanConfig();
    mutate(s);
    assert.throws(
      () => validateSpec(s, notHost),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message) && !e.message.includes("\n"),
      name,
    );
  }
  // A mount without a type is fine when it binds.
  const s = podmanConfig();
  s.mounts.push({ destination: "/data", source: "/srv/data", options: ["rbind", "ro"] });
  validateSpec(s, notHost);
});

Deno.test("validateSpec() allows sysctls in a joined namespace unless it is the host's", () => {
  const probe = (answer: boolean | Error) => ({
    isHostNamespace: (type: string, path: string) => {
      assert.deepEqual([type, path], ["network", "/run/netns/netns-0123"]);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  validateSpec(podmanConfig(), probe(false));
  assert.throws(
    () => validateSpec(podmanConfig(), probe(true)),
    /linux\.sysctl\["net\.ipv4\.ping_group_range"\]: the network namespace "\/run\/netns\/netns-0123" is the host's \(refused\)/,
  );
  assert.throws(
    () => validateSpec(podmanConfig(), probe(new Error("No such file or directory"))),
    /cannot check the network namespace "\/run\/netns\/netns-0123": No such file or directory/,
  );
  const noNet = podmanConfig();
  noNet.linux.namespaces = noNet.linux.namespaces.filter((n) => n.type !== "network");
  assert.throws(() => validateSpec(noNet, notHost), /needs a network namespace of its own/);
  // The real probe: this process's own namespace is the host's.
  const own = podmanConfig();
  own.linux.namespaces[1] = { type: "network", path: "/proc/self/ns/net" };
  assert.throws(() => validateSpec(own), /the network namespace "\/proc\/self\/ns\/net" is the host's/);
});

Deno.test("validateResources() checks a linux.resources object on its own, as `update --resources` reads it", () => {
  validateResources({ memory: { limit: -1 }, cpu: { quota: -1, period: 100000 }, pids: { limit: 0 } });
  assert.throws(
    () => validateResources({ cpu: { period: "100ms" } }, "resources"),
    /^.*resources\.cpu\.period: must be/,
  );
  assert.throws(() => validateResources([]), /linux\.resources: must be an object/);
});

Deno.test("unsupportedFeatures() lists what tinyo cannot honour on this host, one line each", () => {
  const s = validateSpec(podmanConfig(), notHost);
  s.process!.apparmorProfile = "containers-default-0.50.1";
  s.process!.selinuxLabel = "system_u:system_r:container_t:s0:c1,c2";
  s.linux!.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2";
  assert.deepEqual(unsupportedFeatures(s, { apparmor: false, selinux: false }), [
    'process.apparmorProfile "containers-default-0.50.1": AppArmor is not enabled on this host',
    'process.selinuxLabel "system_u:system_r:container_t:s0:c1,c2": SELinux is not enabled on this host',
  ]);
  // With the modules, the profile and the label are applied (container/labels.ts); mount labels are not.
  assert.deepEqual(unsupportedFeatures(s, { apparmor: true, selinux: true }), [
    'linux.mountLabel "system_u:object_r:container_file_t:s0:c1,c2": tinyo cannot apply SELinux labels',
  ]);
  const rootless = validateSpec(podmanConfig(), notHost);
  rootless.linux!.namespaces!.push({ type: "user" });
  rootless.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  rootless.mounts![5]!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  assert.deepEqual(unsupportedFeatures(rootless, { apparmor: false, selinux: false }), [
    "linux.namespaces: user: tinyo cannot create or join a user namespace",
    "linux.uidMappings: id mappings need a user namespace: tinyo cannot create or join a user namespace",
    'mounts[5] "/etc/hostname": id-mapped mounts are not supported',
  ]);
  assert.throws(
    () => assertSupported(rootless, { apparmor: false, selinux: false }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message.startsWith("Cannot honour the container configuration: linux.namespaces: user") &&
      !e.message.includes("\n"),
  );
  assertSupported(validateSpec(podmanConfig(), notHost), { apparmor: true, selinux: true });
});

Deno.test("probeHostSecurity() looks for the AppArmor and SELinux filesystems", () => {
  const asked: string[] = [];
  const host = probeHostSecurity((path) => {
    asked.push(path);
    return path === "/sys/fs/selinux";
  });
  assert.deepEqual(host, { apparmor: false, selinux: true });
  assert.deepEqual(asked, ["/sys/kernel/security/apparmor", "/sys/fs/selinux"]);
});

Deno.test("validateSpec() takes RLIM_INFINITY as JSON's 18446744073709551615 and as tinyo run's -1", () => {
  const s = JSON.parse(
    JSON.stringify(podmanConfig()).replace(
      '"rlimits":[',
      '"rlimits":[{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615},' +
        '{"type":"RLIMIT_MEMLOCK","soft":65536,"hard":-1},',
    ),
  );
  validateSpec(s, notHost);
  s.process.rlimits[0].hard = 1024;
  assert.throws(
    () => validateSpec(s, notHost),
    /process\.rlimits\[0\]: soft limit .* is above hard limit 1024/,
  );
});

Deno.test("unsupportedFeatures() refuses linux.intelRdt and linux.timeOffsets, naming each", () => {
  const spec = {
    ...good(),
    linux: { ...good().linux, intelRdt: { closID: "x" }, timeOffsets: { monotonic: { secs: 1 } } },
  };
  assert.deepEqual(unsupportedFeatures(spec as never, { apparmor: false, selinux: false }), [
    "linux.intelRdt: Intel RDT is not supported",
    "linux.timeOffsets: time namespace offsets are not supported",
  ]);
  assert.throws(() => assertSupported(spec as never, { apparmor: false, selinux: false }), ConfigError);
});

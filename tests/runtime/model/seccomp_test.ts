import assert from "node:assert/strict";
import {
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  compileSeccomp,
  loadSeccompProfile,
  MAX_SYSCALL_X86_64,
  resolveProfile,
  RET,
  seccompFilterFlags,
  seccompProblem,
  type SeccompProfile,
  type SeccompRule,
} from "../../../runtime/model/seccomp/compile.ts";
import { SYSCALLS_I386 as I386_NR } from "../../../runtime/model/seccomp/syscalls_i386.ts";
import { SYSCALLS_X32 as X32_NR } from "../../../runtime/model/seccomp/syscalls_x32.ts";
import { CLONE_NAMESPACE_FLAGS, DEFAULT_SECCOMP_PROFILE } from "../../../runtime/model/seccomp/default.ts";
import { SYSCALLS_X86_64 as NR } from "../../../runtime/model/seccomp/syscalls_x86_64.ts";
import { NEWER_X86_64_NAMES, OTHER_ARCH_NAMES } from "../../../runtime/model/seccomp/other_arch_names.ts";
import { DEFAULT_CAPABILITIES } from "../../../runtime/model/capabilities.ts";
import { ConfigError } from "../../../runtime/errors.ts";
import { runBpf } from "../../helpers/bpf.ts";

const X86 = AUDIT_ARCH_X86_64;
const EPERM = RET.ERRNO | 1;
const ENOSYS = RET.ERRNO | 38;
const ctx = { capabilities: DEFAULT_CAPABILITIES };

/** The default profile as `tinyo run` builds it: resolved for the capabilities, then compiled. */
function defaultFilter(opts: { add?: string[]; drop?: string[] } = {}): Uint8Array {
  const capabilities = [...DEFAULT_CAPABILITIES, ...(opts.add ?? [])].filter((c) => !opts.drop?.includes(c));
  return compileSeccomp(resolveProfile(DEFAULT_SECCOMP_PROFILE, { capabilities }), { capabilities });
}

/** What `prog` decides for system call `name` (which must be in the table) with `args`. */
function decide(prog: Uint8Array, name: string, args: bigint[] = []): number {
  const nr = NR[name];
  if (nr === undefined || !Object.hasOwn(NR, name)) throw new Error(`"${name}" is not in the x86_64 table`);
  return runBpf(prog, { nr, arch: X86, args });
}

/** Every call the default profile refuses with EPERM under docker's default capabilities. */
const DENIED_BY_DEFAULT = [
  // kernels and modules
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "create_module",
  "get_kernel_syms",
  "query_module",
  // keyring, kernel programs and probes
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "perf_event_open",
  "lookup_dcookie",
  "userfaultfd",
  "open_by_handle_at",
  "name_to_handle_at",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  // mounts and namespaces
  "mount",
  "umount2",
  "pivot_root",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "move_mount",
  "open_tree",
  "mount_setattr",
  "unshare",
  "setns",
  // host-wide switches
  "swapon",
  "swapoff",
  "reboot",
  "acct",
  "syslog",
  "quotactl",
  "quotactl_fd",
  "vhangup",
  "iopl",
  "ioperm",
  "fanotify_init",
  // obsolete
  "uselib",
  "_sysctl",
  "ustat",
  "sysfs",
  "nfsservctl",
  "afs_syscall",
  "tuxcall",
  "security",
  "vserver",
  "getpmsg",
  "putpmsg",
  // allowed only with a capability the default set lacks
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "kcmp",
  "pidfd_getfd",
  "process_madvise",
  "clock_settime",
  "clock_adjtime",
  "settimeofday",
  "adjtimex",
  "mbind",
  "set_mempolicy",
  "set_mempolicy_home_node",
  "migrate_pages",
  "move_pages",
  "sethostname",
  "setdomainname",
];

Deno.test("DEFAULT_SECCOMP_PROFILE is an allow-list that names only x86_64 system calls", () => {
  assert.equal(DEFAULT_SECCOMP_PROFILE.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(DEFAULT_SECCOMP_PROFILE.defaultErrnoRet, 1);
  (DEFAULT_SECCOMP_PROFILE.syscalls ?? []).forEach((rule, r) => {
    for (const name of rule.names ?? []) {
      assert.ok(Object.hasOwn(NR, name), `syscalls[${r}]: "${name}" is not in the x86_64 table`);
    }
  });
});

Deno.test("compileSeccomp() default profile allows what ordinary programs use", () => {
  const prog = defaultFilter();
  for (
    const name of [
      // files
      "read",
      "write",
      "openat",
      "open",
      "close",
      "fstat",
      "newfstatat",
      "statx",
      "lseek",
      "getdents64",
      "readlinkat",
      "faccessat2",
      "openat2",
      "close_range",
      "fcntl",
      "ioctl",
      "dup3",
      "pipe2",
      "mkdirat",
      "unlinkat",
      "renameat2",
      "linkat",
      "symlinkat",
      "fchmodat",
      "fchownat",
      "utimensat",
      "umask",
      "chdir",
      "getcwd",
      "fsync",
      "sendfile",
      "copy_file_range",
      "getxattr",
      "setxattr",
      "inotify_init1",
      "mknodat",
      "chroot",
      // memory
      "brk",
      "mmap",
      "munmap",
      "mprotect",
      "mremap",
      "madvise",
      "memfd_create",
      "membarrier",
      // threads, processes, signals
      "futex",
      "set_robust_list",
      "set_tid_address",
      "rseq",
      "arch_prctl",
      "prctl",
      "execve",
      "execveat",
      "fork",
      "vfork",
      "wait4",
      "waitid",
      "exit",
      "exit_group",
      "kill",
      "tgkill",
      "getpid",
      "gettid",
      "setsid",
      "setpgid",
      "pidfd_open",
      "pidfd_send_signal",
      "rt_sigaction",
      "rt_sigprocmask",
      "rt_sigreturn",
      "rt_sigsuspend",
      "sigaltstack",
      "restart_syscall",
      // events and time
      "poll",
      "ppoll",
      "pselect6",
      "epoll_create1",
      "epoll_ctl",
      "epoll_pwait",
      "eventfd2",
      "clock_gettime",
      "clock_nanosleep",
      "nanosleep",
      "timerfd_create",
      "timer_create",
      // identity and limits
      "getuid",
      "setuid",
      "setgid",
      "setgroups",
      "setresuid",
      "capget",
      "capset",
      "prlimit64",
      "getrlimit",
      "uname",
      "sysinfo",
      "getrandom",
      "sched_getaffinity",
      "sched_yield",
      "setpriority",
      // sockets and IPC
      "socketpair",
      "bind",
      "listen",
      "accept4",
      "connect",
      "sendto",
      "recvfrom",
      "sendmsg",
      "recvmsg",
      "setsockopt",
      "shmget",
      "semop",
      "msgsnd",
      "mq_open",
      "io_setup",
      "io_submit",
      // restricting oneself
      "seccomp",
      "landlock_restrict_self",
    ]
  ) {
    assert.equal(decide(prog, name), RET.ALLOW, name);
  }
  assert.equal(decide(prog, "socket", [2n, /* AF_INET */ 1n]), RET.ALLOW);
  assert.equal(decide(prog, "socket", [1n, /* AF_UNIX */ 1n]), RET.ALLOW);
  assert.equal(decide(prog, "socket", [16n, /* AF_NETLINK */ 3n]), RET.ALLOW);
});

Deno.test("compileSeccomp() default profile denies exactly the host-affecting calls with EPERM", () => {
  const prog = defaultFilter();
  for (const name of DENIED_BY_DEFAULT) assert.equal(decide(prog, name), EPERM, name);
  // Everything else in the table is allowed (clone3 aside), so this list is the whole story.
  const refused = Object.keys(NR).filter((name) => name !== "clone3" && decide(prog, name) !== RET.ALLOW);
  assert.deepEqual(refused.sort(), [...DENIED_BY_DEFAULT].sort());
  assert.equal(decide(prog, "socket", [40n, /* AF_VSOCK */ 1n]), EPERM);
  // The kernel reads an int: garbage in the high word is still AF_VSOCK.
  assert.equal(decide(prog, "socket", [0x1_0000_0028n, 1n]), EPERM);
  assert.equal(decide(prog, "socket", [0xffff_ffff_0000_0028n, 1n]), EPERM);
  assert.equal(
    decide(prog, "socket", [0x1_0000_0002n, 1n]),
    RET.ALLOW,
    "other families, whatever the high word",
  );
});

Deno.test("compileSeccomp() default profile: clone only without namespace flags, clone3 gets ENOSYS", () => {
  for (const prog of [defaultFilter(), defaultFilter({ add: ["CAP_SYS_ADMIN"] })]) {
    // pthread_create's flags, and fork's (SIGCHLD).
    assert.equal(decide(prog, "clone", [0x3d0f00n]), RET.ALLOW);
    assert.equal(decide(prog, "clone", [0x11n]), RET.ALLOW);
    assert.equal(decide(prog, "clone", [0x11n | 0x10000000n /* CLONE_NEWUSER */]), EPERM);
    assert.equal(decide(prog, "clone", [0x11n | 0x20000000n /* CLONE_NEWPID */]), EPERM);
    assert.equal(decide(prog, "clone", [0x20000n /* CLONE_NEWNS */]), EPERM);
    assert.equal(decide(prog, "clone", [BigInt(CLONE_NAMESPACE_FLAGS)]), EPERM);
    assert.equal(decide(prog, "clone3"), ENOSYS, "libcs fall back to clone on ENOSYS");
  }
});

Deno.test("compileSeccomp() default profile keeps mounts and namespaces denied with CAP_SYS_ADMIN", () => {
  const prog = defaultFilter({ add: ["CAP_SYS_ADMIN"] });
  for (
    const name of ["mount", "umount2", "pivot_root", "unshare", "setns", "fsopen", "open_tree", "move_mount"]
  ) {
    assert.equal(decide(prog, name), EPERM, name);
  }
  assert.equal(decide(prog, "sethostname"), RET.ALLOW, "the container's own UTS namespace");
  assert.equal(decide(prog, "bpf"), EPERM);
  assert.equal(decide(prog, "keyctl"), EPERM);
});

Deno.test("compileSeccomp() default profile allows ptrace, clock and NUMA calls with their capabilities", () => {
  const ptrace = defaultFilter({ add: ["CAP_SYS_PTRACE"] });
  for (const name of ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"]) {
    assert.equal(decide(ptrace, name), RET.ALLOW, name);
  }
  assert.equal(decide(ptrace, "clock_settime"), EPERM);
  const time = defaultFilter({ add: ["CAP_SYS_TIME"] });
  for (const name of ["clock_settime", "clock_adjtime", "settimeofday", "adjtimex"]) {
    assert.equal(decide(time, name), RET.ALLOW, name);
  }
  assert.equal(decide(time, "ptrace"), EPERM);
  const nice = defaultFilter({ add: ["CAP_SYS_NICE"] });
  for (const name of ["mbind", "set_mempolicy", "migrate_pages", "move_pages"]) {
    assert.equal(decide(nice, name), RET.ALLOW, name);
  }
  // Dropping a capability of docker's default set takes its call away.
  assert.equal(decide(defaultFilter({ drop: ["CAP_SYS_CHROOT"] }), "chroot"), EPERM);
});

Deno.test("compileSeccomp() default profile allows only docker's harmless personality values", () => {
  const prog = defaultFilter();
  for (const value of [0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn]) {
    assert.equal(decide(prog, "personality", [value]), RET.ALLOW, `personality(0x${value.toString(16)})`);
  }
  // ADDR_NO_RANDOMIZE would switch off ASLR; READ_IMPLIES_EXEC makes data executable.
  for (const value of [0x0040000n, 0x0400000n, 0x0040008n, 2n ** 32n]) {
    assert.equal(decide(prog, "personality", [value]), EPERM, `personality(0x${value.toString(16)})`);
  }
});

Deno.test("compileSeccomp() answers ENOSYS for numbers above the x86_64 table, right after the arch checks", () => {
  assert.equal(MAX_SYSCALL_X86_64, Math.max(...Object.values(NR)));
  for (
    const prog of [
      defaultFilter(),
      // Also when the default action is ALLOW: a call no profile can name is never let through.
      compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" }, ctx),
    ]
  ) {
    assert.equal(runBpf(prog, { nr: 1000, arch: X86 }), ENOSYS);
    assert.equal(runBpf(prog, { nr: MAX_SYSCALL_X86_64 + 1, arch: X86 }), ENOSYS);
    assert.equal(runBpf(prog, { nr: 0x3fffffff, arch: X86 }), ENOSYS);
    assert.notEqual(runBpf(prog, { nr: MAX_SYSCALL_X86_64, arch: X86 }), ENOSYS);
    // x32 numbers (bit 30 set) and other architectures are killed before:
    // neither profile lists them (libseccomp's "bad architecture").
    assert.equal(runBpf(prog, { nr: 0x40000000 + 1000, arch: X86 }), RET.KILL_PROCESS);
    assert.equal(runBpf(prog, { nr: 0x40000000 + NR.read!, arch: X86 }), RET.KILL_PROCESS);
    assert.equal(runBpf(prog, { nr: NR.read!, arch: 0x40000003 /* i386 */ }), RET.KILL_PROCESS);
    assert.equal(runBpf(prog, { nr: 1000, arch: 0xc00000b7 /* aarch64 */ }), RET.KILL_PROCESS);
  }
  // Instructions 0-5 check the architecture and x32; 6-7 are the stub.
  const view = new DataView(defaultFilter().buffer);
  assert.deepEqual([view.getUint16(6 * 8, true), view.getUint32(6 * 8 + 4, true)], [
    0x25,
    MAX_SYSCALL_X86_64,
  ]);
  assert.deepEqual([view.getUint16(7 * 8, true), view.getUint32(7 * 8 + 4, true)], [0x06, ENOSYS]);
});

Deno.test("compileSeccomp() skips a system call name no table knows, as libseccomp and runc do", () => {
  const profile = (names: string[]): SeccompProfile => ({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }, { names, action: "SCMP_ACT_ALLOW" }],
  });
  // A config.json written for a newer kernel names calls this one lacks.
  const prog = compileSeccomp(profile(["write", "not_a_syscall", "toString", "__proto__"]), ctx);
  assert.deepEqual(prog, compileSeccomp(profile(["write"]), ctx));
  assert.equal(decide(prog, "write"), RET.ALLOW);
  // Names must still be strings.
  assert.throws(
    () =>
      compileSeccomp({
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ names: [7 as unknown as string], action: "SCMP_ACT_ALLOW" }],
      }, ctx),
    /syscalls\[0\]\.names must hold strings/,
  );
});

Deno.test("compileSeccomp() skips the names of other architectures' calls and of newer kernels' calls", () => {
  const names = [
    "_llseek",
    "chown32",
    "fcntl64",
    "_newselect",
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
    "s390_pci_mmio_read",
    "riscv_flush_icache",
    "swapcontext",
    "recv",
    "fchmodat2",
    "futex_wake",
  ];
  const only = (extra: string[]): Uint8Array =>
    compileSeccomp({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["read", ...extra], action: "SCMP_ACT_ALLOW" }],
    }, ctx);
  const prog = only(names);
  assert.deepEqual(prog, only([]), "the skipped names leave no trace in the program");
  assert.equal(decide(prog, "read"), RET.ALLOW);
  assert.equal(decide(prog, "write"), EPERM);
});

Deno.test("loadSeccompProfile() names the file, the rule and the unknown system call", () => {
  const path = Deno.makeTempFileSync({ prefix: "tinyo-seccomp-", suffix: ".json" });
  try {
    Deno.writeTextFileSync(
      path,
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [
          { names: ["read", "_llseek"], action: "SCMP_ACT_ALLOW" },
          { names: ["s390_runtime_instr"], action: "SCMP_ACT_ALLOW", includes: { arches: ["s390x"] } },
          { names: ["mount", "mountt"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
        ],
      }),
    );
    assert.throws(
      () => loadSeccompProfile(path),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message === `Invalid seccomp profile "${path}": syscalls[2]: unknown system call "mountt"`,
    );
    Deno.writeTextFileSync(
      path,
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ names: "read", action: "SCMP_ACT_ALLOW" }],
      }),
    );
    assert.throws(() => loadSeccompProfile(path), /syscalls\[0\]\.names must be an array/);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("OTHER_ARCH_NAMES and NEWER_X86_64_NAMES share no name with the x86_64 table", () => {
  for (const name of [...OTHER_ARCH_NAMES, ...NEWER_X86_64_NAMES]) {
    assert.ok(!Object.hasOwn(NR, name), name);
  }
  for (
    const name of [
      "_llseek",
      "chown32",
      "ugetrlimit",
      "arm_fadvise64_64",
      "s390_pci_mmio_write",
      "cacheflush",
    ]
  ) {
    assert.ok(OTHER_ARCH_NAMES.has(name), name);
  }
});

Deno.test("compileSeccomp() default profile fits the kernel's limit of 4096 instructions easily", () => {
  const prog = defaultFilter({ add: ["CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_SYS_ADMIN"] });
  assert.ok(prog.byteLength / 8 < 1024, `${prog.byteLength / 8} instructions`);
});

Deno.test("compileSeccomp() kills the i386 and x32 ABIs when the profile does not list them", () => {
  for (
    const architectures of [undefined, [], ["SCMP_ARCH_X86_64"], ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]]
  ) {
    const prog = compileSeccomp({
      defaultAction: "SCMP_ACT_ALLOW",
      ...(architectures ? { architectures } : {}),
    }, ctx);
    assert.equal(runBpf(prog, { nr: 0, arch: AUDIT_ARCH_I386 }), RET.KILL_PROCESS);
    assert.equal(runBpf(prog, { nr: 0x40000000 + NR.mount!, arch: X86 }), RET.KILL_PROCESS);
    assert.equal(runBpf(prog, { nr: NR.mount!, arch: X86 }), RET.ALLOW);
  }
});

Deno.test("compileSeccomp() evaluates 64-bit argument conditions", () => {
  const rule = (op: string, value: number, valueTwo?: number): SeccompProfile => ({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{
      names: ["personality"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 22,
      args: [{ index: 1, value, ...(valueTwo === undefined ? {} : { valueTwo }), op }],
    }],
  });
  const hit = RET.ERRNO | 22;
  const big = 2 ** 32 + 5;
  const cases: [string, number, number | undefined, bigint, boolean][] = [
    ["SCMP_CMP_EQ", big, undefined, BigInt(big), true],
    ["SCMP_CMP_EQ", big, undefined, 5n, false],
    ["SCMP_CMP_NE", big, undefined, 5n, true],
    ["SCMP_CMP_NE", big, undefined, BigInt(big), false],
    ["SCMP_CMP_GT", big, undefined, BigInt(big) + 1n, true],
    ["SCMP_CMP_GT", big, undefined, BigInt(big), false],
    ["SCMP_CMP_GE", big, undefined, BigInt(big), true],
    ["SCMP_CMP_GE", big, undefined, 2n ** 32n, false],
    ["SCMP_CMP_LT", big, undefined, 7n, true],
    ["SCMP_CMP_LT", big, undefined, BigInt(big), false],
    ["SCMP_CMP_LE", big, undefined, BigInt(big), true],
    ["SCMP_CMP_LE", big, undefined, 2n ** 33n, false],
    ["SCMP_CMP_MASKED_EQ", 0xff, 0x0a, 0x120an, true],
    ["SCMP_CMP_MASKED_EQ", 0xff, 0x0a, 0x120bn, false],
  ];
  for (const [op, v, v2, arg, matches] of cases) {
    const prog = compileSeccomp(rule(op, v, v2), ctx);
    const got = runBpf(prog, { nr: NR.personality!, arch: X86, args: [0n, arg] });
    assert.equal(got, matches ? hit : RET.ALLOW, `${op} ${v} vs ${arg}`);
    // A different system call never matches, whatever its arguments.
    assert.equal(runBpf(prog, { nr: NR.getpid!, arch: X86, args: [0n, arg] }), RET.ALLOW);
  }
});

Deno.test("compileSeccomp() honours the default action and rule order", () => {
  const prog = compileSeccomp({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 13,
    syscalls: [
      { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
      { names: ["write"], action: "SCMP_ACT_KILL_PROCESS" },
    ],
  }, ctx);
  assert.equal(runBpf(prog, { nr: NR.read!, arch: X86 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: NR.write!, arch: X86 }), RET.ALLOW, "the first matching rule wins");
  assert.equal(runBpf(prog, { nr: NR.getpid!, arch: X86 }), RET.ERRNO | 13);
  assert.throws(() => compileSeccomp({ defaultAction: "SCMP_ACT_MAYBE" }, ctx), ConfigError);
  assert.throws(
    () =>
      compileSeccomp({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["read"],
          action: "SCMP_ACT_ALLOW",
          args: [{ index: 0, value: 1, op: "SCMP_CMP_ODD" }],
        }],
      }, ctx),
    /unsupported argument operator "SCMP_CMP_ODD"/,
  );
});

Deno.test("resolveProfile() applies docker's includes and excludes on capabilities and arches", () => {
  const p = resolveProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["ptrace"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64"] } },
      { names: ["s390_runtime_instr"], action: "SCMP_ACT_ALLOW", includes: { arches: ["s390x"] } },
    ],
  }, ctx);
  assert.deepEqual(p.syscalls!.map((r) => r.names![0]), ["ptrace", "arch_prctl"]);
  const admin = resolveProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } }],
  }, {
    capabilities: [...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"],
  });
  assert.deepEqual(admin.syscalls!.map((r) => r.names![0]), ["mount"]);
});

Deno.test("the syscall table matches well-known x86_64 numbers", () => {
  assert.equal(NR.read, 0);
  assert.equal(NR.execve, 59);
  assert.equal(NR.mount, 165);
  assert.equal(NR.pivot_root, 155);
  assert.equal(NR.clone3, 435);
  assert.ok(Object.keys(NR).length > 350);
});

// ---------------------------------------------------------------------------
// The runtime-spec's linux.seccomp (what podman, containerd and runc spec write)
// ---------------------------------------------------------------------------

const I386 = AUDIT_ARCH_I386;
const X32 = 0x40000000;
const X86_ALL = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/**
 * A profile in the shape podman puts in config.json (its default, trimmed):
 * ENOSYS by default, a few calls refused with EPERM, an allow-list that names
 * calls of every ABI, personality by value, socket(AF_NETLINK, *,
 * NETLINK_AUDIT) refused with EINVAL.
 */
function podmanLikeProfile(): SeccompProfile {
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    architectures: X86_ALL,
    syscalls: [
      { names: ["bdflush", "kexec_load", "open_by_handle_at"], action: "SCMP_ACT_ERRNO", errnoRet: 1 },
      {
        names: [
          "_llseek",
          "read",
          "write",
          "open",
          "openat",
          "close",
          "exit_group",
          "mmap",
          "mmap2",
          "socketcall",
          "rt_sigaction",
          "fstat64",
          "futex_waitv",
          "cachestat",
          "mseal",
        ],
        action: "SCMP_ACT_ALLOW",
      },
      ...[0, 8, 131072, 131080, 4294967295].map((value) => ({
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value, valueTwo: 0, op: "SCMP_CMP_EQ" }],
      })),
      {
        names: ["socket"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 22,
        args: [
          { index: 0, value: 16, valueTwo: 0, op: "SCMP_CMP_EQ" },
          { index: 2, value: 9, valueTwo: 0, op: "SCMP_CMP_EQ" },
        ],
      },
      { names: ["socket"], action: "SCMP_ACT_ALLOW" },
    ],
  };
}

Deno.test("compileSeccomp() accepts the OCI shape podman writes and filters each x86 ABI by its own numbers", () => {
  const prog = compileSeccomp(podmanLikeProfile(), { capabilities: [] });
  const ENOSYS_ = RET.ERRNO | 38;
  // x86_64
  assert.equal(runBpf(prog, { nr: NR.read!, arch: X86 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: NR.open!, arch: X86 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: NR.kexec_load!, arch: X86 }), EPERM);
  assert.equal(runBpf(prog, { nr: NR.getpid!, arch: X86 }), ENOSYS_, "the default action");
  assert.equal(runBpf(prog, { nr: NR.socket!, arch: X86, args: [16n, 3n, 9n] }), RET.ERRNO | 22);
  assert.equal(runBpf(prog, { nr: NR.socket!, arch: X86, args: [16n, 3n, 0n] }), RET.ALLOW);
  // i386: its own numbers (open is 5 there, 2 is fork; _llseek and mmap2 exist only there).
  assert.equal(runBpf(prog, { nr: I386_NR.read!, arch: I386 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: I386_NR.open!, arch: I386 }), RET.ALLOW);
  assert.equal(I386_NR.fork, NR.open);
  assert.equal(runBpf(prog, { nr: I386_NR.fork!, arch: I386 }), ENOSYS_, "x86_64's open is i386's fork");
  assert.equal(runBpf(prog, { nr: I386_NR._llseek!, arch: I386 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: I386_NR.mmap2!, arch: I386 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: I386_NR.socketcall!, arch: I386 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: I386_NR.kexec_load!, arch: I386 }), EPERM);
  assert.equal(runBpf(prog, { nr: I386_NR.getpid!, arch: I386 }), ENOSYS_);
  // i386 arguments are 32 bits: 0xffffffff matches, nothing above it exists.
  assert.equal(runBpf(prog, { nr: I386_NR.personality!, arch: I386, args: [0xffffffffn] }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: I386_NR.personality!, arch: I386, args: [0x40000n] }), ENOSYS_);
  assert.equal(runBpf(prog, { nr: I386_NR.socket!, arch: I386, args: [16n, 3n, 9n] }), RET.ERRNO | 22);
  // x32: bit 30 set, its own numbers from 512 on.
  assert.equal(runBpf(prog, { nr: X32 | X32_NR.read!, arch: X86 }), RET.ALLOW);
  assert.equal(X32_NR.rt_sigaction, 512);
  assert.equal(runBpf(prog, { nr: X32 | 512, arch: X86 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: X32 | NR.rt_sigaction!, arch: X86 }), ENOSYS_, "13 is no x32 call");
  assert.equal(runBpf(prog, { nr: X32 | X32_NR.getpid!, arch: X86 }), ENOSYS_);
  // Any other architecture is killed.
  assert.equal(runBpf(prog, { nr: 63, arch: 0xc00000b7 /* aarch64 */ }), RET.KILL_PROCESS);
});

Deno.test("compileSeccomp() answers ENOSYS above each ABI's table, also with ALLOW by default", () => {
  const prog = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", architectures: X86_ALL }, ctx);
  const maxI386 = Math.max(...Object.values(I386_NR));
  const x32 = Object.values(X32_NR);
  const maxX32 = Math.max(...x32);
  const maxCommon = Math.max(...x32.filter((n) => n < 512));
  assert.equal(runBpf(prog, { nr: maxI386, arch: I386 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: maxI386 + 1, arch: I386 }), ENOSYS);
  assert.equal(runBpf(prog, { nr: X32 | maxCommon, arch: X86 }), RET.ALLOW);
  assert.equal(
    runBpf(prog, { nr: X32 | (maxCommon + 1), arch: X86 }),
    ENOSYS,
    "new calls are numbered below 512",
  );
  assert.equal(runBpf(prog, { nr: X32 | 511, arch: X86 }), ENOSYS);
  assert.equal(runBpf(prog, { nr: X32 | 512, arch: X86 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: X32 | maxX32, arch: X86 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: X32 | (maxX32 + 1), arch: X86 }), ENOSYS);
  assert.equal(runBpf(prog, { nr: MAX_SYSCALL_X86_64 + 1, arch: X86 }), ENOSYS);
  // Only x86_64 and i386, no x32: x32 is killed.
  const noX32 = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", architectures: X86_ALL.slice(0, 2) }, ctx);
  assert.equal(runBpf(noX32, { nr: X32 | 0, arch: X86 }), RET.KILL_PROCESS);
  assert.equal(runBpf(noX32, { nr: 0, arch: I386 }), RET.ALLOW);
});

Deno.test("compileSeccomp() makes conditions on the same argument separate rules, as runc does", () => {
  const prog = compileSeccomp({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["personality"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: 0, op: "SCMP_CMP_EQ" }, { index: 0, value: 8, op: "SCMP_CMP_EQ" }],
    }, {
      names: ["socket"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: 2, op: "SCMP_CMP_EQ" }, { index: 1, value: 1, op: "SCMP_CMP_EQ" }],
    }],
  }, ctx);
  // Same index: either value.
  assert.equal(decide(prog, "personality", [0n]), RET.ALLOW);
  assert.equal(decide(prog, "personality", [8n]), RET.ALLOW);
  assert.equal(decide(prog, "personality", [9n]), EPERM);
  // Different indexes: both must hold.
  assert.equal(decide(prog, "socket", [2n, 1n]), RET.ALLOW);
  assert.equal(decide(prog, "socket", [2n, 2n]), EPERM);
});

Deno.test("compileSeccomp() reads a uint64 of all ones from JSON as all ones", () => {
  const prog = compileSeccomp(
    JSON.parse(`{
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{ "names": ["personality"], "action": "SCMP_ACT_ERRNO",
      "args": [{ "index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_EQ" }] }]
  }`),
    ctx,
  );
  assert.equal(decide(prog, "personality", [0xffff_ffff_ffff_ffffn]), EPERM);
  assert.equal(decide(prog, "personality", [0n]), RET.ALLOW);
});

Deno.test("compileSeccomp() refuses SCMP_ACT_NOTIFY, a listener and unknown architectures", () => {
  const cases: [SeccompProfile, RegExp][] = [
    [{ defaultAction: "SCMP_ACT_NOTIFY" }, /defaultAction: SCMP_ACT_NOTIFY is not supported/],
    [
      { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "SCMP_ACT_NOTIFY" }] },
      /syscalls\[0\]\.action: SCMP_ACT_NOTIFY is not supported/,
    ],
    [
      { defaultAction: "SCMP_ACT_ALLOW", listenerPath: "/run/agent.sock" },
      /listenerPath: SCMP_ACT_NOTIFY is not supported/,
    ],
    [
      { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_Z80"] },
      /unknown architecture "SCMP_ARCH_Z80"/,
    ],
  ];
  for (const [profile, message] of cases) {
    assert.throws(
      () => compileSeccomp(profile, ctx),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
    );
  }
});

Deno.test("seccompFilterFlags() passes LOG and SPEC_ALLOW on and refuses unknown flags", () => {
  assert.equal(seccompFilterFlags({ defaultAction: "SCMP_ACT_ALLOW" }), 0);
  assert.equal(
    seccompFilterFlags({
      defaultAction: "SCMP_ACT_ALLOW",
      flags: ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    }),
    2 | 4,
  );
  assert.throws(
    () =>
      seccompFilterFlags({ defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_NEW_LISTENER"] }),
    /unknown flag "SECCOMP_FILTER_FLAG_NEW_LISTENER"/,
  );
});

Deno.test("seccompProblem() names the wrong field of a linux.seccomp object", () => {
  assert.equal(seccompProblem(podmanLikeProfile()), undefined);
  const cases: [unknown, string, RegExp][] = [
    [[], "", /must be an object/],
    [{ defaultAction: "ALLOW" }, "defaultAction", /unknown action "ALLOW"/],
    [{ defaultAction: "SCMP_ACT_NOTIFY" }, "defaultAction", /not supported/],
    [{ defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: -1 }, "defaultErrnoRet", /errno number/],
    [{ defaultAction: "SCMP_ACT_ERRNO", architectures: ["x86_64"] }, "architectures", /unknown architecture/],
    [{ defaultAction: "SCMP_ACT_ERRNO", flags: ["TSYNC"] }, "flags", /unknown flag "TSYNC"/],
    [{ defaultAction: "SCMP_ACT_ERRNO", listenerPath: "/a" }, "listenerPath", /not supported/],
    [{ defaultAction: "SCMP_ACT_ERRNO", syscalls: {} }, "syscalls", /must be an array/],
    [
      { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: [], action: "SCMP_ACT_ALLOW" }] },
      "syscalls[0].names",
      /non-empty/,
    ],
    [
      { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_NOTIFY" }] },
      "syscalls[0].action",
      /not supported/,
    ],
    [
      {
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{
          names: ["read"],
          action: "SCMP_ACT_ALLOW",
          args: [{ index: 6, value: 0, op: "SCMP_CMP_EQ" }],
        }],
      },
      "syscalls[0].args[0].index",
      /0 to 5/,
    ],
    [
      {
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0, op: "EQ" }] }],
      },
      "syscalls[0].args[0].op",
      /unknown operator "EQ"/,
    ],
  ];
  for (const [value, field, problem] of cases) {
    const got = seccompProblem(value);
    assert.ok(got !== undefined, field);
    assert.equal(got[0], field);
    assert.match(got[1], problem);
  }
});

/** The i386 or x32 table from a UAPI header, as the generator read it. */
function headerTable(file: string): Record<string, number> | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/usr/include/x86_64-linux-gnu/asm/${file}`);
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ )?(\d+)\)?\s*$/gm)) {
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

Deno.test("the i386 and x32 tables match the kernel headers they were generated from", {
  ignore: headerTable("unistd_32.h") === undefined,
}, () => {
  assert.deepEqual({ ...I386_NR }, headerTable("unistd_32.h"));
  assert.deepEqual({ ...X32_NR }, headerTable("unistd_x32.h"));
  assert.equal(I386_NR.read, 3);
  assert.equal(I386_NR.socketcall, 102);
  assert.equal(X32_NR.execve, 520);
});

const PODMAN_PROFILE = "/usr/share/containers/seccomp.json";

/**
 * podman's default profile turned into what podman writes in config.json
 * (containers/common pkg/seccomp: rules kept whose `includes` and `excludes`
 * fit the container's capabilities and amd64, `architectures` from the
 * archMap entry of SCMP_ARCH_X86_64).
 */
function podmanOciProfile(caps: readonly string[]): SeccompProfile {
  const raw = JSON.parse(Deno.readTextFileSync(PODMAN_PROFILE)) as SeccompProfile & {
    archMap: { architecture: string; subArchitectures: string[] }[];
  };
  const amd64 = raw.archMap.find((a) => a.architecture === "SCMP_ARCH_X86_64")!;
  const fits = (r: SeccompRule): boolean =>
    (r.includes?.arches === undefined || r.includes.arches.includes("amd64")) &&
    (r.excludes?.arches === undefined || !r.excludes.arches.includes("amd64")) &&
    (r.includes?.caps === undefined || r.includes.caps.every((c) => caps.includes(c))) &&
    (r.excludes?.caps === undefined || !r.excludes.caps.some((c) => caps.includes(c)));
  return {
    defaultAction: raw.defaultAction,
    ...(raw.defaultErrnoRet !== undefined ? { defaultErrnoRet: raw.defaultErrnoRet } : {}),
    architectures: [amd64.architecture, ...amd64.subArchitectures],
    syscalls: (raw.syscalls ?? []).filter(fits).map((r) => ({
      names: r.names ?? [r.name!],
      action: r.action,
      ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args && r.args.length > 0 ? { args: r.args } : {}),
    })),
  };
}

Deno.test("compileSeccomp() compiles podman's own default profile in OCI form", {
  ignore: !(() => {
    try {
      return Deno.statSync(PODMAN_PROFILE).isFile;
    } catch {
      return false;
    }
  })(),
}, () => {
  const profile = podmanOciProfile(DEFAULT_CAPABILITIES);
  assert.equal(seccompProblem(profile), undefined);
  const prog = compileSeccomp(profile, { capabilities: DEFAULT_CAPABILITIES });
  assert.ok(prog.byteLength / 8 < 4096, `${prog.byteLength / 8} instructions`);
  const deflt = RET.ERRNO | (profile.defaultErrnoRet ?? 1);
  for (
    const [name, arch, table] of [["read", X86, NR], ["read", I386, I386_NR], [
      "_llseek",
      I386,
      I386_NR,
    ]] as const
  ) {
    assert.equal(runBpf(prog, { nr: table[name]!, arch }), RET.ALLOW, `${name} on ${arch.toString(16)}`);
  }
  assert.equal(runBpf(prog, { nr: X32 | X32_NR.read!, arch: X86 }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: NR.kexec_load!, arch: X86 }), EPERM);
  assert.equal(runBpf(prog, { nr: I386_NR.kexec_load!, arch: I386 }), EPERM);
  assert.equal(runBpf(prog, { nr: NR.bpf!, arch: X86 }), EPERM, "bpf needs CAP_SYS_ADMIN");
  assert.equal(runBpf(prog, { nr: NR.socket!, arch: X86, args: [16n, 3n, 9n] }), RET.ERRNO | 22);
  assert.equal(runBpf(prog, { nr: NR.socket!, arch: X86, args: [2n, 1n, 0n] }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: 0x3fff, arch: X86 }), ENOSYS);
  // Every call the profile allows is allowed on x86_64 and nothing it does not name.
  const allowed = new Set(
    profile.syscalls!.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args).flatMap((r) => r.names!),
  );
  for (const [name, nr] of Object.entries(NR)) {
    const got = runBpf(prog, { nr, arch: X86 });
    if (allowed.has(name)) assert.equal(got, RET.ALLOW, name);
    else if (!profile.syscalls!.some((r) => r.names!.includes(name))) assert.equal(got, deflt, name);
  }
});

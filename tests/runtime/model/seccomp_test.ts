import assert from "node:assert/strict";
import {
  AUDIT_ARCH_X86_64,
  compileSeccomp,
  loadSeccompProfile,
  MAX_SYSCALL_X86_64,
  resolveProfile,
  RET,
  type SeccompProfile,
} from "../../../runtime/model/seccomp/compile.ts";
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
    // x32 numbers (bit 30 set) are refused before, with EPERM; other architectures are killed.
    assert.equal(runBpf(prog, { nr: 0x40000000 + 1000, arch: X86 }), EPERM);
    assert.equal(runBpf(prog, { nr: 0x40000000 + NR.read!, arch: X86 }), EPERM);
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

Deno.test("compileSeccomp() rejects a system call name that exists nowhere", () => {
  const profile = (names: string[], extra = {}): SeccompProfile => ({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }, { names, action: "SCMP_ACT_ALLOW", ...extra }],
  });
  assert.throws(
    () => compileSeccomp(profile(["write", "not_a_syscall"]), ctx),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message === 'Invalid seccomp profile: syscalls[1]: unknown system call "not_a_syscall"',
  );
  // Also in a rule that does not apply to this container, and for Object's own keys.
  assert.throws(
    () => compileSeccomp(profile(["not_a_syscall"], { includes: { caps: ["CAP_SYS_ADMIN"] } }), ctx),
    ConfigError,
  );
  assert.throws(() => compileSeccomp(profile(["toString"]), ctx), /unknown system call "toString"/);
  assert.throws(() => compileSeccomp(profile(["__proto__"]), ctx), /unknown system call "__proto__"/);
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

Deno.test("compileSeccomp() checks the architecture and refuses the x32 ABI", () => {
  const prog = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" }, ctx);
  assert.equal(runBpf(prog, { nr: 0, arch: 0x40000003 /* i386 */ }), RET.KILL_PROCESS);
  assert.equal(runBpf(prog, { nr: 0x40000000 + NR.mount!, arch: X86 }), EPERM);
  assert.equal(runBpf(prog, { nr: NR.mount!, arch: X86 }), RET.ALLOW);
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

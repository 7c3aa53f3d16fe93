import assert from "node:assert/strict";
import {
  AUDIT_ARCH_X86_64,
  compileSeccomp,
  resolveProfile,
  RET,
  type SeccompProfile,
} from "../../runtime/seccomp/compile.ts";
import { CLONE_NAMESPACE_FLAGS, DEFAULT_SECCOMP_PROFILE } from "../../runtime/seccomp/default.ts";
import { SYSCALLS_X86_64 as NR } from "../../runtime/seccomp/syscalls_x86_64.ts";
import { DEFAULT_CAPABILITIES } from "../../runtime/capabilities.ts";
import { ConfigError } from "../../runtime/errors.ts";
import { runBpf } from "../helpers/bpf.ts";

const X86 = AUDIT_ARCH_X86_64;
const EPERM = RET.ERRNO | 1;
const ctx = { capabilities: DEFAULT_CAPABILITIES };

Deno.test("compileSeccomp() default profile: denies the dangerous calls with EPERM, allows the rest", () => {
  const prog = compileSeccomp(DEFAULT_SECCOMP_PROFILE, ctx);
  for (
    const name of [
      "mount",
      "umount2",
      "pivot_root",
      "kexec_load",
      "init_module",
      "bpf",
      "keyctl",
      "unshare",
      "setns",
      "reboot",
      "swapon",
      "perf_event_open",
      "userfaultfd",
      "open_by_handle_at",
      "clock_settime",
    ]
  ) {
    assert.equal(runBpf(prog, { nr: NR[name]!, arch: X86 }), EPERM, name);
  }
  for (
    const name of [
      "read",
      "write",
      "openat",
      "execve",
      "exit_group",
      "mmap",
      "socket",
      "fork",
      "wait4",
      "capset",
      "setuid",
    ]
  ) {
    assert.equal(runBpf(prog, { nr: NR[name]!, arch: X86 }), RET.ALLOW, name);
  }
  // clone: plain threads and forks are fine, namespace flags are not; clone3 falls back.
  assert.equal(runBpf(prog, { nr: NR.clone!, arch: X86, args: [0x3d0f00n] }), RET.ALLOW);
  assert.equal(runBpf(prog, { nr: NR.clone!, arch: X86, args: [0x11n | 0x20000000n] }), EPERM);
  assert.equal(runBpf(prog, { nr: NR.clone!, arch: X86, args: [BigInt(CLONE_NAMESPACE_FLAGS)] }), EPERM);
  assert.equal(runBpf(prog, { nr: NR.clone3!, arch: X86 }), RET.ERRNO | 38);
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
      { names: ["not_a_real_syscall"], action: "SCMP_ACT_ALLOW" },
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

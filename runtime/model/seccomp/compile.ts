/**
 * Compiling a seccomp profile to a classic BPF program, in TypeScript, for an
 * x86_64 kernel. The input is the runtime-spec's `linux.seccomp` (what
 * podman, containerd and `runc spec` write into config.json) or docker's
 * profile format, whose conditional rules are honoured here too (the
 * formats, their checks and `resolveProfile`: profile.ts, re-exported).
 *
 * The program first dispatches on the architecture. An x86_64 kernel runs
 * three ABIs: x86_64 itself, x32 (AUDIT_ARCH_X86_64 with bit 30 of the
 * system call number set) and i386 (AUDIT_ARCH_I386, its own numbers). Each
 * one named in `architectures` (x86_64 always, as libseccomp always adds the
 * native one) gets a section of its own: the rules are resolved by name in
 * that ABI's table, so an i386 program is filtered by the i386 numbers of
 * the very calls the profile lists, never by the x86_64 numbers that happen
 * to be equal. An ABI not named is killed (libseccomp's "bad architecture"
 * action; tinyo kills the whole process, not just the thread), so a profile
 * that does not list SCMP_ARCH_X86 gives 32-bit programs nothing at all.
 * Other architectures in the list (arm, s390x, ...) never reach an x86_64
 * kernel and are ignored.
 *
 * Each section starts with the "ENOSYS stub", following runc
 * (libcontainer/seccomp/patchbpf): numbers above the highest in the ABI's
 * table get ENOSYS. A system call newer than tinyo's tables cannot be named
 * by any profile, so no rule can have been written about it. Allowing it
 * would let through calls nobody reviewed (io_uring, which bypasses seccomp,
 * was new once); EPERM would make programs fail where they could cope, since
 * libcs take ENOSYS to mean "this kernel does not have it" and fall back to
 * an older call (clone3 → clone, faccessat2 → faccessat). runc adds its stub
 * only to profiles whose default action is not ALLOW; tinyo adds it to every
 * profile, so an unnamed call is never allowed either.
 *
 * Then the rules, in order: the first match decides. (libseccomp has no
 * order; the profiles written for it never give one call two conflicting
 * unconditional rules, so for them the two readings agree, and order lets
 * "deny socket(AF_VSOCK), allow socket" be written plainly.) As in runc,
 * argument conditions of one rule must all hold, except when two of them
 * test the same argument: then each condition is a rule of its own (runc's
 * libcontainer/seccomp/seccomp_linux.go, matchCall). 64-bit arguments are
 * compared as two 32-bit words; on i386 the upper word is known to be zero.
 *
 * Names: a name that is no system call of an ABI is skipped there, and a
 * name no table knows is skipped everywhere, as libseccomp and runc do (a
 * profile written for a newer kernel names calls this one lacks; their
 * numbers fall in the ENOSYS stub). `loadSeccompProfile`, which reads a
 * profile file someone wrote for `tinyo run --security-opt`, is stricter and
 * rejects a name that exists nowhere: there a typo would otherwise be a rule
 * that silently never matches.
 *
 * Not supported: SCMP_ACT_NOTIFY and `listenerPath` (a seccomp agent
 * receiving the listener descriptor). The filter flags LOG and SPEC_ALLOW
 * are passed on by `seccompFilterFlags` for seccomp(2); TSYNC needs nothing
 * (execve leaves a single thread, runc ignores it likewise).
 *
 * @see https://www.kernel.org/doc/html/latest/userspace-api/seccomp_filter.html
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#seccomp
 * @module
 */

import { SYSCALLS_X86_64 } from "./syscalls_x86_64.ts";
import { SYSCALLS_I386 } from "./syscalls_i386.ts";
import { SYSCALLS_X32 } from "./syscalls_x32.ts";
import { ConfigError } from "../../errors.ts";
import {
  type CompileContext,
  NOTIFY_UNSUPPORTED,
  ruleApplies,
  ruleNames,
  SECCOMP_ARCHES,
  type SeccompArg,
  type SeccompProfile,
} from "./profile.ts";

// The profile side, for the modules that import it from here.
export {
  loadSeccompProfile,
  resolveProfile,
  SECCOMP_ACTIONS,
  SECCOMP_ARCHES,
  SECCOMP_FILTER_FLAGS,
  SECCOMP_OPERATORS,
  seccompFilterFlags,
  seccompProblem,
  X86_ARCHES,
} from "./profile.ts";
export type { CompileContext, SeccompArg, SeccompProfile, SeccompRule } from "./profile.ts";

/** seccomp return values. */
export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** AUDIT_ARCH_X86_64 (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE); x32 calls carry it too. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** AUDIT_ARCH_I386 (EM_386 | __AUDIT_ARCH_LE). */
export const AUDIT_ARCH_I386 = 0x40000003;
/** __X32_SYSCALL_BIT: set in the number of every x32 system call. */
export const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;
const ENOSYS = 38;

/** The highest number in the x86_64 table: the filter answers ENOSYS above it. */
export const MAX_SYSCALL_X86_64: number = Math.max(...Object.values(SYSCALLS_X86_64));

function action(name: string, errnoRet: number | undefined, where: string): number {
  switch (name) {
    case "SCMP_ACT_ALLOW":
      return RET.ALLOW;
    case "SCMP_ACT_ERRNO":
      return RET.ERRNO | ((errnoRet ?? EPERM) & 0xffff);
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return RET.TRAP;
    case "SCMP_ACT_LOG":
      return RET.LOG;
    case "SCMP_ACT_TRACE":
      return RET.TRACE | ((errnoRet ?? EPERM) & 0xffff);
    case "SCMP_ACT_NOTIFY":
      throw new ConfigError(`Invalid seccomp profile: ${where}: ${NOTIFY_UNSUPPORTED}`);
    default:
      throw new ConfigError(`Invalid seccomp profile: ${where}: unknown action "${name}"`);
  }
}

// BPF opcodes.
const LD_W_ABS = 0x20;
const JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const JSET_K = 0x45;
const AND_K = 0x54;
const RET_K = 0x06;

type Target = number | string; // a number of instructions to skip, or a label.
interface Insn {
  code: number;
  jt: Target;
  jf: Target;
  /** A constant, or (for JA) the label to jump to. */
  k: Target;
}

/** A tiny assembler: instructions with labelled jump targets, resolved at the end. */
class Program {
  #insns: Insn[] = [];
  #labels = new Map<string, number>();

  emit(code: number, k: number, jt: Target = 0, jf: Target = 0): void {
    this.#insns.push({ code, jt, jf, k: k >>> 0 });
  }

  /** An unconditional jump, which may go further than the 255 of a conditional one. */
  ja(label: string): void {
    this.#insns.push({ code: JA, jt: 0, jf: 0, k: label });
  }

  label(name: string): void {
    this.#labels.set(name, this.#insns.length);
  }

  assemble(): Uint8Array<ArrayBuffer> {
    if (this.#insns.length > 4096) {
      throw new ConfigError(`Seccomp program too long: ${this.#insns.length} instructions (4096 at most)`);
    }
    const out = new Uint8Array(this.#insns.length * 8);
    const view = new DataView(out.buffer);
    this.#insns.forEach((insn, i) => {
      const offset = (t: Target, max: number): number => {
        if (typeof t === "number") return t;
        const at = this.#labels.get(t);
        if (at === undefined) throw new Error(`BPF label "${t}" is undefined`);
        const off = at - i - 1;
        if (off < 0 || off > max) throw new Error(`BPF jump to "${t}" out of range (${off})`);
        return off;
      };
      view.setUint16(i * 8, insn.code, true);
      view.setUint8(i * 8 + 2, offset(insn.jt, 255));
      view.setUint8(i * 8 + 3, offset(insn.jf, 255));
      view.setUint32(i * 8 + 4, offset(insn.k, 0xffffffff), true);
    });
    return out;
  }
}

const NR = 0;
const ARCH = 4;
const argLo = (i: number): number => 16 + 8 * i;
const argHi = (i: number): number => 16 + 8 * i + 4;

/**
 * The upper and lower 32-bit words of a uint64 from JSON. A double cannot
 * hold 2^64 - 1: JSON's 18446744073709551615 arrives as 2^64, and stands for
 * all ones.
 */
function words(v: number): [hi: number, lo: number] {
  if (!Number.isInteger(v) || v < 0) {
    throw new ConfigError(`Invalid seccomp profile: argument value ${v} is not a 64-bit unsigned integer`);
  }
  const b = v >= 2 ** 64 ? (1n << 64n) - 1n : BigInt(v);
  return [Number(b >> 32n), Number(b & 0xffffffffn)];
}
const hi32 = (v: number): number => words(v)[0];
const lo32 = (v: number): number => words(v)[1];

/**
 * Emits checks that fall through when `arg` holds and jump to `fail` when
 * not. With `hiZero` (a 32-bit ABI) the upper word of the argument is known
 * to be zero, so only the lower one is loaded and the upper comparison is
 * decided here.
 */
function emitArg(p: Program, arg: SeccompArg, fail: string, uid: string, hiZero: boolean): void {
  const { index: i, value: v, valueTwo: v2 = 0 } = arg;
  if (!Number.isInteger(i) || i < 0 || i > 5) {
    throw new ConfigError(`Invalid seccomp profile: argument index ${i}`);
  }
  const pass = `${uid}-pass`;
  // With hiZero the upper-word comparison is known in advance: "pass" and
  // "fail" stand for its outcome, "next" means compare the lower words.
  const vh = hi32(v);
  switch (arg.op) {
    case "SCMP_CMP_EQ":
      if (hiZero) {
        if (vh !== 0) return p.ja(fail);
      } else {
        p.emit(LD_W_ABS, argHi(i));
        p.emit(JEQ_K, vh, 0, fail);
      }
      p.emit(LD_W_ABS, argLo(i));
      p.emit(JEQ_K, lo32(v), 0, fail);
      return;
    case "SCMP_CMP_NE":
      if (hiZero) {
        if (vh !== 0) return;
      } else {
        p.emit(LD_W_ABS, argHi(i));
        p.emit(JEQ_K, vh, 0, pass);
      }
      p.emit(LD_W_ABS, argLo(i));
      p.emit(JEQ_K, lo32(v), fail, 0);
      break;
    case "SCMP_CMP_MASKED_EQ":
      if (hiZero) {
        if (hi32(v2) !== 0) return p.ja(fail);
      } else {
        p.emit(LD_W_ABS, argHi(i));
        p.emit(AND_K, vh);
        p.emit(JEQ_K, hi32(v2), 0, fail);
      }
      p.emit(LD_W_ABS, argLo(i));
      p.emit(AND_K, lo32(v));
      p.emit(JEQ_K, lo32(v2), 0, fail);
      return;
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE": {
      // hi > vhi: pass; hi < vhi: fail; equal: compare the low words.
      if (hiZero) {
        if (vh !== 0) return p.ja(fail);
      } else {
        p.emit(LD_W_ABS, argHi(i));
        p.emit(JGT_K, vh, pass, 0);
        p.emit(JEQ_K, vh, 0, fail);
      }
      p.emit(LD_W_ABS, argLo(i));
      p.emit(arg.op === "SCMP_CMP_GT" ? JGT_K : JGE_K, lo32(v), 0, fail);
      break;
    }
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE": {
      if (hiZero) {
        if (vh !== 0) return;
      } else {
        p.emit(LD_W_ABS, argHi(i));
        p.emit(JGT_K, vh, fail, 0);
        p.emit(JEQ_K, vh, 0, pass);
      }
      p.emit(LD_W_ABS, argLo(i));
      // LT: lo >= v fails; LE: lo > v fails.
      p.emit(arg.op === "SCMP_CMP_LT" ? JGE_K : JGT_K, lo32(v), fail, 0);
      break;
    }
    default:
      throw new ConfigError(`Invalid seccomp profile: unsupported argument operator "${arg.op}"`);
  }
  p.label(pass);
}

/** An ABI the x86_64 kernel runs, and how its section of the filter is built. */
interface Abi {
  /** Label prefix. */
  id: string;
  table: Readonly<Record<string, number>>;
  /** Added to every number of the table (x32's bit). */
  bit: number;
  /** A 32-bit ABI: the upper word of every argument is zero. */
  hiZero: boolean;
}

const ABI_X86_64: Abi = { id: "x86_64", table: SYSCALLS_X86_64, bit: 0, hiZero: false };
const ABI_I386: Abi = { id: "i386", table: SYSCALLS_I386, bit: 0, hiZero: true };
const ABI_X32: Abi = { id: "x32", table: SYSCALLS_X32, bit: X32_SYSCALL_BIT, hiZero: false };

/**
 * The ENOSYS stub of a section (A holds the number): ENOSYS above the
 * table's highest number, and for x32 also in the gap between its common
 * numbers and its own range that starts at 512 (new calls are numbered in
 * that gap on every x86 ABI).
 */
function emitStub(p: Program, abi: Abi): void {
  const numbers = Object.values(abi.table);
  const max = Math.max(...numbers);
  const enosys = `${abi.id}-enosys`;
  const body = `${abi.id}-body`;
  if (abi === ABI_X32) {
    const maxCommon = Math.max(...numbers.filter((n) => n < 512));
    p.emit(JGT_K, abi.bit + max, enosys, 0);
    p.emit(JGE_K, abi.bit + 512, body, 0);
    p.emit(JGT_K, abi.bit + maxCommon, enosys, body);
  } else {
    p.emit(JGT_K, max, 0, body);
  }
  p.label(enosys);
  p.emit(RET_K, RET.ERRNO | ENOSYS);
  p.label(body);
}

/**
 * Argument conditions as runc hands them to libseccomp: all of them in one
 * rule, or, when two test the same argument, each in a rule of its own.
 */
function conditionSets(args: readonly SeccompArg[]): SeccompArg[][] {
  const indexes = args.map((a) => a.index);
  return new Set(indexes).size === indexes.length ? [[...args]] : args.map((a) => [a]);
}

/** Conditional jumps reach 255 instructions: unconditional rules are emitted in groups this long. */
const GROUP = 200;

/** One ABI's section: stub, rules in order, default action. A holds the number on entry. */
function emitSection(
  p: Program,
  abi: Abi,
  rules: readonly { act: number; names: string[]; args: SeccompArg[] }[],
  deflt: number,
): void {
  emitStub(p, abi);
  let n = 0;
  for (const rule of rules) {
    const numbers = [
      ...new Set(
        rule.names.filter((name) => Object.hasOwn(abi.table, name)).map((name) => abi.bit + abi.table[name]!),
      ),
    ];
    if (rule.args.length === 0) {
      // A run of JEQs sharing one RET: one instruction per system call.
      for (let at = 0; at < numbers.length; at += GROUP) {
        const group = numbers.slice(at, at + GROUP);
        const id = `${abi.id}-g${n++}`;
        group.forEach((nr, j) => {
          if (j < group.length - 1) p.emit(JEQ_K, nr, `${id}-hit`, 0);
          else p.emit(JEQ_K, nr, 0, `${id}-next`);
        });
        p.label(`${id}-hit`);
        p.emit(RET_K, rule.act);
        p.label(`${id}-next`);
      }
      continue;
    }
    for (const nr of numbers) {
      for (const conditions of conditionSets(rule.args)) {
        const id = `${abi.id}-r${n++}`;
        p.emit(JEQ_K, nr, 0, `${id}-next`);
        conditions.forEach((a, j) => emitArg(p, a, `${id}-fail`, `${id}-a${j}`, abi.hiZero));
        p.emit(RET_K, rule.act);
        // A condition failed: A holds an argument word; reload the number.
        p.label(`${id}-fail`);
        p.emit(LD_W_ABS, NR);
        p.label(`${id}-next`);
      }
    }
  }
  p.emit(RET_K, deflt);
}

/**
 * Compiles `profile` to a BPF program (an array of 8-byte sock_filter
 * structures) for an x86_64 kernel: one section per x86 ABI named in
 * `architectures` (x86_64 always), every other ABI killed. Names a table
 * does not know are skipped, as libseccomp does.
 *
 * @throws {ConfigError} for unknown actions, operators and architectures,
 *   and for SCMP_ACT_NOTIFY and `listenerPath`, which tinyo does not support.
 */
export function compileSeccomp(profile: SeccompProfile, ctx: CompileContext): Uint8Array<ArrayBuffer> {
  const deflt = action(profile.defaultAction, profile.defaultErrnoRet, "defaultAction");
  if (profile.listenerPath !== undefined && profile.listenerPath !== "") {
    throw new ConfigError(`Invalid seccomp profile: listenerPath: ${NOTIFY_UNSUPPORTED}`);
  }
  const arches = new Set(profile.architectures ?? []);
  for (const a of arches) {
    if (!(SECCOMP_ARCHES as readonly string[]).includes(a)) {
      throw new ConfigError(`Invalid seccomp profile: architectures: unknown architecture "${a}"`);
    }
  }
  const rules: { act: number; names: string[]; args: SeccompArg[] }[] = [];
  (profile.syscalls ?? []).forEach((rule, r) => {
    const names = ruleNames(rule, r, "Invalid seccomp profile");
    if (!ruleApplies(rule, ctx)) return;
    rules.push({
      act: action(rule.action, rule.errnoRet, `syscalls[${r}].action`),
      names,
      args: rule.args ?? [],
    });
  });
  const p = new Program();
  const i386 = arches.has("SCMP_ARCH_X86");
  const x32 = arches.has("SCMP_ARCH_X32");
  // Dispatch. x86_64 first: it is the hot path (four instructions to its stub).
  p.emit(LD_W_ABS, ARCH);
  p.emit(JEQ_K, AUDIT_ARCH_X86_64, "x86_64", 0);
  if (i386) {
    p.emit(JEQ_K, AUDIT_ARCH_I386, 0, "bad-arch");
    p.ja("i386");
  }
  p.label("bad-arch");
  p.emit(RET_K, RET.KILL_PROCESS);
  p.label("x86_64");
  p.emit(LD_W_ABS, NR);
  p.emit(JSET_K, X32_SYSCALL_BIT, 0, 1);
  if (x32) p.ja("x32");
  else p.emit(RET_K, RET.KILL_PROCESS);
  emitSection(p, ABI_X86_64, rules, deflt);
  if (i386) {
    p.label("i386");
    p.emit(LD_W_ABS, NR);
    emitSection(p, ABI_I386, rules, deflt);
  }
  if (x32) {
    p.label("x32");
    emitSection(p, ABI_X32, rules, deflt);
  }
  return p.assemble();
}

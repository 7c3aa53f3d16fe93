/**
 * Compiling a seccomp profile (docker's JSON format) to a classic BPF
 * program, in TypeScript, for x86_64.
 *
 * The program checks the architecture first (anything but x86_64 is killed,
 * and the x32 ABI range of system call numbers is refused, so neither can be
 * used to slip past the rules), then answers ENOSYS for any number above the
 * highest one in the x86_64 table (the "ENOSYS stub", see below), then tests
 * the rules in order (the first match decides), then returns the default
 * action. Argument conditions compare the 64-bit arguments as two 32-bit
 * words.
 *
 * The ENOSYS stub follows runc (libcontainer/seccomp/patchbpf). A system
 * call newer than tinyo's table cannot be named by any profile, so no rule
 * can have been written about it. Allowing it would let through calls nobody
 * reviewed (io_uring, which bypasses seccomp, was new once); EPERM would make
 * programs fail where they could cope, since libcs take ENOSYS to mean "this
 * kernel does not have it" and fall back to an older call (clone3 → clone,
 * faccessat2 → faccessat, fchmodat2 → fchmodat). runc adds its stub only to
 * profiles whose default action is not ALLOW; tinyo adds it to every
 * profile, so an unnamed call is never allowed either.
 *
 * Names: a name missing from the x86_64 table is an error (a typo would
 * otherwise be a rule that never matches), except the names of other
 * architectures' calls and of x86_64 calls newer than the table
 * (other_arch_names.ts), which profiles shared across architectures and
 * kernels list, and which are skipped as libseccomp does.
 *
 * @see https://www.kernel.org/doc/html/latest/userspace-api/seccomp_filter.html
 * @see docker's profiles/seccomp/default.json for the format
 * @module
 */

import { SYSCALLS_X86_64 } from "./syscalls_x86_64.ts";
import { NEWER_X86_64_NAMES, OTHER_ARCH_NAMES } from "./other_arch_names.ts";
import { ConfigError } from "../../errors.ts";

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

/** AUDIT_ARCH_X86_64 (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE). */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;
const ENOSYS = 38;

/** The highest number in the x86_64 table: the filter answers ENOSYS above it. */
export const MAX_SYSCALL_X86_64: number = Math.max(...Object.values(SYSCALLS_X86_64));

/** One argument condition of a rule (docker's format). */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** One rule (docker's format). */
export interface SeccompRule {
  names?: string[];
  name?: string;
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
}

/** A profile (docker's format). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: SeccompRule[];
}

/** What the rules may depend on: the container's capabilities. */
export interface CompileContext {
  capabilities: readonly string[];
}

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
      return RET.TRACE | ((errnoRet ?? 0) & 0xffff);
    default:
      throw new ConfigError(`Invalid seccomp profile: ${where}: unknown action "${name}"`);
  }
}

// BPF opcodes.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const AND_K = 0x54;
const RET_K = 0x06;

type Target = number | string; // 0 = next instruction; a string is a label.
interface Insn {
  code: number;
  jt: Target;
  jf: Target;
  k: number;
  label?: string;
}

/** A tiny assembler: instructions with labelled jump targets, resolved at the end. */
class Program {
  #insns: Insn[] = [];
  #labels = new Map<string, number>();

  emit(code: number, k: number, jt: Target = 0, jf: Target = 0): void {
    this.#insns.push({ code, jt, jf, k: k >>> 0 });
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
      const rel = (t: Target): number => {
        if (typeof t === "number") return t;
        const at = this.#labels.get(t);
        if (at === undefined) throw new Error(`BPF label "${t}" is undefined`);
        const off = at - i - 1;
        if (off < 0 || off > 255) throw new Error(`BPF jump to "${t}" out of range (${off})`);
        return off;
      };
      view.setUint16(i * 8, insn.code, true);
      view.setUint8(i * 8 + 2, rel(insn.jt));
      view.setUint8(i * 8 + 3, rel(insn.jf));
      view.setUint32(i * 8 + 4, insn.k, true);
    });
    return out;
  }
}

const NR = 0;
const ARCH = 4;
const argLo = (i: number): number => 16 + 8 * i;
const argHi = (i: number): number => 16 + 8 * i + 4;
const hi32 = (v: number): number => Math.floor(v / 2 ** 32) >>> 0;
const lo32 = (v: number): number => v >>> 0;

/** Emits checks that fall through when `arg` holds and jump to `fail` when not. */
function emitArg(p: Program, arg: SeccompArg, fail: string, uid: string): void {
  const { index: i, value: v, valueTwo: v2 = 0 } = arg;
  if (!Number.isInteger(i) || i < 0 || i > 5) {
    throw new ConfigError(`Invalid seccomp profile: argument index ${i}`);
  }
  const pass = `${uid}-pass`;
  switch (arg.op) {
    case "SCMP_CMP_EQ":
      p.emit(LD_W_ABS, argHi(i));
      p.emit(JEQ_K, hi32(v), 0, fail);
      p.emit(LD_W_ABS, argLo(i));
      p.emit(JEQ_K, lo32(v), 0, fail);
      return;
    case "SCMP_CMP_NE":
      p.emit(LD_W_ABS, argHi(i));
      p.emit(JEQ_K, hi32(v), 0, pass);
      p.emit(LD_W_ABS, argLo(i));
      p.emit(JEQ_K, lo32(v), fail, 0);
      break;
    case "SCMP_CMP_MASKED_EQ":
      p.emit(LD_W_ABS, argHi(i));
      p.emit(AND_K, hi32(v));
      p.emit(JEQ_K, hi32(v2), 0, fail);
      p.emit(LD_W_ABS, argLo(i));
      p.emit(AND_K, lo32(v));
      p.emit(JEQ_K, lo32(v2), 0, fail);
      return;
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE": {
      // hi > vhi: pass; hi < vhi: fail; equal: compare the low words.
      p.emit(LD_W_ABS, argHi(i));
      p.emit(JGT_K, hi32(v), pass, 0);
      p.emit(JEQ_K, hi32(v), 0, fail);
      p.emit(LD_W_ABS, argLo(i));
      p.emit(arg.op === "SCMP_CMP_GT" ? JGT_K : JGE_K, lo32(v), 0, fail);
      break;
    }
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE": {
      p.emit(LD_W_ABS, argHi(i));
      p.emit(JGT_K, hi32(v), fail, 0);
      p.emit(JEQ_K, hi32(v), 0, pass);
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

function applies(rule: SeccompRule, ctx: CompileContext): boolean {
  const arch = (a: string[]): boolean => a.some((x) => ["amd64", "x86_64", "SCMP_ARCH_X86_64"].includes(x));
  if (rule.includes?.arches && !arch(rule.includes.arches)) return false;
  if (rule.excludes?.arches && arch(rule.excludes.arches)) return false;
  if (rule.includes?.caps && !rule.includes.caps.every((c) => ctx.capabilities.includes(c))) return false;
  if (rule.excludes?.caps && rule.excludes.caps.some((c) => ctx.capabilities.includes(c))) return false;
  return true;
}

/**
 * Resolves a docker profile's conditional rules (`includes` / `excludes` on
 * capabilities and architectures) for a container, giving the plain OCI
 * form (linux.seccomp) that the init compiles.
 */
export function resolveProfile(profile: SeccompProfile, ctx: CompileContext): SeccompProfile {
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: (profile.syscalls ?? []).filter((r) => applies(r, ctx)).map((r) => ({
      names: r.names ?? (r.name !== undefined ? [r.name] : []),
      action: r.action,
      ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args && r.args.length > 0 ? { args: r.args } : {}),
    })),
  };
}

/**
 * The x86_64 numbers of a rule's system calls, leaving out the names of other
 * architectures' calls and of calls newer than the table.
 *
 * @param what the start of an error message ("Invalid seccomp profile").
 * @throws {ConfigError} for a name that is no system call at all.
 */
function ruleNumbers(rule: SeccompRule, r: number, what: string): number[] {
  const names: unknown = rule.names ?? (rule.name !== undefined ? [rule.name] : []);
  if (!Array.isArray(names)) throw new ConfigError(`${what}: syscalls[${r}].names must be an array`);
  const out: number[] = [];
  for (const name of names) {
    if (typeof name !== "string") {
      throw new ConfigError(`${what}: syscalls[${r}].names must hold strings, not ${JSON.stringify(name)}`);
    }
    // hasOwn: "toString" and friends are no system calls.
    if (Object.hasOwn(SYSCALLS_X86_64, name)) out.push(SYSCALLS_X86_64[name]!);
    else if (!OTHER_ARCH_NAMES.has(name) && !NEWER_X86_64_NAMES.has(name)) {
      throw new ConfigError(`${what}: syscalls[${r}]: unknown system call "${name}"`);
    }
  }
  return out;
}

/**
 * Compiles `profile` to a BPF program (an array of 8-byte sock_filter
 * structures). Names of other architectures' system calls and of x86_64
 * calls newer than the table are skipped; any other unknown name is an error.
 *
 * @throws {ConfigError} for unknown actions, operators and system call names.
 */
export function compileSeccomp(profile: SeccompProfile, ctx: CompileContext): Uint8Array<ArrayBuffer> {
  const p = new Program();
  const deflt = action(profile.defaultAction, profile.defaultErrnoRet, "defaultAction");
  // Every rule's names are checked, also those of rules that do not apply here.
  const numbers = (profile.syscalls ?? []).map((rule, r) => ruleNumbers(rule, r, "Invalid seccomp profile"));
  p.emit(LD_W_ABS, ARCH);
  p.emit(JEQ_K, AUDIT_ARCH_X86_64, 1, 0);
  p.emit(RET_K, RET.KILL_PROCESS);
  p.emit(LD_W_ABS, NR);
  p.emit(JGE_K, X32_SYSCALL_BIT, 0, 1);
  p.emit(RET_K, RET.ERRNO | EPERM);
  // The ENOSYS stub (see the module comment): numbers no profile can name.
  p.emit(JGT_K, MAX_SYSCALL_X86_64, 0, 1);
  p.emit(RET_K, RET.ERRNO | ENOSYS);
  let n = 0;
  (profile.syscalls ?? []).forEach((rule, r) => {
    if (!applies(rule, ctx)) return;
    const act = action(rule.action, rule.errnoRet, `syscalls[${r}].action`);
    for (const nr of numbers[r]!) {
      const id = `r${n++}`;
      const args = rule.args ?? [];
      if (args.length === 0) {
        p.emit(JEQ_K, nr, 0, `${id}-next`);
        p.emit(RET_K, act);
        p.label(`${id}-next`);
        continue;
      }
      p.emit(JEQ_K, nr, 0, `${id}-next`);
      args.forEach((a, j) => emitArg(p, a, `${id}-fail`, `${id}-a${j}`));
      p.emit(RET_K, act);
      // A condition failed: A holds an argument word; reload the number.
      p.label(`${id}-fail`);
      p.emit(LD_W_ABS, NR);
      p.label(`${id}-next`);
    }
  });
  p.emit(RET_K, deflt);
  return p.assemble();
}

/** Reads and checks a docker-format profile file. */
export function loadSeccompProfile(path: string): SeccompProfile {
  let json: unknown;
  try {
    json = JSON.parse(Deno.readTextFileSync(path));
  } catch (err) {
    throw new ConfigError(`Cannot read seccomp profile "${path}": ${(err as Error).message}`);
  }
  const p = json as SeccompProfile;
  if (typeof p !== "object" || p === null || typeof p.defaultAction !== "string") {
    throw new ConfigError(`Invalid seccomp profile "${path}": defaultAction is missing`);
  }
  if (p.syscalls !== undefined && !Array.isArray(p.syscalls)) {
    throw new ConfigError(`Invalid seccomp profile "${path}": syscalls must be an array`);
  }
  // Checked here too, where the rule numbers still match the file: the
  // profile is resolved (rules dropped) before the init compiles it.
  (p.syscalls ?? []).forEach((rule, r) => {
    if (typeof rule !== "object" || rule === null) {
      throw new ConfigError(`Invalid seccomp profile "${path}": syscalls[${r}] must be an object`);
    }
    ruleNumbers(rule, r, `Invalid seccomp profile "${path}"`);
  });
  return p;
}

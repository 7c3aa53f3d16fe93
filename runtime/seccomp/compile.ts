/**
 * Compiling a seccomp profile (docker's JSON format) to a classic BPF
 * program, in TypeScript, for x86_64.
 *
 * The program checks the architecture first (anything but x86_64 is killed,
 * and the x32 ABI range of system call numbers is refused, so neither can be
 * used to slip past the rules), then tests the rules in order (the first match
 * decides), then returns the default action. Argument conditions compare the
 * 64-bit arguments as two 32-bit words.
 *
 * @see https://www.kernel.org/doc/html/latest/userspace-api/seccomp_filter.html
 * @see docker's profiles/seccomp/default.json for the format
 * @module
 */

import { SYSCALLS_X86_64 } from "./syscalls_x86_64.ts";
import { ConfigError } from "../errors.ts";

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
 * Compiles `profile` to a BPF program (an array of 8-byte sock_filter
 * structures). System call names the kernel headers do not know are skipped,
 * as libseccomp does for calls of other kernels.
 *
 * @throws {ConfigError} for unknown actions and operators.
 */
export function compileSeccomp(profile: SeccompProfile, ctx: CompileContext): Uint8Array<ArrayBuffer> {
  const p = new Program();
  const deflt = action(profile.defaultAction, profile.defaultErrnoRet, "defaultAction");
  p.emit(LD_W_ABS, ARCH);
  p.emit(JEQ_K, AUDIT_ARCH_X86_64, 1, 0);
  p.emit(RET_K, RET.KILL_PROCESS);
  p.emit(LD_W_ABS, NR);
  p.emit(JGE_K, X32_SYSCALL_BIT, 0, 1);
  p.emit(RET_K, RET.ERRNO | EPERM);
  let n = 0;
  (profile.syscalls ?? []).forEach((rule, r) => {
    if (!applies(rule, ctx)) return;
    const act = action(rule.action, rule.errnoRet, `syscalls[${r}].action`);
    const names = rule.names ?? (rule.name !== undefined ? [rule.name] : []);
    for (const name of names) {
      const nr = SYSCALLS_X86_64[name];
      if (nr === undefined) continue;
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
  return p;
}

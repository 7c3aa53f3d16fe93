/**
 * Seccomp profiles, the formats tinyo reads: the runtime-spec's
 * `linux.seccomp` (what podman, containerd and `runc spec` write into
 * config.json) and docker's profile format (the same plus `includes` /
 * `excludes` on capabilities and architectures, resolved here by
 * `resolveProfile`). Their types, the names each field may hold, the
 * checks run before anything is compiled, and the seccomp(2) flags.
 * Compiling is compile.ts.
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#seccomp
 * @module
 */

import { SYSCALLS_X86_64 } from "./syscalls_x86_64.ts";
import { SYSCALLS_I386 } from "./syscalls_i386.ts";
import { SYSCALLS_X32 } from "./syscalls_x32.ts";
import { NEWER_X86_64_NAMES, OTHER_ARCH_NAMES } from "./other_arch_names.ts";
import { ConfigError } from "../../errors.ts";

/** The actions of config-linux.md that tinyo compiles. */
export const SECCOMP_ACTIONS = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_LOG",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_TRAP",
] as const;

/** The argument operators of config-linux.md (all compiled). */
export const SECCOMP_OPERATORS = [
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_LE",
  "SCMP_CMP_LT",
  "SCMP_CMP_MASKED_EQ",
  "SCMP_CMP_NE",
] as const;

/**
 * The architecture names config-linux.md lists, and libseccomp's later
 * ones: accepted in `architectures`. Anything else is an error, as in runc.
 */
export const SECCOMP_ARCHES = [
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
] as const;

/** The architectures that run on an x86_64 kernel: those the filter has sections for. */
export const X86_ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] as const;

/** seccomp(2) filter flags by their config-linux.md names. */
export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1 << 0,
  SECCOMP_FILTER_FLAG_LOG: 1 << 1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1 << 2,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1 << 5,
};

/** One argument condition of a rule. */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** One rule: config-linux.md's shape, plus docker's `name`, `includes` and `excludes`. */
export interface SeccompRule {
  names?: string[];
  name?: string;
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
}

/** A profile: config-linux.md's `linux.seccomp` (docker's format is the same plus conditional rules). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  /** seccomp(2) flags: see `seccompFilterFlags`. */
  flags?: string[];
  /** A seccomp agent's socket (SCMP_ACT_NOTIFY): not supported. */
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompRule[];
}

/** What the rules may depend on: the container's capabilities. */
export interface CompileContext {
  capabilities: readonly string[];
}

/** Why SCMP_ACT_NOTIFY and `listenerPath` are refused. */
export const NOTIFY_UNSUPPORTED =
  "SCMP_ACT_NOTIFY is not supported (tinyo cannot hand a seccomp listener to an agent)";

/** Whether a rule's docker conditions (`includes`, `excludes`) hold for an x86_64 container with `ctx`. */
export function ruleApplies(rule: SeccompRule, ctx: CompileContext): boolean {
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
    syscalls: (profile.syscalls ?? []).filter((r) => ruleApplies(r, ctx)).map((r) => ({
      names: r.names ?? (r.name !== undefined ? [r.name] : []),
      action: r.action,
      ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args && r.args.length > 0 ? { args: r.args } : {}),
    })),
  };
}

/** A rule's names (`names`, or docker's `name`), checked to be an array of strings. */
export function ruleNames(rule: SeccompRule, r: number, what: string): string[] {
  const names: unknown = rule.names ?? (rule.name !== undefined ? [rule.name] : []);
  if (!Array.isArray(names)) throw new ConfigError(`${what}: syscalls[${r}].names must be an array`);
  for (const name of names) {
    if (typeof name !== "string") {
      throw new ConfigError(`${what}: syscalls[${r}].names must hold strings, not ${JSON.stringify(name)}`);
    }
  }
  return names;
}

/** Whether some table or list knows `name` (hasOwn: "toString" is no system call). */
function knownName(name: string): boolean {
  return Object.hasOwn(SYSCALLS_X86_64, name) || Object.hasOwn(SYSCALLS_I386, name) ||
    Object.hasOwn(SYSCALLS_X32, name) || OTHER_ARCH_NAMES.has(name) || NEWER_X86_64_NAMES.has(name);
}

/**
 * The flags to pass to seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) for
 * the profile's `flags`: LOG (log every action but ALLOW) and SPEC_ALLOW
 * (leave the speculative store bypass mitigation off). TSYNC is left out:
 * the filter is installed just before execve, which leaves one thread
 * (runc ignores it too); WAIT_KILLABLE_RECV only means something with a
 * listener, which tinyo refuses, and the kernel rejects it without one.
 *
 * @throws {ConfigError} for a flag config-linux.md does not define.
 */
export function seccompFilterFlags(profile: SeccompProfile): number {
  let flags = 0;
  for (const name of profile.flags ?? []) {
    const bit = SECCOMP_FILTER_FLAGS[name];
    if (bit === undefined || !Object.hasOwn(SECCOMP_FILTER_FLAGS, name)) {
      throw new ConfigError(`Invalid seccomp profile: flags: unknown flag "${name}"`);
    }
    if (name === "SECCOMP_FILTER_FLAG_LOG" || name === "SECCOMP_FILTER_FLAG_SPEC_ALLOW") flags |= bit;
  }
  return flags;
}

function isUint(v: unknown, max = 2 ** 64): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/**
 * Checks the shape of a `linux.seccomp` object (config-linux.md) before
 * anything runs: the field that is wrong (relative to the profile, e.g.
 * `syscalls[3].args[0].op`) and what is wrong with it, or undefined when it
 * is fine. SCMP_ACT_NOTIFY and `listenerPath` are reported as unsupported.
 */
export function seccompProblem(value: unknown): [field: string, problem: string] | undefined {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const actionProblem = (a: unknown): string | undefined => {
    if (a === "SCMP_ACT_NOTIFY") return NOTIFY_UNSUPPORTED;
    if (typeof a !== "string" || !(SECCOMP_ACTIONS as readonly string[]).includes(a)) {
      return `unknown action ${JSON.stringify(a)}`;
    }
    return undefined;
  };
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
  if (!isObject(value)) return ["", "must be an object"];
  const bad = actionProblem(value.defaultAction);
  if (bad !== undefined) return ["defaultAction", bad];
  if (value.defaultErrnoRet !== undefined && !isUint(value.defaultErrnoRet, 0xffff)) {
    return ["defaultErrnoRet", `must be an errno number, got ${JSON.stringify(value.defaultErrnoRet)}`];
  }
  if (value.architectures !== undefined) {
    if (!strings(value.architectures)) return ["architectures", "must be an array of strings"];
    const unknown = value.architectures.find((a) => !(SECCOMP_ARCHES as readonly string[]).includes(a));
    if (unknown !== undefined) return ["architectures", `unknown architecture ${JSON.stringify(unknown)}`];
  }
  if (value.flags !== undefined) {
    if (!strings(value.flags)) return ["flags", "must be an array of strings"];
    const unknown = value.flags.find((f) => !Object.hasOwn(SECCOMP_FILTER_FLAGS, f));
    if (unknown !== undefined) return ["flags", `unknown flag ${JSON.stringify(unknown)}`];
  }
  if (value.listenerPath !== undefined) {
    if (typeof value.listenerPath !== "string") return ["listenerPath", "must be a string"];
    if (value.listenerPath !== "") return ["listenerPath", NOTIFY_UNSUPPORTED];
  }
  if (value.listenerMetadata !== undefined && typeof value.listenerMetadata !== "string") {
    return ["listenerMetadata", "must be a string"];
  }
  if (value.syscalls === undefined || value.syscalls === null) return undefined;
  if (!Array.isArray(value.syscalls)) return ["syscalls", "must be an array"];
  for (const [r, rule] of value.syscalls.entries()) {
    const at = `syscalls[${r}]`;
    if (!isObject(rule)) return [at, "must be an object"];
    const names = rule.names ?? (rule.name !== undefined ? [rule.name] : undefined);
    if (!strings(names) || names.length === 0) return [`${at}.names`, "must be a non-empty array of strings"];
    const bad = actionProblem(rule.action);
    if (bad !== undefined) return [`${at}.action`, bad];
    if (rule.errnoRet !== undefined && !isUint(rule.errnoRet, 0xffff)) {
      return [`${at}.errnoRet`, `must be an errno number, got ${JSON.stringify(rule.errnoRet)}`];
    }
    if (rule.args === undefined || rule.args === null) continue;
    if (!Array.isArray(rule.args)) return [`${at}.args`, "must be an array"];
    for (const [j, arg] of rule.args.entries()) {
      const where = `${at}.args[${j}]`;
      if (!isObject(arg)) return [where, "must be an object"];
      if (!isUint(arg.index, 5)) {
        return [`${where}.index`, `must be 0 to 5, got ${JSON.stringify(arg.index)}`];
      }
      if (!isUint(arg.value)) {
        return [`${where}.value`, `must be a non-negative integer, got ${JSON.stringify(arg.value)}`];
      }
      if (arg.valueTwo !== undefined && !isUint(arg.valueTwo)) {
        return [`${where}.valueTwo`, `must be a non-negative integer, got ${JSON.stringify(arg.valueTwo)}`];
      }
      if (!(SECCOMP_OPERATORS as readonly string[]).includes(arg.op as string)) {
        return [`${where}.op`, `unknown operator ${JSON.stringify(arg.op)}`];
      }
    }
  }
  return undefined;
}

/**
 * Reads and checks a docker-format profile file (`tinyo run --security-opt
 * seccomp=FILE`): a system call name that exists in no table and in no
 * list of other architectures' names is an error here, so that a typo is
 * reported instead of becoming a rule that never matches.
 */
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
  // Checked here, where the rule numbers still match the file: the profile
  // is resolved (rules dropped) before the init compiles it.
  (p.syscalls ?? []).forEach((rule, r) => {
    if (typeof rule !== "object" || rule === null) {
      throw new ConfigError(`Invalid seccomp profile "${path}": syscalls[${r}] must be an object`);
    }
    for (const name of ruleNames(rule, r, `Invalid seccomp profile "${path}"`)) {
      if (!knownName(name)) {
        throw new ConfigError(
          `Invalid seccomp profile "${path}": syscalls[${r}]: unknown system call "${name}"`,
        );
      }
    }
  });
  return p;
}

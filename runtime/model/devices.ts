/**
 * Device access control: which device nodes a container may create (mknod)
 * and open, on either cgroup layout. Without it a container that can mknod
 * could open any host device, e.g. the host disk (`b 8 0`).
 *
 * The rules are the OCI `linux.resources.devices` list: each entry allows or
 * denies some of r (read), w (write), m (mknod) for a device type and
 * major/minor (absent = any). Later rules override earlier ones, bit by bit:
 * for each access bit a request carries, the last rule that matches the
 * device and names that bit decides; no such rule denies. A request is
 * allowed only when all of its bits are.
 *
 * - cgroup v1: the rules become writes to devices.deny / devices.allow
 *   (`v1DeviceWrites`); the kernel keeps the list.
 * - cgroup v2: there is no devices file; the rules are compiled to an eBPF
 *   program of type BPF_PROG_TYPE_CGROUP_DEVICE (`compileDeviceFilter`) and
 *   attached to the cgroup (`attachDeviceFilter`).
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#allowed-device-cgroup
 * @see https://docs.kernel.org/admin-guide/cgroup-v1/devices.html
 * @see include/uapi/linux/bpf.h (struct bpf_cgroup_dev_ctx, BPF_DEVCG_*)
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Device } from "./spec.ts";

/** One `linux.resources.devices` entry. */
export interface DeviceRule {
  /** Allow (true) or deny (false) the access bits below. */
  allow: boolean;
  /** "c" char, "b" block, "a" both (the default). */
  type?: "a" | "c" | "b";
  /** Device major number; absent or -1 means any. */
  major?: number;
  /** Device minor number; absent or -1 means any. */
  minor?: number;
  /** A subset of "rwm": read, write, mknod. Default "rwm". */
  access?: string;
}

/**
 * Access bits, the same in the v1 controller (ACC_* in
 * security/device_cgroup.c) and for eBPF (BPF_DEVCG_ACC_* in
 * include/uapi/linux/bpf.h).
 */
const ACC = { MKNOD: 1, READ: 2, WRITE: 4, ALL: 7 } as const;
/** Device types of an eBPF request (BPF_DEVCG_DEV_* in include/uapi/linux/bpf.h). */
const DEV = { BLOCK: 1, CHAR: 2 } as const;

/**
 * Largest major and minor numbers a device can have: the kernel's dev_t
 * keeps 12 bits of major and 20 of minor (MINORBITS in include/linux/kdev_t.h),
 * and the device cgroup sees MAJOR(dev) and MINOR(dev) of that dev_t.
 */
const MAX_MAJOR = 0xfff;
const MAX_MINOR = 0xfffff;

/**
 * The default device rules: deny everything, then allow creating any char or
 * block node (so images and the init can make nodes; opening them is what is
 * controlled) and full access to the safe devices only (the runtime-spec's
 * default devices plus the terminal ones). Not allowed, on purpose:
 * /dev/console (c 5:1; a container's console is a pts, covered by 136:*),
 * /dev/net/tun (c 10:200), /dev/fuse (c 10:229), /dev/mem, /dev/kmsg and
 * every block device.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = Object.freeze([
  // Deny all first: everything not allowed below is refused.
  { allow: false, type: "a", access: "rwm" },
  // mknod of any char device (opening the node is still checked).
  { allow: true, type: "c", access: "m" },
  // mknod of any block device (opening the node is still checked).
  { allow: true, type: "b", access: "m" },
  // /dev/null
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  // /dev/zero
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  // /dev/full
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
  // /dev/random
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  // /dev/urandom
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  // /dev/tty: the process's controlling terminal
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  // /dev/ptmx: opening it allocates a pty in the container's own devpts
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
  // /dev/pts/*: the pty slaves (UNIX98_PTY_SLAVE_MAJOR), also the console
  { allow: true, type: "c", major: 136, access: "rwm" },
].map((r) => Object.freeze(r as DeviceRule)));

/** For --privileged: every device, every access. */
export const ALLOW_ALL_DEVICES: readonly DeviceRule[] = Object.freeze([
  Object.freeze<DeviceRule>({ allow: true, type: "a", access: "rwm" }),
]);

function bad(index: number, field: string, problem: string): never {
  throw new ConfigError(
    `Invalid container configuration: linux.resources.devices[${index}]${field}: ${problem}`,
  );
}

function checkNumber(v: unknown, index: number, field: "major" | "minor"): number | undefined {
  if (v === undefined || v === null || v === -1) return undefined;
  const max = field === "major" ? MAX_MAJOR : MAX_MINOR;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    bad(index, `.${field}`, `must be an integer, got ${JSON.stringify(v)}`);
  }
  if (v < 0 || v > max) bad(index, `.${field}`, `must be -1 (any) or 0..${max}, got ${v}`);
  return v;
}

/** Access letters in the kernel's order (set_access in security/device_cgroup.c). */
function canonicalAccess(bits: number): string {
  return (bits & ACC.READ ? "r" : "") + (bits & ACC.WRITE ? "w" : "") + (bits & ACC.MKNOD ? "m" : "");
}

function accessBits(access: string): number {
  let bits = 0;
  for (const ch of access) {
    bits |= ch === "r" ? ACC.READ : ch === "w" ? ACC.WRITE : ch === "m" ? ACC.MKNOD : 0;
  }
  return bits;
}

/**
 * Checks an OCI `linux.resources.devices` value and returns it normalised:
 * `type` and `access` filled in (access letters in "rwm" order, each once),
 * wildcard major/minor (absent, null or -1) left out.
 *
 * @param rules the parsed JSON value.
 * @returns the rules, as new objects.
 * @throws {ConfigError} naming the index and the problem: not an array or
 * object, `allow` not a boolean, a type other than "a", "b", "c", access
 * letters outside "rwm" (or none), a major/minor that is not an integer or
 * not a possible device number.
 */
export function validateDeviceRules(rules: unknown): DeviceRule[] {
  if (!Array.isArray(rules)) {
    throw new ConfigError("Invalid container configuration: linux.resources.devices: must be an array");
  }
  return rules.map((r: unknown, i): DeviceRule => {
    if (typeof r !== "object" || r === null || Array.isArray(r)) bad(i, "", "must be an object");
    const o = r as Record<string, unknown>;
    if (typeof o.allow !== "boolean") {
      bad(i, ".allow", `must be true or false, got ${JSON.stringify(o.allow)}`);
    }
    const type = o.type ?? "a";
    if (type !== "a" && type !== "b" && type !== "c") {
      bad(i, ".type", `must be "a", "b" or "c", got ${JSON.stringify(o.type)}`);
    }
    const access = o.access ?? "rwm";
    if (typeof access !== "string" || !/^[rwm]+$/.test(access)) {
      bad(i, ".access", `must be letters from "rwm", got ${JSON.stringify(o.access)}`);
    }
    const major = checkNumber(o.major, i, "major");
    const minor = checkNumber(o.minor, i, "minor");
    return {
      allow: o.allow,
      type,
      ...(major !== undefined ? { major } : {}),
      ...(minor !== undefined ? { minor } : {}),
      access: canonicalAccess(accessBits(access)),
    };
  });
}

/**
 * The allow rule for a node the spec's `linux.devices` creates, so the
 * container can use it (runc adds these automatically). A FIFO ("p") is not
 * a device to the device cgroup (it checks only char and block nodes), so it
 * needs no rule: undefined.
 *
 * @throws {ConfigError} when a char or block node has no major/minor number,
 * or an impossible one: a wildcard rule would allow far more than the node.
 */
export function deviceRuleForNode(d: Device): DeviceRule | undefined {
  if (d.type === "p") return undefined;
  for (const field of ["major", "minor"] as const) {
    const v = d[field];
    const max = field === "major" ? MAX_MAJOR : MAX_MINOR;
    if (v === undefined || !Number.isInteger(v) || v < 0 || v > max) {
      throw new ConfigError(
        `Invalid container configuration: linux.devices "${d.path}": ${field} must be 0..${max}, got ${
          JSON.stringify(v)
        }`,
      );
    }
  }
  // "u" (unbuffered char) is a char device to the kernel.
  return { allow: true, type: d.type === "b" ? "b" : "c", major: d.major!, minor: d.minor!, access: "rwm" };
}

// --- cgroup v1 -------------------------------------------------------------

/** One write into a v1 `devices` cgroup. */
export interface V1DeviceWrite {
  file: "devices.allow" | "devices.deny";
  line: string;
}

/** A rule as the v1 controller stores it: one type, exact or wildcard numbers. */
interface V1Entry {
  type: "c" | "b";
  major: number | undefined;
  minor: number | undefined;
}

function entryText(e: V1Entry, bits: number): string {
  return `${e.type} ${e.major ?? "*"}:${e.minor ?? "*"} ${canonicalAccess(bits)}`;
}

function overlaps(a: V1Entry, b: V1Entry): boolean {
  return a.type === b.type &&
    (a.major === undefined || b.major === undefined || a.major === b.major) &&
    (a.minor === undefined || b.minor === undefined || a.minor === b.minor);
}

/**
 * The writes that realise `rules` in a cgroup v1 `devices` cgroup, in order:
 * `a` to devices.deny (default deny, exceptions cleared), then each rule to
 * devices.allow or devices.deny in kernel syntax (`c 1:3 rwm`, `b *:* m`,
 * `a *:* rwm`).
 *
 * The v1 controller does not evaluate rules in order: it keeps a default
 * (allow or deny) plus a list of exceptions, and (security/device_cgroup.c):
 *
 * - a line starting with `a` resets everything, whatever numbers and access
 *   follow it; so only an "any device, rwm" rule is written as `a *:* rwm`,
 *   and any other type-"a" rule becomes a `c` and a `b` line;
 * - a rule against the default removes bits only from the exception with
 *   exactly the same type and numbers (dev_exception_rm). Denying `c 1:3 w`
 *   after allowing `c *:* rwm` would leave c 1:3 writable. Such rule lists
 *   are refused here (as runc's emulator does) instead of being silently
 *   weaker than asked.
 *
 * One difference remains, on the safe side: in default-deny mode an open
 * needs a single exception holding every requested bit, so read access from
 * one rule and write access from another do not add up to O_RDWR.
 *
 * @throws {ConfigError} for invalid rules and for rules v1 cannot express.
 */
export function v1DeviceWrites(rules: readonly DeviceRule[]): V1DeviceWrite[] {
  const writes: V1DeviceWrite[] = [{ file: "devices.deny", line: "a" }];
  // What the kernel will hold: the default, and exceptions by exact key.
  let defaultAllow = false;
  let exceptions: { entry: V1Entry; bits: number; rule: number }[] = [];
  validateDeviceRules(rules).forEach((rule, i) => {
    const file = rule.allow ? "devices.allow" : "devices.deny";
    const bits = accessBits(rule.access!);
    if (rule.type === "a" && rule.major === undefined && rule.minor === undefined && bits === ACC.ALL) {
      writes.push({ file, line: "a *:* rwm" });
      defaultAllow = rule.allow;
      exceptions = [];
      return;
    }
    for (const type of rule.type === "a" ? (["c", "b"] as const) : [rule.type!]) {
      const entry: V1Entry = { type, major: rule.major, minor: rule.minor };
      const same = exceptions.find((x) =>
        x.entry.type === type && x.entry.major === entry.major &&
        x.entry.minor === entry.minor
      );
      if (rule.allow !== defaultAllow) {
        // An exception to the default: added, or merged with the same key.
        if (same === undefined) {
          exceptions.push({ entry, bits, rule: i });
        } else {
          same.bits |= bits;
          same.rule = i;
        }
      } else {
        // Back to the default: the kernel clears these bits from the
        // exception with exactly this key only. Any other exception that
        // shares devices and bits would survive, unlike in the rule list.
        const other = exceptions.find((x) => x !== same && overlaps(x.entry, entry) && (x.bits & bits) !== 0);
        if (other !== undefined) {
          const verb = (allow: boolean): string => allow ? "allow" : "deny";
          throw new ConfigError(
            `Cannot express the device rules on cgroup v1: rule ${i} (${verb(rule.allow)} "${
              entryText(entry, bits)
            }") would only partly undo rule ${other.rule} (${verb(!rule.allow)} "${
              entryText(other.entry, other.bits)
            }"), and the v1 controller removes exact matches only`,
          );
        }
        if (same !== undefined) {
          same.bits &= ~bits;
          if (same.bits === 0) exceptions = exceptions.filter((x) => x !== same);
        }
      }
      writes.push({ file, line: entryText(entry, bits) });
    }
  });
  return writes;
}

// --- cgroup v2: the eBPF program ------------------------------------------

/**
 * The eBPF opcodes the compiler emits (include/uapi/linux/bpf.h and
 * bpf_common.h): class | operation | source. "32" ALU ops work on the low 32
 * bits and zero the upper 32.
 */
const OP = {
  /** BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off) */
  LDX_W: 0x61,
  /** BPF_ALU | BPF_MOV | BPF_K: dst = imm (32-bit) */
  MOV32_K: 0xb4,
  /** BPF_ALU | BPF_AND | BPF_K: dst &= imm (32-bit) */
  AND32_K: 0x54,
  /** BPF_ALU | BPF_RSH | BPF_K: dst >>= imm (32-bit) */
  RSH32_K: 0x74,
  /** BPF_JMP | BPF_JA: goto pc + 1 + off */
  JA: 0x05,
  /** BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto pc + 1 + off */
  JNE_K: 0x55,
  /** BPF_JMP | BPF_JSET | BPF_K: if dst & imm goto pc + 1 + off */
  JSET_K: 0x45,
  /** BPF_JMP | BPF_EXIT: return r0 */
  EXIT: 0x95,
} as const;

/** Offsets in struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }. */
const CTX = { ACCESS_TYPE: 0, MAJOR: 4, MINOR: 8 } as const;

interface Insn {
  code: number;
  dst: number;
  src: number;
  /** A memory offset, or for a jump the label it goes to. */
  off: number | string;
  imm: number;
}

/** A tiny assembler: 8-byte instructions with forward jumps to labels. */
class Program {
  #insns: Insn[] = [];
  #labels = new Map<string, number>();
  #uid = 0;

  /** An instruction; `off` is a memory offset or, for a jump, a label. */
  emit(code: number, dst: number, src: number, off: number | string, imm: number): void {
    this.#insns.push({ code, dst, src, off, imm: imm | 0 });
  }

  /** A label name not used before. */
  newLabel(hint: string): string {
    return `${hint}-${this.#uid++}`;
  }

  /** Puts `name` on the next instruction emitted. */
  label(name: string): void {
    this.#labels.set(name, this.#insns.length);
  }

  /** struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }, little endian. */
  assemble(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.#insns.length * 8);
    const view = new DataView(out.buffer);
    this.#insns.forEach((insn, i) => {
      let off = insn.off;
      if (typeof off === "string") {
        const at = this.#labels.get(off);
        if (at === undefined || at >= this.#insns.length) throw new Error(`eBPF label "${off}" is undefined`);
        // Forward only: a forward-only program trivially terminates, and
        // the verifier of older kernels rejects any back-edge.
        off = at - i - 1;
        if (off < 0 || off > 0x7fff) throw new Error(`eBPF jump to "${insn.off}" out of range (${off})`);
      }
      view.setUint8(i * 8, insn.code);
      view.setUint8(i * 8 + 1, (insn.src << 4) | insn.dst);
      view.setInt16(i * 8 + 2, off, true);
      view.setInt32(i * 8 + 4, insn.imm, true);
    });
    return out;
  }
}

// Registers (eBPF calling convention: r1 holds the context on entry, r0 is
// the return value).
const R0 = 0;
const R1 = 1;
const R2 = 2;
const R3 = 3;
const R4 = 4;
const R5 = 5;

/**
 * The sections of the program: for each access bit, the rules (last first)
 * that name it; bits whose lists are the same rules share one section (r and
 * w nearly always do), which keeps the program short.
 */
function sections(reversed: readonly DeviceRule[]): [number, DeviceRule[]][] {
  const byList = new Map<string, [number, DeviceRule[]]>();
  for (const bit of [ACC.MKNOD, ACC.READ, ACC.WRITE]) {
    const indices = reversed.flatMap((r, i) => (accessBits(r.access!) & bit) !== 0 ? [i] : []);
    const list = indices.map((i) => reversed[i]!);
    const key = indices.join(",");
    const section = byList.get(key);
    if (section === undefined) byList.set(key, [bit, list]);
    else section[0] |= bit;
  }
  return [...byList.values()];
}

/**
 * Compiles `rules` to an eBPF program for BPF_PROG_TYPE_CGROUP_DEVICE: an
 * array of 8-byte `struct bpf_insn`s, little endian. The kernel runs it on
 * every mknod and every open of a device node by a process in the cgroup,
 * with `struct bpf_cgroup_dev_ctx` (access_type = (access << 16) | type);
 * returning 1 allows, 0 makes the call fail with EPERM.
 *
 * Register use (set once by the first six instructions, then only read):
 *
 * - r1: the context (input), read at offsets 0, 4 and 8 only;
 * - r2: the device type (BPF_DEVCG_DEV_BLOCK 1, BPF_DEVCG_DEV_CHAR 2);
 * - r3: the requested access bits (BPF_DEVCG_ACC_MKNOD 1, READ 2, WRITE 4);
 * - r4: major; r5: minor;
 * - r0: the verdict, set just before each of the two exits.
 *
 * Shape: a request with a bit we do not know is denied. Then one section
 * per access bit (m, r, w; bits with the same rules share one), skipped
 * when the request has none of its bits: the rules naming the bit, LAST
 * first; the first whose type, major and minor match jumps to the next
 * section (allow) or to "deny"; none matching jumps to "deny" too. A rule
 * matching every device ends its section: the rules before it in the list
 * cannot matter for that bit. Passing every section reaches "allow". (The
 * kernel only asks about block and char devices; any other type would be
 * matched by type-"a" rules only.)
 *
 * Why jumps and not a bit mask accumulated rule by rule: the verifier walks
 * every path and tracks register values exactly, so a mask that may or may
 * not change at each rule gives it 2^n states (500 rules hit its limit of a
 * million instructions). Here no register changes after the loads, so the
 * paths joining at a label look alike and the verifier prunes them: the
 * defaults plus 1000 device nodes cost it about 50,000 instructions.
 *
 * Only forward jumps, no loops, no helpers, no unreachable instruction.
 *
 * @throws {ConfigError} for invalid rules.
 */
export function compileDeviceFilter(rules: readonly DeviceRule[]): Uint8Array<ArrayBuffer> {
  const checked = validateDeviceRules(rules).reverse();
  const p = new Program();
  p.emit(OP.LDX_W, R2, R1, CTX.ACCESS_TYPE, 0);
  p.emit(OP.AND32_K, R2, 0, 0, 0xffff);
  p.emit(OP.LDX_W, R3, R1, CTX.ACCESS_TYPE, 0);
  p.emit(OP.RSH32_K, R3, 0, 0, 16);
  p.emit(OP.LDX_W, R4, R1, CTX.MAJOR, 0);
  p.emit(OP.LDX_W, R5, R1, CTX.MINOR, 0);
  const deny = p.newLabel("deny");
  p.emit(OP.JSET_K, R3, 0, deny, ~ACC.ALL);
  for (const [bits, list] of sections(checked)) {
    const check = p.newLabel("check");
    const done = p.newLabel("done");
    p.emit(OP.JSET_K, R3, 0, check, bits);
    p.emit(OP.JA, 0, 0, done, 0);
    p.label(check);
    let decided = false;
    for (const rule of list) {
      const next = p.newLabel("next");
      let conditions = 0;
      const unless = (reg: number, value: number): void => {
        p.emit(OP.JNE_K, reg, 0, next, value);
        conditions++;
      };
      if (rule.type !== "a") unless(R2, rule.type === "b" ? DEV.BLOCK : DEV.CHAR);
      if (rule.major !== undefined) unless(R4, rule.major);
      if (rule.minor !== undefined) unless(R5, rule.minor);
      p.emit(OP.JA, 0, 0, rule.allow ? done : deny, 0);
      if (conditions === 0) {
        decided = true;
        break;
      }
      p.label(next);
    }
    if (!decided) p.emit(OP.JA, 0, 0, deny, 0);
    p.label(done);
  }
  p.emit(OP.MOV32_K, R0, 0, 0, 1);
  p.emit(OP.EXIT, 0, 0, 0, 0);
  p.label(deny);
  p.emit(OP.MOV32_K, R0, 0, 0, 0);
  p.emit(OP.EXIT, 0, 0, 0, 0);
  return p.assemble();
}

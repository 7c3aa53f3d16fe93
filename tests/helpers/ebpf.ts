/**
 * A strict eBPF interpreter for exactly the instructions tinyo's device
 * filter compiler emits (runtime/cgroups/devices.ts), so tests can run a
 * compiled BPF_PROG_TYPE_CGROUP_DEVICE program against a device request and
 * see what it decides. It fails loudly where the kernel's verifier would
 * refuse the program: any other opcode, reserved fields set, a read of an
 * uninitialised register, a context read other than a u32 at offset 0, 4
 * or 8, a backward jump, falling off the end, a return value other than
 * 0 or 1. `checkShape` adds the verifier's static control-flow checks
 * (unreachable instructions, jumps out of the program).
 *
 * Opcodes from include/uapi/linux/bpf.h and bpf_common.h.
 */

/** The input of a device program: struct bpf_cgroup_dev_ctx. */
export interface DevCtx {
  /** (access << 16) | type */
  accessType: number;
  major: number;
  minor: number;
}

/** A device request in the terms tests use. */
export interface DeviceRequest {
  type: "c" | "b";
  major: number;
  minor: number;
  /** Letters from "rwm". */
  access: string;
}

type Reg = { kind: "ctx" } | { kind: "scalar"; v: bigint } | undefined;

const MASK32 = 0xffffffffn;

interface Decoded {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

function decode(program: Uint8Array, pc: number): Decoded {
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const regs = view.getUint8(pc * 8 + 1);
  return {
    code: view.getUint8(pc * 8),
    dst: regs & 0xf,
    src: regs >> 4,
    off: view.getInt16(pc * 8 + 2, true),
    imm: view.getInt32(pc * 8 + 4, true),
  };
}

function count(program: Uint8Array): number {
  if (program.byteLength === 0 || program.byteLength % 8 !== 0) {
    throw new Error(`eBPF program of ${program.byteLength} bytes is not whole instructions`);
  }
  return program.byteLength / 8;
}

/** The opcodes this interpreter knows, with their kind. */
type Kind = "ldx" | "alu" | "ja" | "jmp_k" | "exit";

const OPCODES: Record<number, Kind> = {
  0x61: "ldx", // BPF_LDX | BPF_MEM | BPF_W
  0xb4: "alu", // BPF_ALU | BPF_MOV | BPF_K
  0x54: "alu", // BPF_ALU | BPF_AND | BPF_K
  0x74: "alu", // BPF_ALU | BPF_RSH | BPF_K
  0x05: "ja", // BPF_JMP | BPF_JA
  0x55: "jmp_k", // BPF_JMP | BPF_JNE | BPF_K
  0x45: "jmp_k", // BPF_JMP | BPF_JSET | BPF_K
  0x95: "exit", // BPF_JMP | BPF_EXIT
};

function kindOf(insn: Decoded, pc: number): Kind {
  const kind = OPCODES[insn.code];
  if (kind === undefined) {
    throw new Error(`eBPF opcode 0x${insn.code.toString(16)} at ${pc} is not supported`);
  }
  const reserved = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`eBPF instruction at ${pc} has ${what} set`);
  };
  if (kind === "alu" || kind === "jmp_k") reserved(insn.src === 0, "a source register");
  if (kind === "alu") reserved(insn.off === 0, "an offset");
  if (kind === "ldx") reserved(insn.imm === 0, "an immediate");
  if (kind === "ja") reserved(insn.dst === 0 && insn.src === 0 && insn.imm === 0, "fields");
  if (kind === "exit") {
    reserved(insn.dst === 0 && insn.src === 0 && insn.off === 0 && insn.imm === 0, "fields");
  }
  if (insn.dst > 9 || insn.src > 10) throw new Error(`eBPF instruction at ${pc} uses a bad register`);
  if ((kind === "ja" || kind === "jmp_k") && insn.off < 0) throw new Error(`eBPF backward jump at ${pc}`);
  return kind;
}

/**
 * Checks the program's control flow statically, as the verifier's first pass
 * does: every opcode known, jumps forward and inside the program, no path
 * falling off the end, and every instruction reachable.
 */
export function checkShape(program: Uint8Array): void {
  const n = count(program);
  const reached = new Array<boolean>(n).fill(false);
  reached[0] = true;
  for (let pc = 0; pc < n; pc++) {
    if (!reached[pc]) throw new Error(`eBPF instruction ${pc} is unreachable`);
    const insn = decode(program, pc);
    const kind = kindOf(insn, pc);
    if (kind === "exit") continue;
    const next = kind === "ja" ? [pc + 1 + insn.off] : [pc + 1];
    if (kind === "jmp_k") next.push(pc + 1 + insn.off);
    for (const t of next) {
      if (t >= n) throw new Error(`eBPF instruction ${pc} leads past the end (${t})`);
      reached[t] = true;
    }
  }
}

/** Runs `program` on `ctx`; returns r0 at exit. */
export function runEbpf(program: Uint8Array, ctx: DevCtx): number {
  const n = count(program);
  const mem = new DataView(new ArrayBuffer(12));
  mem.setUint32(0, ctx.accessType >>> 0, true);
  mem.setUint32(4, ctx.major >>> 0, true);
  mem.setUint32(8, ctx.minor >>> 0, true);
  const regs: Reg[] = new Array<Reg>(11).fill(undefined);
  regs[1] = { kind: "ctx" };
  regs[10] = { kind: "ctx" }; // the frame pointer: not a scalar either way
  const scalar = (r: number, pc: number): bigint => {
    const reg = regs[r];
    if (reg === undefined) throw new Error(`eBPF reads uninitialised r${r} at ${pc}`);
    if (reg.kind !== "scalar") throw new Error(`eBPF uses pointer r${r} as a number at ${pc}`);
    return reg.v;
  };
  let pc = 0;
  for (let steps = 0; steps <= n; steps++) {
    if (pc >= n) throw new Error(`eBPF fell off the end at ${pc}`);
    const insn = decode(program, pc);
    const kind = kindOf(insn, pc);
    const k32 = BigInt(insn.imm >>> 0);
    const at = pc;
    pc++;
    switch (insn.code) {
      case 0x61: {
        if (regs[insn.src]?.kind !== "ctx" || insn.src !== 1) {
          throw new Error(`eBPF loads through r${insn.src}, not the context, at ${at}`);
        }
        if (![0, 4, 8].includes(insn.off)) throw new Error(`eBPF reads the context at offset ${insn.off}`);
        regs[insn.dst] = { kind: "scalar", v: BigInt(mem.getUint32(insn.off, true)) };
        break;
      }
      case 0xb4:
        regs[insn.dst] = { kind: "scalar", v: k32 };
        break;
      case 0x54:
        regs[insn.dst] = { kind: "scalar", v: (scalar(insn.dst, at) & MASK32) & k32 };
        break;
      case 0x74:
        if (insn.imm < 0 || insn.imm > 31) throw new Error(`eBPF 32-bit shift by ${insn.imm} at ${at}`);
        regs[insn.dst] = { kind: "scalar", v: (scalar(insn.dst, at) & MASK32) >> k32 };
        break;
      case 0x05:
        pc += insn.off;
        break;
      // Both compare the 64-bit register with the sign-extended immediate,
      // as the kernel does.
      case 0x55:
        if (scalar(insn.dst, at) !== BigInt.asUintN(64, BigInt(insn.imm))) pc += insn.off;
        break;
      case 0x45:
        if ((scalar(insn.dst, at) & BigInt.asUintN(64, BigInt(insn.imm))) !== 0n) pc += insn.off;
        break;
      case 0x95: {
        const r0 = scalar(0, at);
        // The verifier limits a cgroup device program's return value to [0, 1].
        if (r0 !== 0n && r0 !== 1n) throw new Error(`eBPF returns ${r0}, not 0 or 1`);
        return Number(r0);
      }
      default:
        throw new Error(`eBPF opcode kind ${kind} at ${at} not handled`);
    }
  }
  throw new Error("eBPF program did not exit");
}

/** Access letters to BPF_DEVCG_ACC_* bits. */
export function accessBits(access: string): number {
  let bits = 0;
  for (const ch of access) {
    const bit = ({ m: 1, r: 2, w: 4 } as Record<string, number>)[ch];
    if (bit === undefined) throw new Error(`Unknown access letter "${ch}"`);
    bits |= bit;
  }
  return bits;
}

/** Runs a device filter on `req` as the kernel would; true means allowed. */
export function runDeviceFilter(program: Uint8Array, req: DeviceRequest): boolean {
  const type = req.type === "b" ? 1 : 2; // BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
  return runEbpf(program, {
    accessType: ((accessBits(req.access) << 16) | type) >>> 0,
    major: req.major,
    minor: req.minor,
  }) === 1;
}

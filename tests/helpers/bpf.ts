/**
 * A classic-BPF interpreter for the instructions tinyo's seccomp compiler
 * emits (LD W ABS, JEQ/JGT/JGE/JSET K, AND K, RET K), so tests can run a
 * compiled filter against a `seccomp_data` and see what it decides.
 */

/** A system call as the kernel hands it to a seccomp filter. */
export interface SeccompData {
  nr: number;
  arch: number;
  args?: bigint[];
}

/** Runs `program` on `data`; returns the filter's return value. */
export function runBpf(program: Uint8Array, data: SeccompData): number {
  const buf = new DataView(new ArrayBuffer(64));
  buf.setUint32(0, data.nr, true);
  buf.setUint32(4, data.arch, true);
  (data.args ?? []).forEach((a, i) => buf.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true));
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps < 100_000; steps++) {
    if (pc * 8 >= program.byteLength) throw new Error(`BPF fell off the end at ${pc}`);
    const code = view.getUint16(pc * 8, true);
    const jt = view.getUint8(pc * 8 + 2);
    const jf = view.getUint8(pc * 8 + 3);
    const k = view.getUint32(pc * 8 + 4, true);
    pc++;
    switch (code) {
      case 0x20: // LD W ABS
        a = buf.getUint32(k, true);
        break;
      case 0x54: // AND K
        a = (a & k) >>> 0;
        break;
      case 0x15: // JEQ K
        pc += a === k ? jt : jf;
        break;
      case 0x25: // JGT K
        pc += a > k ? jt : jf;
        break;
      case 0x35: // JGE K
        pc += a >= k ? jt : jf;
        break;
      case 0x45: // JSET K
        pc += (a & k) !== 0 ? jt : jf;
        break;
      case 0x05: // JA
        pc += k;
        break;
      case 0x06: // RET K
        return k;
      default:
        throw new Error(`unknown BPF opcode 0x${code.toString(16)} at ${pc - 1}`);
    }
  }
  throw new Error("BPF program did not return");
}

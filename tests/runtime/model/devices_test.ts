import assert from "node:assert/strict";
import {
  ALLOW_ALL_DEVICES,
  compileDeviceFilter,
  DEFAULT_DEVICE_RULES,
  type DeviceRule,
  deviceRuleForNode,
  v1DeviceWrites,
  validateDeviceRules,
} from "../../../runtime/model/devices.ts";
import { ConfigError } from "../../../runtime/errors.ts";
import { accessBits, checkShape, type DeviceRequest, runDeviceFilter, runEbpf } from "../../helpers/ebpf.ts";

function req(spec: string): DeviceRequest {
  // "c 1:3 rw"
  const m = /^([cb]) (\d+):(\d+) ([rwm]+)$/.exec(spec);
  if (m === null) throw new Error(`bad request "${spec}"`);
  return { type: m[1] as "c" | "b", major: Number(m[2]), minor: Number(m[3]), access: m[4]! };
}

function allows(rules: readonly DeviceRule[], spec: string): boolean {
  const prog = compileDeviceFilter(rules);
  checkShape(prog);
  return runDeviceFilter(prog, req(spec));
}

// --- validateDeviceRules ----------------------------------------------------

Deno.test("validateDeviceRules() fills in defaults and normalises access", () => {
  assert.deepEqual(
    validateDeviceRules([
      { allow: false },
      { allow: true, type: "c", major: 1, minor: 3, access: "mwr" },
      { allow: true, type: "b", major: -1, minor: null, access: "mm" },
    ]),
    [
      { allow: false, type: "a", access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "b", access: "m" },
    ],
  );
});

Deno.test("validateDeviceRules() names the index and the problem", () => {
  const cases: [unknown, RegExp][] = [
    [{ rules: 1 }, /linux\.resources\.devices: must be an array$/],
    [[{ allow: true }, "x"], /devices\[1\]: must be an object$/],
    [[{ allow: "yes" }], /devices\[0\]\.allow: must be true or false, got "yes"$/],
    [[{ allow: true }, { allow: true, type: "u" }], /devices\[1\]\.type: must be "a", "b" or "c", got "u"$/],
    [[{ allow: true, access: "rwx" }], /devices\[0\]\.access: must be letters from "rwm", got "rwx"$/],
    [[{ allow: true, access: "" }], /devices\[0\]\.access: must be letters from "rwm", got ""$/],
    [[{ allow: true, major: 1.5 }], /devices\[0\]\.major: must be an integer, got 1\.5$/],
    [[{ allow: true, minor: "3" }], /devices\[0\]\.minor: must be an integer, got "3"$/],
    [[{ allow: true, major: -2 }], /devices\[0\]\.major: must be -1 \(any\) or 0\.\.4095, got -2$/],
    [[{ allow: true, major: 4096 }], /devices\[0\]\.major: must be -1 \(any\) or 0\.\.4095, got 4096$/],
    [
      [{ allow: true, minor: 1048576 }],
      /devices\[0\]\.minor: must be -1 \(any\) or 0\.\.1048575, got 1048576$/,
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => validateDeviceRules(value), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, /^Invalid container configuration: linux\.resources\.devices/);
      assert.match(err.message, message);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("validateDeviceRules() accepts the default and allow-all lists unchanged", () => {
  assert.deepEqual(validateDeviceRules(DEFAULT_DEVICE_RULES), DEFAULT_DEVICE_RULES);
  assert.deepEqual(validateDeviceRules(ALLOW_ALL_DEVICES), ALLOW_ALL_DEVICES);
  assert.ok(Object.isFrozen(DEFAULT_DEVICE_RULES) && Object.isFrozen(DEFAULT_DEVICE_RULES[0]));
  assert.ok(Object.isFrozen(ALLOW_ALL_DEVICES) && Object.isFrozen(ALLOW_ALL_DEVICES[0]));
});

// --- v1DeviceWrites -----------------------------------------------------------

Deno.test("v1DeviceWrites() default rules: deny all, then mknod anything, then the safe devices", () => {
  assert.deepEqual(v1DeviceWrites(DEFAULT_DEVICE_RULES).map((w) => `${w.file}: ${w.line}`), [
    "devices.deny: a",
    "devices.deny: a *:* rwm",
    "devices.allow: c *:* m",
    "devices.allow: b *:* m",
    "devices.allow: c 1:3 rwm",
    "devices.allow: c 1:5 rwm",
    "devices.allow: c 1:7 rwm",
    "devices.allow: c 1:8 rwm",
    "devices.allow: c 1:9 rwm",
    "devices.allow: c 5:0 rwm",
    "devices.allow: c 5:2 rwm",
    "devices.allow: c 136:* rwm",
  ]);
});

Deno.test("v1DeviceWrites() allow-all, and a later deny as an exception", () => {
  assert.deepEqual(v1DeviceWrites(ALLOW_ALL_DEVICES), [
    { file: "devices.deny", line: "a" },
    { file: "devices.allow", line: "a *:* rwm" },
  ]);
  assert.deepEqual(
    v1DeviceWrites([{ allow: true }, { allow: false, type: "c", major: 1, minor: 3, access: "w" }]),
    [
      { file: "devices.deny", line: "a" },
      { file: "devices.allow", line: "a *:* rwm" },
      { file: "devices.deny", line: "c 1:3 w" },
    ],
  );
  assert.deepEqual(v1DeviceWrites([]), [{ file: "devices.deny", line: "a" }]);
});

Deno.test("v1DeviceWrites() splits a partial type-a rule into c and b lines", () => {
  // The kernel reads any line starting with "a" as "everything", so
  // "a *:* m" would allow rwm on every device.
  assert.deepEqual(
    v1DeviceWrites([{ allow: true, type: "a", access: "m" }, { allow: true, type: "a", major: 7 }]),
    [
      { file: "devices.deny", line: "a" },
      { file: "devices.allow", line: "c *:* m" },
      { file: "devices.allow", line: "b *:* m" },
      { file: "devices.allow", line: "c 7:* rwm" },
      { file: "devices.allow", line: "b 7:* rwm" },
    ],
  );
});

Deno.test("v1DeviceWrites() refuses a deny that would only partly undo a wider allow", () => {
  assert.throws(
    () =>
      v1DeviceWrites([{ allow: true, type: "c" }, {
        allow: false,
        type: "c",
        major: 1,
        minor: 3,
        access: "w",
      }]),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        'Cannot express the device rules on cgroup v1: rule 1 (deny "c 1:3 w") would only partly undo rule 0 ' +
          '(allow "c *:* rwm"), and the v1 controller removes exact matches only',
      );
      return true;
    },
  );
  // A narrower earlier allow survives a wider deny in v1 too.
  assert.throws(
    () =>
      v1DeviceWrites([{ allow: true, type: "c", major: 1, minor: 3 }, { allow: false, type: "c", major: 1 }]),
    ConfigError,
  );
  // In allow-all mode an allow is the removal: same rule.
  assert.throws(
    () =>
      v1DeviceWrites([{ allow: true }, { allow: false, type: "b" }, { allow: true, type: "b", major: 7 }]),
    ConfigError,
  );
  // Exact undo, or disjoint bits or devices: fine.
  v1DeviceWrites([{ allow: true, type: "c", major: 1, minor: 3 }, {
    allow: false,
    type: "c",
    major: 1,
    minor: 3,
  }]);
  v1DeviceWrites([{ allow: true, type: "c", access: "m" }, {
    allow: false,
    type: "c",
    major: 1,
    access: "rw",
  }]);
  v1DeviceWrites([{ allow: true, type: "b" }, { allow: false, type: "c", major: 1, minor: 3 }]);
});

// --- compileDeviceFilter -------------------------------------------------------

Deno.test("compileDeviceFilter() defaults: the safe devices and mknod are allowed", () => {
  for (
    const spec of [
      "c 1:3 rw",
      "c 1:3 r",
      "c 1:5 rw",
      "c 1:7 w",
      "c 1:8 r",
      "c 1:9 r",
      "c 5:0 rw",
      "c 5:2 rw",
      "c 136:0 rw",
      "c 136:5 rw",
      "b 7:0 m",
      "b 8:0 m",
      "c 10:200 m",
      "c 1:1 m",
    ]
  ) {
    assert.equal(allows(DEFAULT_DEVICE_RULES, spec), true, spec);
  }
});

Deno.test("compileDeviceFilter() defaults: host devices cannot be opened", () => {
  for (
    const spec of [
      "b 7:0 r", // a host loop device
      "b 8:0 rw", // the host disk
      "b 8:0 r",
      "c 10:200 rw", // /dev/net/tun
      "c 10:229 rw", // /dev/fuse
      "c 5:1 r", // /dev/console
      "c 1:1 r", // /dev/mem
      "c 1:11 w", // /dev/kmsg
      "c 4:0 rw", // /dev/tty0
      "c 137:0 r", // next to the pts major
      "b 136:0 r", // the pts numbers, but a block device
      "c 1:3 rwm".replace("rwm", "rw").replace("1:3", "1:4"), // next to /dev/null
    ]
  ) {
    assert.equal(allows(DEFAULT_DEVICE_RULES, spec), false, spec);
  }
});

Deno.test("compileDeviceFilter() a later rule overrides an earlier one, bit by bit", () => {
  const rules: DeviceRule[] = [{ allow: true }, { allow: false, type: "c", major: 1, minor: 3, access: "w" }];
  assert.equal(allows(rules, "c 1:3 r"), true);
  assert.equal(allows(rules, "c 1:3 m"), true);
  assert.equal(allows(rules, "c 1:3 rw"), false);
  assert.equal(allows(rules, "c 1:3 w"), false);
  assert.equal(allows(rules, "c 1:5 w"), true);
  assert.equal(allows(rules, "b 1:3 w"), true);
  // And back: a later allow wins over the deny.
  const again = [...rules, { allow: true, type: "c" as const, major: 1, minor: 3, access: "w" }];
  assert.equal(allows(again, "c 1:3 rw"), true);
  // Order matters: the deny first, the allow-all last, everything allowed.
  assert.equal(allows([rules[1]!, rules[0]!], "c 1:3 w"), true);
});

Deno.test("compileDeviceFilter() bits granted by different rules add up", () => {
  const rules: DeviceRule[] = [
    { allow: true, type: "c", major: 1, minor: 3, access: "r" },
    { allow: true, type: "c", major: 1, access: "w" },
  ];
  assert.equal(allows(rules, "c 1:3 rw"), true);
  assert.equal(allows(rules, "c 1:5 rw"), false);
  assert.equal(allows(rules, "c 1:5 w"), true);
  assert.equal(allows(rules, "c 1:3 m"), false);
});

Deno.test("compileDeviceFilter() allow-all allows everything", () => {
  for (const spec of ["b 8:0 rw", "c 10:200 rwm", "c 1:1 r", "b 4095:1048575 rwm", "c 0:0 m"]) {
    assert.equal(allows(ALLOW_ALL_DEVICES, spec), true, spec);
  }
});

Deno.test("compileDeviceFilter() an empty list denies everything", () => {
  for (const spec of ["c 1:3 r", "c 1:3 m", "b 8:0 m", "c 136:0 rw"]) {
    assert.equal(allows([], spec), false, spec);
  }
});

Deno.test("compileDeviceFilter() deny-all followed by nothing denies mknod too", () => {
  const rules: DeviceRule[] = [...ALLOW_ALL_DEVICES, { allow: false }];
  for (const spec of ["c 1:3 m", "b 7:0 m", "c 1:3 r", "c 136:1 rw"]) {
    assert.equal(allows(rules, spec), false, spec);
  }
});

Deno.test("compileDeviceFilter() a type-a rule matches both types; a rule's access limits it", () => {
  const rules: DeviceRule[] = [{ allow: true, type: "a", major: 7, access: "r" }];
  assert.equal(allows(rules, "b 7:1 r"), true);
  assert.equal(allows(rules, "c 7:1 r"), true);
  assert.equal(allows(rules, "b 7:1 rw"), false);
  assert.equal(allows(rules, "b 8:1 r"), false);
});

Deno.test("compileDeviceFilter() access bits it does not know are denied, even with allow-all", () => {
  const prog = compileDeviceFilter(ALLOW_ALL_DEVICES);
  assert.equal(runEbpf(prog, { accessType: (7 << 16) | 2, major: 1, minor: 3 }), 1);
  assert.equal(runEbpf(prog, { accessType: (8 << 16) | 2, major: 1, minor: 3 }), 0);
  // An unknown device type is matched only by type-a rules.
  assert.equal(runEbpf(prog, { accessType: (2 << 16) | 4, major: 1, minor: 3 }), 1);
  assert.equal(
    runEbpf(compileDeviceFilter([{ allow: true, type: "c" }]), {
      accessType: (2 << 16) | 4,
      major: 1,
      minor: 3,
    }),
    0,
  );
});

Deno.test("compileDeviceFilter() encodes struct bpf_insn little endian", () => {
  const prog = compileDeviceFilter([]);
  // r2 = *(u32 *)(r1 + 0): code 0x61, dst 2 | src 1 << 4, off 0, imm 0.
  assert.deepEqual([...prog.subarray(0, 8)], [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
  // r4 = *(u32 *)(r1 + 4)
  assert.deepEqual([...prog.subarray(32, 40)], [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
  // The last instruction is exit.
  assert.deepEqual([...prog.subarray(prog.length - 8)], [0x95, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("compileDeviceFilter() leaves out rules before the last allow-all or deny-all", () => {
  const tail: DeviceRule[] = [{ allow: true, type: "c", major: 1, minor: 3 }];
  const short = compileDeviceFilter([{ allow: false }, ...tail]);
  const long = compileDeviceFilter([
    { allow: true, type: "b", major: 8 },
    { allow: true, type: "c", major: 10, minor: 200 },
    { allow: false },
    ...tail,
  ]);
  assert.deepEqual(long, short);
});

Deno.test("compileDeviceFilter() rejects invalid rules", () => {
  assert.throws(() => compileDeviceFilter([{ allow: true, access: "x" }]), ConfigError);
  assert.throws(() => compileDeviceFilter([{ allow: true, major: 5000 }]), ConfigError);
});

// --- random rule lists against two reference models ---------------------------

function prng(seed: number): () => number {
  // mulberry32: small, deterministic.
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomRules(rnd: () => number): DeviceRule[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  return Array.from({ length: Math.floor(rnd() * 6) }, (): DeviceRule => {
    const r: DeviceRule = { allow: rnd() < 0.6, type: pick(["a", "b", "c"] as const) };
    const major = pick([undefined, 1, 7]);
    const minor = pick([undefined, 3, 5]);
    if (major !== undefined) r.major = major;
    if (minor !== undefined) r.minor = minor;
    r.access = pick(["r", "w", "m", "rw", "rm", "wm", "rwm"]);
    return r;
  });
}

const REQUESTS: DeviceRequest[] = [];
for (const type of ["c", "b"] as const) {
  for (const major of [1, 7, 8]) {
    for (const minor of [3, 5, 9]) {
      for (const access of ["r", "w", "m", "rw"]) REQUESTS.push({ type, major, minor, access });
    }
  }
}

/** The rule semantics, written plainly: per bit, the last matching rule naming it. */
function reference(rules: readonly DeviceRule[], q: DeviceRequest): boolean {
  return [..."rwm"].filter((b) => q.access.includes(b)).every((bit) => {
    let allowed = false;
    for (const r of rules) {
      const type = r.type ?? "a";
      if (type !== "a" && type !== q.type) continue;
      if (r.major !== undefined && r.major !== -1 && r.major !== q.major) continue;
      if (r.minor !== undefined && r.minor !== -1 && r.minor !== q.minor) continue;
      if ((r.access ?? "rwm").includes(bit)) allowed = r.allow;
    }
    return allowed;
  });
}

/** The v1 controller (security/device_cgroup.c) fed the writes, then asked. */
function v1Kernel(writes: { file: string; line: string }[], q: DeviceRequest): boolean {
  let allowAll = true; // a new cgroup copies its parent: allow all, here
  let ex: { type: string; major: string; minor: string; bits: number }[] = [];
  for (const { file, line } of writes) {
    if (line.startsWith("a")) {
      allowAll = file === "devices.allow";
      ex = [];
      continue;
    }
    const [type, nums, access] = line.split(" ") as [string, string, string];
    const [major, minor] = nums.split(":") as [string, string];
    const bits = accessBits(access);
    const addsException = (file === "devices.allow") !== allowAll;
    const same = ex.find((e) => e.type === type && e.major === major && e.minor === minor);
    if (addsException) {
      if (same) same.bits |= bits;
      else ex.push({ type, major, minor, bits });
    } else if (same) {
      same.bits &= ~bits;
      if (same.bits === 0) ex = ex.filter((e) => e !== same);
    }
  }
  const want = accessBits(q.access);
  const matches = ex.filter((e) =>
    e.type === q.type && (e.major === "*" || Number(e.major) === q.major) &&
    (e.minor === "*" || Number(e.minor) === q.minor)
  );
  // Allow mode: no matching exception may share a bit; deny mode: one
  // matching exception must hold every requested bit.
  return allowAll ? matches.every((e) => (e.bits & want) === 0) : matches.some((e) => (want & ~e.bits) === 0);
}

Deno.test("compileDeviceFilter() agrees with the rule semantics on random rule lists", () => {
  const rnd = prng(20240611);
  for (let i = 0; i < 3000; i++) {
    const rules = randomRules(rnd);
    const prog = compileDeviceFilter(rules);
    checkShape(prog);
    for (const q of REQUESTS) {
      assert.equal(
        runDeviceFilter(prog, q),
        reference(rules, q),
        `${JSON.stringify(rules)} ${JSON.stringify(q)}`,
      );
    }
  }
});

Deno.test("v1DeviceWrites() gives the v1 kernel the same decisions, or refuses the rules", () => {
  const rnd = prng(7);
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const rules = randomRules(rnd);
    let writes;
    try {
      writes = v1DeviceWrites(rules);
    } catch (err) {
      assert.ok(err instanceof ConfigError && err.message.startsWith("Cannot express"), String(err));
      continue;
    }
    accepted++;
    for (const q of REQUESTS) {
      const ok = reference(rules, q);
      const v1 = v1Kernel(writes, q);
      const what = `${JSON.stringify(rules)} ${JSON.stringify(q)}`;
      // One bit: the same decision. Several: v1 may refuse what is allowed
      // bit by bit (it wants one exception holding them all), never the
      // other way round.
      if (q.access.length === 1) assert.equal(v1, ok, what);
      else if (v1) assert.equal(ok, true, what);
    }
  }
  assert.ok(accepted > 1000, `only ${accepted} rule lists accepted`);
});

// --- the interpreter refuses what the verifier would ---------------------------

function insn(code: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, code);
  v.setUint8(1, (src << 4) | dst);
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return [...b];
}

Deno.test("runDeviceFilter() throws on unknown opcodes, bad registers, bad jumps", () => {
  const ctx = { accessType: (2 << 16) | 2, major: 1, minor: 3 };
  const exit = insn(0x95, 0, 0, 0, 0);
  const mov0 = insn(0xb4, 0, 0, 0, 1);
  const run = (...insns: number[][]): number => runEbpf(new Uint8Array(insns.flat()), ctx);
  assert.equal(run(mov0, exit), 1);
  assert.throws(() => run(insn(0xb7, 0, 0, 0, 1), exit), /opcode 0xb7/); // 64-bit mov: not emitted
  assert.throws(() => run(exit), /uninitialised r0/);
  assert.throws(() => run(insn(0x54, 6, 0, 0, 1), mov0, exit), /uninitialised r6/);
  assert.throws(() => run(mov0), /fell off the end/);
  assert.throws(() => run(mov0, insn(0x55, 0, 0, -2, 0), exit), /backward jump/);
  assert.throws(() => run(insn(0x61, 0, 1, 12, 0), exit), /offset 12/);
  assert.throws(() => run(insn(0x61, 0, 1, 2, 0), exit), /offset 2/);
  assert.throws(() => run(insn(0x54, 1, 0, 0, 1), exit), /pointer r1/);
  assert.throws(() => run(insn(0x4d, 0, 3, 0, 0), exit), /opcode 0x4d/); // JSET X: not emitted
  assert.throws(() => run(mov0, insn(0x05, 0, 0, -2, 0), exit), /backward jump/);
  assert.equal(run(mov0, insn(0x05, 0, 0, 1, 0), insn(0xb4, 0, 0, 0, 0), exit), 1);
  assert.throws(() => run(insn(0xb4, 0, 0, 0, 2), exit), /returns 2/);
  assert.throws(() => run(insn(0xb4, 0, 3, 0, 1), exit), /source register/);
  assert.throws(() => checkShape(new Uint8Array([...mov0, ...exit, ...exit])), /unreachable/);
  assert.throws(
    () => checkShape(new Uint8Array([...mov0, ...insn(0x55, 0, 0, 1, 0), ...exit])),
    /past the end/,
  );
});

// --- deviceRuleForNode --------------------------------------------------------

Deno.test("deviceRuleForNode() allows exactly the node, rwm", () => {
  const base = { path: "/dev/x", fileMode: 0o666, uid: 0, gid: 0 };
  assert.deepEqual(deviceRuleForNode({ ...base, type: "c", major: 10, minor: 200 }), {
    allow: true,
    type: "c",
    major: 10,
    minor: 200,
    access: "rwm",
  });
  assert.deepEqual(deviceRuleForNode({ ...base, type: "u", major: 4, minor: 1 })?.type, "c");
  assert.deepEqual(deviceRuleForNode({ ...base, type: "b", major: 7, minor: 0 })?.type, "b");
  assert.equal(deviceRuleForNode({ ...base, type: "p" }), undefined);
  assert.throws(
    () => deviceRuleForNode({ ...base, type: "c", major: 1 }),
    /"\/dev\/x": minor must be 0\.\.1048575/,
  );
  assert.throws(() => deviceRuleForNode({ ...base, type: "b", major: 5000, minor: 0 }), ConfigError);
  // With the defaults, the node becomes usable.
  const rules = [...DEFAULT_DEVICE_RULES, deviceRuleForNode({ ...base, type: "c", major: 10, minor: 200 })!];
  assert.equal(allows(rules, "c 10:200 rw"), true);
  assert.equal(allows(rules, "c 10:229 rw"), false);
});

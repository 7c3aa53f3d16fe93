import assert from "node:assert/strict";
import {
  applyIoPriority,
  applyOomScoreAdj,
  applyPersonality,
  applyUmask,
  type IoPriority,
  type Personality,
} from "../../../runtime/container/process_attrs.ts";
import { ConfigError } from "../../../runtime/errors.ts";

const attrs = new URL("../../../runtime/container/process_attrs.ts", import.meta.url).href;
const ffi = new URL("../../../ffi/mod.ts", import.meta.url).href;

/**
 * Runs `body` in a fresh Deno (so this test process keeps its own
 * attributes) with `attrs` (the module under test) and `ffi` imported, and
 * returns what it printed.
 */
function inChild(body: string): string[] {
  const script = `import * as attrs from "${attrs}";\nimport * as ffi from "${ffi}";\n${body}`;
  const out = new Deno.Command(Deno.execPath(), { args: ["eval", script] }).outputSync();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `child failed: ${new TextDecoder().decode(out.stderr)}`);
  return text.trim().split("\n");
}

Deno.test("process_attrs: invalid values throw a ConfigError naming the field, before any change", () => {
  const cases: [() => unknown, string][] = [
    [() => applyOomScoreAdj(2000), "process.oomScoreAdj: must be an integer from -1000 to 1000, got 2000"],
    [() => applyOomScoreAdj(1.5), "process.oomScoreAdj: must be an integer from -1000 to 1000, got 1.5"],
    [
      () => applyIoPriority({ class: "IOPRIO_CLASS_NONE" } as unknown as IoPriority),
      'process.ioPriority.class: must be one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, got "IOPRIO_CLASS_NONE"',
    ],
    [
      () => applyIoPriority({ class: "IOPRIO_CLASS_BE", priority: 8 }),
      "process.ioPriority.priority: must be an integer from 0 to 7, got 8",
    ],
    [
      () => applyPersonality({ domain: "LINUX64" } as unknown as Personality),
      'linux.personality.domain: must be one of LINUX, LINUX32, got "LINUX64"',
    ],
    [() => applyUmask(0o1000), "process.user.umask: must be an integer from 0o0 to 0o777, got 512"],
    [() => applyUmask(-1), "process.user.umask: must be an integer from 0o0 to 0o777, got -1"],
  ];
  for (const [fn, message] of cases) {
    assert.throws(fn, (e) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `Invalid container configuration: ${message}`);
      return true;
    });
  }
});

Deno.test("applyOomScoreAdj() writes /proc/self/oom_score_adj", () => {
  const [got] = inChild(`
    attrs.applyOomScoreAdj(500);
    console.log(Deno.readTextFileSync("/proc/self/oom_score_adj").trim());
  `);
  assert.equal(got, "500");
});

/** Whether this process has CAP_SYS_RESOURCE (24) in its effective set; its children as root do too. */
function hasSysResource(): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? "0";
  return Deno.uid() === 0 && (BigInt(`0x${hex}`) & (1n << 24n)) !== 0n;
}

Deno.test({
  name: "applyOomScoreAdj() lowers the score with CAP_SYS_RESOURCE",
  ignore: !hasSysResource(),
  fn(): void {
    const [got] = inChild(`
      attrs.applyOomScoreAdj(-500);
      console.log(Deno.readTextFileSync("/proc/self/oom_score_adj").trim());
    `);
    assert.equal(got, "-500");
  },
});

Deno.test({
  name: "applyOomScoreAdj() without CAP_SYS_RESOURCE: a ConfigError says the kernel refused",
  ignore: hasSysResource(),
  fn(): void {
    const [got] = inChild(`
      try {
        attrs.applyOomScoreAdj(-1000);
      } catch (err) {
        console.log(err.name + ": " + err.message);
      }
    `);
    assert.match(got!, /^ConfigError: Cannot apply process.oomScoreAdj: Permission denied/);
  },
});

Deno.test("applyIoPriority() sets the calling thread's class and level, which children inherit", () => {
  const lines = inChild(`
    attrs.applyIoPriority({ class: "IOPRIO_CLASS_BE", priority: 6 });
    console.log(JSON.stringify(ffi.ioprioGet()));
    attrs.applyIoPriority({ class: "IOPRIO_CLASS_IDLE", priority: 0 });
    console.log(JSON.stringify(ffi.ioprioGet()));
    // A child spawned from this thread prints its own (inherited) priority.
    const exit = ffi.waitPid(ffi.posixSpawn("/usr/bin/ionice", ["ionice"]));
    if (!exit.exited || exit.code !== 0) Deno.exit(3);
  `);
  assert.deepEqual(JSON.parse(lines[0]!), { ioClass: 2, level: 6 });
  assert.deepEqual(JSON.parse(lines[1]!), { ioClass: 3, level: 0 });
  assert.equal(lines[2], "idle");
});

Deno.test({
  name: "applyIoPriority() sets the realtime class with CAP_SYS_ADMIN",
  ignore: Deno.uid() !== 0,
  fn(): void {
    const [got] = inChild(`
      attrs.applyIoPriority({ class: "IOPRIO_CLASS_RT", priority: 1 });
      console.log(JSON.stringify(ffi.ioprioGet()));
    `);
    assert.deepEqual(JSON.parse(got!), { ioClass: 1, level: 1 });
  },
});

Deno.test("applyPersonality() LINUX32 makes the thread and its children i686; flags are returned", () => {
  const lines = inChild(`
    const ignored = attrs.applyPersonality({ domain: "LINUX32", flags: ["SOMETHING"] });
    console.log(JSON.stringify(ignored));
    console.log(Deno.readTextFileSync("/proc/thread-self/personality").trim());
    const exit = ffi.waitPid(ffi.posixSpawn("/usr/bin/uname", ["uname", "-m"]));
    if (!exit.exited || exit.code !== 0) Deno.exit(3);
    attrs.applyPersonality({ domain: "LINUX" });
    console.log(Deno.readTextFileSync("/proc/thread-self/personality").trim());
  `);
  assert.deepEqual(lines, ['["SOMETHING"]', "00000008", "i686", "00000000"]);
});

Deno.test("applyUmask() sets the umask", () => {
  const [got] = inChild(`
    attrs.applyUmask(0o027);
    console.log(/^Umask:\\s*(\\d+)$/m.exec(Deno.readTextFileSync("/proc/self/status"))[1]);
  `);
  assert.equal(got, "0027");
});

/**
 * tinyo SIGKILLed at random moments: `run`, `run -d` and `exec`, each killed
 * many times somewhere in its first half second (preparing the image and the
 * record, making the cgroup, spawning the init, setting up, handing over to
 * conmon, running). After one more tinyo command, nothing may be left that
 * no live container owns: no container directory, record, exit file,
 * cgroup, host mount or process. A `run -d` that got far enough leaves a
 * whole, working detached container (listed by `ps`, removable by `rm`),
 * never half of one.
 */

import assert from "node:assert/strict";
import {
  ALPINE_320,
  IGNORE_ROOT,
  leftovers,
  listDir,
  makeRoot,
  processesMentioning,
  spawnTinyo,
  tinyo,
  waitFor,
} from "../helpers/tinyo.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-kill-");
const IMG = ALPINE_320;
const ROUNDS = Number(Deno.env.get("TINYO_KILL_ROUNDS") ?? "12");

/** The container cgroup directories that exist now, on either hierarchy. */
function tinyoCgroups(): string[] {
  const out: string[] = [];
  for (const base of ["/sys/fs/cgroup", ...listDir("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}`)]) {
    for (const id of listDir(`${base}/tinyo`)) {
      if (/^[0-9a-f]{64}$/.test(id)) out.push(`${base}/tinyo/${id}`);
    }
  }
  return out;
}

/** Spawns tinyo with `args` and SIGKILLs it after `delayMs` (if it is still running). */
async function killAfter(args: string[], delayMs: number): Promise<void> {
  const child = spawnTinyo(ROOT, args);
  const drain = Promise.all([child.stdout.cancel(), child.stderr.cancel()]);
  await new Promise((r) => setTimeout(r, delayMs));
  try {
    child.kill("SIGKILL");
  } catch {
    // It finished first: fine, that is one of the moments too.
  }
  await child.status;
  await drain;
}

/** Random delays spread over the first `spanMs`, a few of them very early. */
function delays(spanMs: number): number[] {
  return Array.from({ length: ROUNDS }, (_, i) => i < 3 ? i * 15 : Math.floor(Math.random() * spanMs));
}

/** After one more command: what is left must be whole detached containers, which rm then removes. */
async function assertNothingHalfMade(cgroupsBefore: readonly string[], what: string): Promise<void> {
  const ps = await tinyo(ROOT, ["ps", "-a", "--format", "json"]);
  assert.equal(ps.code, 0, ps.stderr);
  const survivors = JSON.parse(ps.stdout) as { id: string; status: string }[];
  for (const s of survivors) {
    // A detached container that made it is a real one: running (or, if its
    // command already ended, stopped with a known exit code).
    assert.ok(
      s.status === "running" || s.status === "stopped",
      `${what}: half-made container ${s.id.slice(0, 12)} (${s.status})`,
    );
  }
  if (survivors.length > 0) {
    const rm = await tinyo(ROOT, ["rm", "-f", ...survivors.map((s) => s.id)]);
    assert.equal(rm.code, 0, rm.stderr);
  }
  assert.deepEqual(leftovers(ROOT), [], what);
  const cgroups = tinyoCgroups().filter((d) => !cgroupsBefore.includes(d));
  assert.deepEqual(cgroups, [], `${what}: cgroups left`);
}

Deno.test(
  "kill: tinyo run SIGKILLed at random moments leaves nothing after the next command",
  opts,
  async () => {
    const before = tinyoCgroups();
    // Warm the image cache, so the kills land in the container's own set-up.
    assert.equal((await tinyo(ROOT, ["run", "-q", IMG, "true"])).code, 0);
    for (const d of delays(600)) await killAfter(["run", "-q", IMG, "sh", "-c", "sleep 7"], d);
    await assertNothingHalfMade(before, "run");
  },
);

Deno.test(
  "kill: tinyo run -d SIGKILLed at random moments leaves whole containers or nothing",
  opts,
  async () => {
    const before = tinyoCgroups();
    for (const d of delays(900)) await killAfter(["run", "-d", "-q", IMG, "sleep", "7"], d);
    await assertNothingHalfMade(before, "run -d");
  },
);

Deno.test("kill: tinyo exec SIGKILLed at random moments takes its process with it", opts, async () => {
  const before = tinyoCgroups();
  const r = await tinyo(ROOT, ["run", "-d", "-q", "--name", "target", IMG, "sleep", "600"]);
  assert.equal(r.code, 0, r.stderr);
  try {
    // Each exec runs a sleep of its own, unique length, to be found afterwards.
    const marks: string[] = [];
    for (const d of delays(500)) {
      const mark = `sleep ${700_000 + Math.floor(Math.random() * 100_000)}`;
      marks.push(mark);
      await killAfter(["exec", "target", "sh", "-c", `exec ${mark}`], d);
    }
    assert.equal((await tinyo(ROOT, ["ps"])).code, 0);
    const ps = (): string =>
      new TextDecoder().decode(new Deno.Command("ps", { args: ["-eo", "args"] }).outputSync().stdout);
    await waitFor(() => !marks.some((m) => ps().includes(m)), 5_000, "every exec'd process to be gone");
    const bundle = `${ROOT}/containers/${
      JSON.parse((await tinyo(ROOT, ["inspect", "target"])).stdout)[0].id
    }`;
    assert.deepEqual(listDir(bundle).filter((f) => f.startsWith("exec-")), [], "exec configurations left");
    assert.deepEqual(processesMentioning(ROOT).length > 0, true, "the target's monitor still runs");
  } finally {
    await tinyo(ROOT, ["rm", "-f", "target"]);
  }
  await assertNothingHalfMade(before, "exec");
});

addEventListener("unload", () => {
  if (ROOT !== "") {
    try {
      Deno.removeSync(ROOT, { recursive: true });
    } catch {
      // Reported by the tests above.
    }
  }
});

/**
 * Detached containers and their management: run -d, ps, inspect, logs,
 * wait, stop, kill, rm, --rm; status derived from facts; concurrency;
 * a vanished monitor.
 */

import assert from "node:assert/strict";
import { ALPINE_320, IGNORE_ROOT, leftovers, listDir, makeRoot, tinyo, waitFor } from "../helpers/tinyo.ts";
import { processStartTime } from "../../runtime/host/proc.ts";

const hasConmon = new Deno.Command("sh", { args: ["-c", "command -v conmon"] }).outputSync().success;
const opts = { ignore: IGNORE_ROOT || !hasConmon, sanitizeResources: false, sanitizeOps: false };
const ROOT = opts.ignore ? "" : makeRoot("tinyo-life-");
const IMG = ALPINE_320;

async function t(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return await tinyo(ROOT, args);
}

interface PsRow {
  id: string;
  name: string;
  image: string;
  command: string;
  status: string;
  exitCode?: number;
  statusText: string;
  pid: number;
}

async function ps(all = true): Promise<PsRow[]> {
  const r = await t(["ps", ...(all ? ["-a"] : []), "--format", "json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test(
  "run -d: prints the id; ps, logs, inspect and wait see it; it stays listed until rm",
  opts,
  async () => {
    const r = await t([
      "run",
      "-q",
      "-d",
      "--name",
      "job",
      IMG,
      "sh",
      "-c",
      "echo to-stdout; echo to-stderr >&2; sleep 1; exit 3",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const running = (await ps(false)).find((c) => c.name === "job")!;
    assert.equal(running.id, id);
    assert.equal(running.status, "running");
    assert.match(running.statusText, /^Up \d+ seconds?$/);
    assert.equal(running.command, "sh -c echo to-stdout; echo to-stderr >&2; sleep 1; exit 3");
    assert.ok(running.pid > 1 && processStartTime(running.pid) !== undefined);
    const table = await t(["ps"]);
    assert.match(table.stdout, /^CONTAINER ID\s+NAME\s+IMAGE\s+COMMAND\s+STATUS\s+PORTS\s+PID\n/);
    assert.match(
      table.stdout,
      new RegExp(
        `${id.slice(0, 12)}\\s+job\\s+alpine-minirootfs-3\\.20\\.3-x86_64\\.tar\\.gz\\s+"sh -c echo`,
      ),
    );
    const wait = await t(["wait", "job"]);
    assert.equal(wait.stdout, "3\n");
    const logs = await t(["logs", id.slice(0, 8)]);
    assert.equal(logs.stdout, "to-stdout\n");
    assert.equal(logs.stderr, "to-stderr\n");
    const stopped = (await ps()).find((c) => c.name === "job")!;
    assert.equal(stopped.status, "stopped");
    assert.equal(stopped.exitCode, 3);
    assert.match(stopped.statusText, /^Exited \(3\) \d+ seconds? ago$/);
    assert.ok(!(await ps(false)).some((c) => c.name === "job"), "ps without -a lists running ones only");
    const [rec] = JSON.parse((await t(["inspect", "job"])).stdout);
    for (const field of ["ociVersion", "id", "status", "bundle", "annotations", "created"]) {
      assert.ok(
        field in rec,
        field,
      );
    }
    assert.equal(rec.status, "stopped");
    assert.equal(rec.exitCode, 3);
    assert.equal(rec.config.process.args[0], "sh");
    // Its cgroup went with it; its directory stays until rm.
    for (const d of rec.cgroups) assert.throws(() => Deno.statSync(d));
    assert.ok(listDir(`${ROOT}/containers`).includes(id));
    const rm = await t(["rm", "job"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(await ps(), []);
    assert.deepEqual(leftovers(ROOT), []);
  },
);

Deno.test("stop: SIGTERM first, SIGKILL after the grace period; kill sends any signal", opts, async () => {
  await t(["run", "-q", "-d", "--name", "stubborn", IMG, "sleep", "60"]);
  await t([
    "run",
    "-q",
    "-d",
    "--name",
    "polite",
    IMG,
    "sh",
    "-c",
    "trap 'exit 42' TERM; while :; do sleep 0.1; done",
  ]);
  await t([
    "run",
    "-q",
    "-d",
    "--name",
    "usr1",
    IMG,
    "sh",
    "-c",
    "trap 'echo got-usr1; exit 7' USR1; while :; do sleep 0.1; done",
  ]);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  const stop = await t(["stop", "-t", "1", "stubborn", "polite"]);
  const took = performance.now() - t0;
  assert.equal(stop.stdout, "stubborn\npolite\n", stop.stderr);
  assert.ok(took > 900 && took < 8000, `stop took ${took} ms`);
  const kill = await t(["kill", "-s", "USR1", "usr1"]);
  assert.equal(kill.code, 0, kill.stderr);
  assert.equal((await t(["wait", "usr1"])).stdout, "7\n");
  assert.equal((await t(["logs", "usr1"])).stdout, "got-usr1\n");
  const rows = await ps();
  assert.equal(
    rows.find((c) => c.name === "stubborn")?.exitCode,
    137,
    "PID 1 ignores TERM: killed after 1 s",
  );
  assert.equal(rows.find((c) => c.name === "polite")?.exitCode, 42);
  const notRunning = await t(["kill", "polite"]);
  assert.equal(notRunning.code, 125);
  assert.match(notRunning.stderr, /Cannot kill container "polite": it is not running/);
  const badSig = await t(["kill", "-s", "NOPE", "polite"]);
  assert.match(badSig.stderr, /unknown signal "NOPE"/);
  assert.equal((await t(["rm", "stubborn", "polite", "usr1"])).code, 0);
});

Deno.test(
  "rm: refuses a running container without -f; --rm removes on exit; names are freed",
  opts,
  async () => {
    await t(["run", "-q", "-d", "--name", "busy", IMG, "sleep", "60"]);
    const refused = await t(["rm", "busy"]);
    assert.equal(refused.code, 125);
    assert.match(
      refused.stderr,
      /Cannot remove container "busy": it is running \(stop it first, or use rm -f\)/,
    );
    const dup = await t(["run", "-q", "-d", "--name", "busy", IMG, "true"]);
    assert.match(dup.stderr, /The container name "busy" is already in use/);
    assert.equal((await t(["rm", "-f", "busy"])).code, 0);
    const id = (await t(["run", "-q", "-d", "--rm", "--name", "ephemeral", IMG, "true"])).stdout.trim();
    await waitFor(() => !listDir(`${ROOT}/containers`).includes(id), 10_000, "--rm to remove the container");
    assert.deepEqual(await ps(), []);
    assert.equal(
      (await t(["run", "-q", "-d", "--rm", "--name", "busy", IMG, "true"])).code,
      0,
      "the name is free again",
    );
    const unknown = await t(["rm", "nosuch"]);
    assert.equal(unknown.code, 125);
    assert.equal(unknown.stderr, `tinyo: No such container: "nosuch"\n`);
    await waitFor(() => listDir(`${ROOT}/containers`).length === 0, 10_000, "the last --rm");
  },
);

Deno.test("logs -f follows until the container ends; logs are capped", opts, async () => {
  await t([
    "run",
    "-q",
    "-d",
    "--name",
    "talker",
    IMG,
    "sh",
    "-c",
    "for i in 1 2 3; do echo line-$i; sleep 0.3; done",
  ]);
  const f = await t(["logs", "-f", "talker"]);
  assert.equal(f.stdout, "line-1\nline-2\nline-3\n");
  await t([
    "run",
    "-q",
    "-d",
    "--name",
    "flood",
    IMG,
    "sh",
    "-c",
    "yes 0123456789012345678901234567890123456789 | head -c 16000000",
  ]);
  await t(["wait", "flood"]);
  const [rec] = JSON.parse((await t(["inspect", "flood"])).stdout);
  const size = Deno.statSync(`${rec.bundle}/ctr.log`).size;
  assert.ok(size <= 10 * 1024 * 1024 + 64 * 1024, `the log is ${size} bytes`);
  assert.equal((await t(["rm", "talker", "flood"])).code, 0);
});

Deno.test("exec works in a detached container", opts, async () => {
  await t(["run", "-q", "-d", "--name", "svc", "--hostname", "svchost", IMG, "sleep", "60"]);
  const r = await t(["exec", "svc", "hostname"]);
  assert.equal(r.stdout, "svchost\n", r.stderr);
  assert.equal((await t(["rm", "-f", "svc"])).code, 0);
});

Deno.test("a container whose processes vanished shows as exited, and rm cleans it", opts, async () => {
  await t(["run", "-q", "-d", "--name", "doomed", IMG, "sleep", "60"]);
  const [rec] = JSON.parse((await t(["inspect", "doomed"])).stdout);
  // As after a host reboot: the monitor and the container die without a trace.
  Deno.kill(rec.ownerPid, "SIGKILL");
  Deno.kill(rec.pid, "SIGKILL");
  await waitFor(() => processStartTime(rec.pid) === undefined, 5_000, "the container to die");
  const row = (await ps()).find((c) => c.name === "doomed")!;
  assert.equal(row.status, "stopped");
  assert.match(row.statusText, /^Exited \(\?\)/);
  assert.equal((await t(["rm", "doomed"])).code, 0);
  for (const d of rec.cgroups) assert.throws(() => Deno.statSync(d), `${d} removed`);
  assert.deepEqual(await ps(), []);
});

Deno.test("20 concurrent run -d, ps, stop and rm never corrupt the state", opts, async () => {
  const names = Array.from({ length: 20 }, (_, i) => `par${i}`);
  const runs = names.map((n) => t(["run", "-q", "-d", "--name", n, IMG, "sleep", "60"]));
  const lists = Array.from({ length: 5 }, () => t(["ps", "-a", "--format", "json"]));
  const results = await Promise.all([...runs, ...lists]);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  for (const r of results.slice(names.length)) JSON.parse(r.stdout);
  assert.deepEqual((await ps(false)).map((c) => c.name).sort(), [...names].sort());
  const stops = await Promise.all(names.map((n) => t(["stop", "-t", "0", n])));
  for (const s of stops) assert.equal(s.code, 0, s.stderr);
  assert.ok((await ps()).every((c) => c.status === "stopped"));
  const rms = await Promise.all(names.map((n) => t(["rm", n])));
  for (const r of rms) assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await ps(), []);
  assert.deepEqual(listDir(`${ROOT}/containers`), []);
});

Deno.test("lifecycle: suite root is removed", opts, () => {
  assert.equal(
    new Deno.Command("pgrep", { args: ["-f", ROOT] }).outputSync().code,
    1,
    "no process mentions the root",
  );
  Deno.removeSync(ROOT, { recursive: true });
});

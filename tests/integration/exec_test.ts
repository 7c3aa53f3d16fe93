/**
 * `tinyo exec`, container names, and pod-style namespace sharing
 * (`--network/--ipc/--pid/--uts container:NAME`), against running containers.
 */

import assert from "node:assert/strict";
import { ALPINE_320, IGNORE_ROOT, leftovers, makeRoot, Output, spawnTinyo, tinyo } from "../helpers/tinyo.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-exec-");
const IMG = ALPINE_320;

/** Starts a named container running `script`; resolves once it printed `ready`. */
async function start(
  name: string,
  script: string,
  extra: string[] = [],
): Promise<{ stop: () => Promise<number>; out: Output }> {
  const child = spawnTinyo(ROOT, ["run", "-q", "--name", name, ...extra, IMG, "sh", "-c", script]);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  await out.waitFor("ready");
  return {
    out,
    async stop(): Promise<number> {
      // Kill the container's PID 1 (not tinyo), so tinyo cleans up as usual.
      const rec = [...Deno.readDirSync(`${ROOT}/state`)].filter((e) => e.name.endsWith(".json"))
        .map((e) => JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${e.name}`)))
        .find((r) => r.name === name && typeof r.pid === "number");
      if (rec !== undefined) Deno.kill(rec.pid, "SIGKILL");
      else child.kill("SIGKILL");
      const s = await child.status;
      await out.done;
      await err.done;
      return s.code;
    },
  };
}

Deno.test(
  "exec: runs inside the container's namespaces, root, cgroup and security settings",
  opts,
  async () => {
    const c = await start("box", "echo ready; exec sleep 60", [
      "--hostname",
      "boxhost",
      "--cap-drop",
      "KILL",
    ]);
    try {
      const r = await tinyo(ROOT, [
        "exec",
        "box",
        "sh",
        "-c",
        "hostname; ps -o pid,comm; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; cut -d: -f3 /proc/self/cgroup | sort -u; ls /; cat /etc/alpine-release",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^boxhost\n/);
      assert.match(r.stdout, /\n\s+1 sleep\n/, "PID 1 is the container's command");
      assert.match(r.stdout, /CapEff:\t00000000800405db\n/, "the container's capabilities (without KILL)");
      assert.match(r.stdout, /CapBnd:\t00000000800405db\n/);
      assert.match(r.stdout, /NoNewPrivs:\t1\nSeccomp:\t2\n/);
      assert.match(r.stdout, /\n\/\n/, "its cgroup, seen from its cgroup namespace");
      assert.match(r.stdout, /3\.20\.3\n$/);
      // The container's filesystem, not the host's.
      Deno.writeTextFileSync("/tmp/tinyo-exec-host-marker", "x");
      const host = await tinyo(ROOT, ["exec", "box", "test", "-e", "/tmp/tinyo-exec-host-marker"]);
      Deno.removeSync("/tmp/tinyo-exec-host-marker");
      assert.equal(host.code, 1);
    } finally {
      await c.stop();
    }
    assert.deepEqual(leftovers(ROOT), []);
  },
);

Deno.test("exec: -e, -w, -u and exit codes like run", opts, async () => {
  const c = await start("env", "echo ready; exec sleep 60", ["-e", "FROM_RUN=1"]);
  try {
    const r = await tinyo(ROOT, [
      "exec",
      "-e",
      "EXTRA=2",
      "-w",
      "/tmp",
      "-u",
      "nobody",
      "env",
      "sh",
      "-c",
      "id -u; pwd; echo $FROM_RUN$EXTRA; echo $HOME; exit 7",
    ]);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, "65534\n/tmp\n12\n/\n");
    const missing = await tinyo(ROOT, ["exec", "env", "no-such-command"]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /Cannot run "no-such-command": executable file not found/);
    const notExec = await tinyo(ROOT, ["exec", "env", "/etc/passwd"]);
    assert.equal(notExec.code, 126);
    const badDir = await tinyo(ROOT, ["exec", "-w", "/nonexistent", "env", "true"]);
    assert.equal(badDir.code, 125);
    assert.match(badDir.stderr, /working directory "\/nonexistent"/);
    const stdin = await tinyo(ROOT, ["exec", "env", "cat"], { stdin: "piped in\n" });
    assert.equal(stdin.stdout, "piped in\n");
  } finally {
    await c.stop();
  }
});

Deno.test("exec: unknown and stopped containers give a clear error", opts, async () => {
  const none = await tinyo(ROOT, ["exec", "nosuchbox", "true"]);
  assert.equal(none.code, 125);
  assert.equal(none.stderr, `tinyo: No such running container: "nosuchbox"\n`);
  const c = await start("gone", "echo ready; exec sleep 60");
  await c.stop();
  const stopped = await tinyo(ROOT, ["exec", "gone", "true"]);
  assert.equal(stopped.code, 125);
  assert.match(stopped.stderr, /No such running container: "gone"/);
  const usage = await tinyo(ROOT, ["exec", "gone"]);
  assert.match(usage.stderr, /expected CONTAINER and COMMAND/);
  const tty = await tinyo(ROOT, ["exec", "-t", "gone", "sh"]);
  assert.match(tty.stderr, /-t needs a terminal on stdin/);
});

Deno.test("names: unique among running containers; ids and id prefixes work too", opts, async () => {
  const c = await start("named", "echo ready; exec sleep 60");
  try {
    const dup = await tinyo(ROOT, ["run", "--name", "named", IMG, "true"]);
    assert.equal(dup.code, 125);
    assert.match(dup.stderr, /The container name "named" is already in use by container [0-9a-f]{12}/);
    const bad = await tinyo(ROOT, ["run", "--name", "-bad name", IMG, "true"]);
    assert.match(bad.stderr, /Invalid container name "-bad name"/);
    const id = JSON.parse(
      [...Deno.readDirSync(`${ROOT}/state`)].filter((e) => e.name.endsWith(".json")).map((e) =>
        Deno.readTextFileSync(`${ROOT}/state/${e.name}`)
      )
        .find((t) => t.includes('"named"'))!,
    ).id as string;
    for (const ref of [id, id.slice(0, 12), id.slice(0, 4)]) {
      const r = await tinyo(ROOT, ["exec", ref, "echo", "found"]);
      assert.equal(r.stdout, "found\n", `${ref}: ${r.stderr}`);
    }
  } finally {
    await c.stop();
  }
  // Once it is gone the name is free again.
  const again = await tinyo(ROOT, ["run", "-q", "--name", "named", IMG, "true"]);
  assert.equal(again.code, 0, again.stderr);
});

Deno.test(
  "shared namespaces: --network container:NAME reaches its loopback; others cannot",
  opts,
  async () => {
    const server = await start("server", "echo ready; nc -l -p 9999 -e echo hello-from-server; sleep 30");
    try {
      const isolated = await tinyo(ROOT, ["run", "-q", IMG, "nc", "-w", "1", "127.0.0.1", "9999"]);
      assert.notEqual(isolated.code, 0);
      assert.doesNotMatch(isolated.stdout, /hello/);
      const shared = await tinyo(ROOT, [
        "run",
        "-q",
        "--network",
        "container:server",
        IMG,
        "sh",
        "-c",
        "nc -w 2 127.0.0.1 9999; ls /sys/class/net",
      ]);
      assert.equal(shared.code, 0, shared.stderr);
      assert.equal(shared.stdout, "hello-from-server\nlo\n");
    } finally {
      await server.stop();
    }
  },
);

Deno.test("shared namespaces: --pid, --ipc and --uts container:NAME", opts, async () => {
  const a = await start("pod", "echo ready; exec sleep 60", ["--hostname", "podhost"]);
  try {
    const r = await tinyo(ROOT, [
      "run",
      "-q",
      "--pid",
      "container:pod",
      "--ipc",
      "container:pod",
      "--uts",
      "container:pod",
      IMG,
      "sh",
      "-c",
      "hostname; ps -o pid,comm | grep -c 'sleep'; echo $$",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [host, sleeps, self] = r.stdout.trim().split("\n");
    assert.equal(host, "podhost");
    assert.equal(sleeps, "1", "the pod's sleep is visible");
    assert.notEqual(self, "1", "the joiner is not PID 1 of the shared namespace");
    const conflict = await tinyo(ROOT, ["run", "--uts", "container:pod", "--hostname", "x", IMG, "true"]);
    assert.match(conflict.stderr, /Cannot set --hostname together with --uts container:NAME/);
    const unknown = await tinyo(ROOT, ["run", "--network", "container:nopod", IMG, "true"]);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /No such running container: "nopod"/);
    const bad = await tinyo(ROOT, ["run", "--ipc", "host", IMG, "true"]);
    assert.match(bad.stderr, /unsupported --ipc "host" \(use container:NAME\)/);
  } finally {
    await a.stop();
  }
});

Deno.test("exec: suite root is removed", opts, () => {
  assert.deepEqual(leftovers(ROOT), []);
  Deno.removeSync(ROOT, { recursive: true });
});

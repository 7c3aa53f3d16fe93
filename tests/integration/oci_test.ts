/**
 * The OCI runtime CLI against real bundles: made by `tinyo spec` and by
 * hand. Each verb, runc's state table, kill --all, delete --force of running
 * and gone containers, the console socket with a real receiver, exec
 * --detach with a pid file, pause/resume seen from the cgroup, update of a
 * memory limit, the JSON error log. Everything checked on the host too:
 * processes, cgroup directories, records.
 */

import assert from "node:assert/strict";
import {
  ALPINE_320,
  IGNORE_ROOT,
  leftovers,
  listDir,
  makeRoot,
  tinyo,
  tinyoArgv,
  waitFor,
} from "../helpers/tinyo.ts";
import { processStartTime } from "../../runtime/host/proc.ts";
import { detectLayout } from "../../runtime/host/cgroups.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = opts.ignore ? "" : makeRoot("tinyo-oci-");
/** One rootfs for every bundle: the default spec mounts it read-only. */
const ROOTFS = `${ROOT}/rootfs`;
const CGROUP = opts.ignore ? undefined : detectLayout(Deno.readTextFileSync("/proc/self/mountinfo"));
const hasPython = new Deno.Command("sh", { args: ["-c", "command -v python3"] }).outputSync().success;

let outputs = 0;

async function t(args: string[], options: { stdin?: string } = {}): Promise<{
  code: number;
  stdout: string;
  stderr: string;
}> {
  if (args[0] !== "create" && !args.includes("--detach")) return await tinyo(ROOT, args, options);
  // The stdio of create (and exec --detach) becomes the container's: pipes
  // would stay open as long as it runs. Its output goes to files instead.
  const out = `${ROOT}/create-${++outputs}`;
  const status = await new Deno.Command("sh", {
    args: ["-c", `exec "$@" >'${out}.out' 2>'${out}.err'`, "sh", Deno.execPath(), ...tinyoArgv(ROOT, args)],
    stdin: "null",
  }).spawn().status;
  return {
    code: status.code,
    stdout: Deno.readTextFileSync(`${out}.out`),
    stderr: Deno.readTextFileSync(`${out}.err`),
  };
}

async function ok(args: string[]): Promise<string> {
  const r = await t(args);
  assert.equal(r.code, 0, `tinyo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

let rootfsReady = false;
let bundles = 0;

// deno-lint-ignore no-explicit-any
type Config = Record<string, any>;

/**
 * A bundle: config.json from `tinyo spec` (root.path pointing at the
 * shared rootfs), changed by `edit`.
 */
async function bundle(args: string[], edit: (c: Config) => void = () => {}): Promise<string> {
  if (!rootfsReady) {
    Deno.mkdirSync(ROOTFS);
    const x = await new Deno.Command("tar", { args: ["-xzf", ALPINE_320, "-C", ROOTFS] }).output();
    assert.ok(x.success);
    rootfsReady = true;
  }
  const dir = `${ROOT}/bundle${++bundles}`;
  Deno.mkdirSync(dir);
  await ok(["spec", "--bundle", dir]);
  const c = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  c.root.path = ROOTFS;
  c.process.terminal = false;
  c.process.args = args;
  edit(c);
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(c));
  return dir;
}

interface State {
  ociVersion: string;
  id: string;
  pid: number;
  status: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

async function state(id: string): Promise<State> {
  return JSON.parse(await ok(["state", id]));
}

/** The container's cgroup directories on the host. */
function cgroupDirs(pid: number): string[] {
  const dirs: string[] = [];
  for (const line of Deno.readTextFileSync(`/proc/${pid}/cgroup`).trim().split("\n")) {
    const [, controllers, path] = line.split(":");
    if (controllers === "" && CGROUP?.version === 2) dirs.push(`/sys/fs/cgroup${path}`);
    if (controllers === "memory" || controllers === "freezer") {
      dirs.push(`/sys/fs/cgroup/${controllers}${path}`);
    }
  }
  return dirs;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates `id` from a bundle running `args`, with stdio discarded. */
async function created(id: string, args: string[], edit?: (c: Config) => void): Promise<State> {
  const dir = await bundle(args, edit);
  await ok(["create", "--bundle", dir, id]);
  return await state(id);
}

async function gone(id: string): Promise<void> {
  await t(["delete", "--force", id]);
}

Deno.test("spec writes runc's default config once; --rootless is refused", opts, async () => {
  const dir = Deno.makeTempDirSync({ dir: ROOT });
  await ok(["spec", "--bundle", dir]);
  const c = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  assert.equal(c.root.path, "rootfs");
  assert.deepEqual(c.process.args, ["sh"]);
  assert.ok(c.mounts.some((m: { destination: string }) => m.destination === "/sys/fs/cgroup"));
  const again = await t(["spec", "--bundle", dir]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /exists/);
  const rootless = await t(["spec", "--rootless", "--bundle", `${dir}/x`]);
  assert.notEqual(rootless.code, 0);
  assert.match(rootless.stderr, /user namespaces/);
});

Deno.test("--version and features", opts, async () => {
  assert.match(await ok(["--version"]), /^tinyo version \d+\.\d+\.\d+\nspec: 1\.\d+\.\d+\n$/);
  const f = JSON.parse(await ok(["features"]));
  assert.equal(f.ociVersionMax, "1.2.0");
  assert.deepEqual(f.hooks, [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
  ]);
});

Deno.test(
  "create, start, state, delete: stdio of create reaches the process; the pid file; host clean after",
  opts,
  async () => {
    const dir = await bundle(["sh", "-c", "read line; echo got:$line; echo err >&2; sleep 0.3"]);
    const pidFile = `${dir}/pid`;
    // create's stdio is the process's: its stdout pipe stays open after create exits.
    const child = new Deno.Command(Deno.execPath(), {
      // Options after the id, as runc accepts them.
      args: tinyoArgv(ROOT, ["create", "--pid-file", pidFile, "c-basic", "--bundle", dir]),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("hello\n"));
    await w.close();
    const out = child.output();
    // create returns while the process waits; its output arrives after start.
    const pidText = await (async () => {
      await waitFor(() => exists(pidFile), 20_000, "pid file");
      return Deno.readTextFileSync(pidFile);
    })();
    assert.match(pidText, /^\d+$/, "pid file: digits, no newline");
    const pid = Number(pidText);
    const s = await state("c-basic");
    assert.equal(s.status, "created");
    assert.equal(s.pid, pid);
    assert.equal(s.id, "c-basic");
    assert.equal(s.bundle, dir);
    assert.equal(s.rootfs, ROOTFS);
    assert.equal(s.ociVersion, "1.2.0");
    assert.ok(processStartTime(pid) !== undefined, "the process waits, alive");
    const dirs = cgroupDirs(pid);
    assert.ok(dirs.length > 0);
    assert.ok(dirs.every((d) => d.includes("c-basic")), dirs.join());
    await ok(["start", "c-basic"]);
    const result = await out;
    const dec = new TextDecoder();
    assert.equal(dec.decode(result.stdout), "got:hello\n");
    assert.equal(dec.decode(result.stderr), "err\n");
    await waitFor(() => processStartTime(pid) === undefined, 10_000, "the process to end");
    assert.equal((await state("c-basic")).status, "stopped");
    assert.equal((await state("c-basic")).pid, 0);
    await ok(["delete", "c-basic"]);
    assert.ok(dirs.every((d) => !exists(d)), "cgroups removed");
    const after = await t(["state", "c-basic"]);
    assert.notEqual(after.code, 0);
    assert.match(after.stderr, /does not exist/);
    assert.deepEqual(listDir(`${ROOT}/state`).filter((n) => n.startsWith("c-basic")), []);
  },
);

Deno.test("runc's state table: what created, running, paused and stopped allow", opts, async () => {
  const id = "c-table";
  const s = await created(id, ["sleep", "60"]);
  // created: no pause, no resume; delete would work; start does.
  assert.notEqual((await t(["pause", id])).code, 0);
  assert.notEqual((await t(["resume", id])).code, 0);
  await ok(["start", id]);
  assert.equal((await state(id)).status, "running");
  // running: no second start, no delete without --force.
  const start2 = await t(["start", id]);
  assert.notEqual(start2.code, 0);
  assert.match(start2.stderr, /running, not created/);
  const del = await t(["delete", id]);
  assert.notEqual(del.code, 0);
  assert.match(del.stderr, /running/);
  assert.ok(processStartTime(s.pid) !== undefined, "a refused delete leaves it running");
  // paused: resume only; a paused container still dies of kill.
  await ok(["pause", id]);
  assert.equal((await state(id)).status, "paused");
  assert.notEqual((await t(["start", id])).code, 0);
  assert.notEqual((await t(["pause", id])).code, 0);
  await ok(["resume", id]);
  assert.equal((await state(id)).status, "running");
  await ok(["kill", id, "KILL"]);
  await waitFor(() => processStartTime(s.pid) === undefined, 10_000, "the process to die");
  // stopped: no start, no kill, no pause; delete.
  assert.equal((await state(id)).status, "stopped");
  assert.notEqual((await t(["start", id])).code, 0);
  const kill2 = await t(["kill", id]);
  assert.notEqual(kill2.code, 0);
  assert.match(kill2.stderr, /not running/);
  assert.notEqual((await t(["pause", id])).code, 0);
  await ok(["delete", id]);
});

Deno.test("create --explain: the set-up step by step up to created, on create's stderr", opts, async () => {
  const dir = await bundle(["echo", "explained"], (c) => c.hostname = "ocibox");
  const r = await t(["create", "--explain", "--bundle", dir, "explain1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^\[runtime\] spawn\(/m);
  assert.match(r.stderr, /^\[init\] sethostname\("ocibox"\) = 0 /m);
  assert.match(r.stderr, /^\[init\] pivot_root\("\.", "\."\) = 0 /m);
  assert.match(r.stderr, /── summary: the seven parts/);
  assert.doesNotMatch(r.stdout, /\[init\]|\[runtime\]/);
  await ok(["delete", "--force", "explain1"]);
});

Deno.test("a created container can be deleted: its waiting process is killed", opts, async () => {
  const s = await created("c-created-del", ["true"]);
  const dirs = cgroupDirs(s.pid);
  await ok(["delete", "c-created-del"]);
  assert.equal(processStartTime(s.pid), undefined);
  assert.ok(dirs.every((d) => !exists(d)));
});

Deno.test(
  "kill: default SIGTERM, names and numbers; --all reaches every process of the cgroup",
  opts,
  async () => {
    const id = "c-kill";
    const s = await created(id, [
      "sh",
      "-c",
      "trap 'exit 7' TERM; sleep 300 & sleep 300 & while :; do sleep 0.1; done",
    ]);
    await ok(["start", id]);
    await waitFor(
      () =>
        (JSON.parse(new TextDecoder().decode(
          new Deno.Command(Deno.execPath(), { args: tinyoArgv(ROOT, ["ps", "--format", "json", id]) })
            .outputSync()
            .stdout,
        )) as number[]).length >= 3,
      10_000,
      "three processes",
    );
    const pids: number[] = JSON.parse(await ok(["ps", "--format", "json", id]));
    assert.ok(pids.includes(s.pid));
    // An unknown signal is refused before anything is sent.
    const bad = await t(["kill", id, "SIGNOPE"]);
    assert.notEqual(bad.code, 0);
    assert.ok(processStartTime(s.pid) !== undefined);
    // kill ID: SIGTERM to the init only; the sleeps are its children, and die with the PID namespace.
    await ok(["kill", "--all", id, "9"]);
    await waitFor(() => pids.every((p) => processStartTime(p) === undefined), 10_000, "every process to die");
    await ok(["delete", id]);

    const s2 = await created("c-term", ["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]);
    await ok(["start", "c-term"]);
    await new Promise((r) => setTimeout(r, 300));
    await ok(["kill", "c-term"]);
    await waitFor(() => processStartTime(s2.pid) === undefined, 10_000, "SIGTERM to end it");
    await ok(["delete", "c-term"]);
  },
);

Deno.test(
  "delete --force: a running container goes with its processes and cgroups; a gone one is not an error",
  opts,
  async () => {
    const s = await created("c-force", ["sh", "-c", "sleep 300 & exec sleep 300"]);
    await ok(["start", "c-force"]);
    const pids: number[] = JSON.parse(await ok(["ps", "--format", "json", "c-force"]));
    const dirs = cgroupDirs(s.pid);
    await ok(["delete", "--force", "c-force"]);
    assert.ok(pids.every((p) => processStartTime(p) === undefined), "every process killed");
    assert.ok(dirs.every((d) => !exists(d)), "cgroups removed");
    await ok(["delete", "--force", "c-force"]);
    await ok(["delete", "-f", "never-existed"]);
    const plain = await t(["delete", "never-existed"]);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /does not exist/);
  },
);

Deno.test("list: table, json and -q", opts, async () => {
  await created("c-list", ["sleep", "30"]);
  try {
    const rows = JSON.parse(await ok(["list", "--format", "json"])) as State[];
    const row = rows.find((r) => r.id === "c-list")!;
    assert.equal(row.status, "created");
    assert.match(
      await ok(["list"]),
      /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\n(.*\n)*c-list\s+\d+\s+created\s/m,
    );
    assert.ok((await ok(["list", "-q"])).split("\n").includes("c-list"));
  } finally {
    await gone("c-list");
  }
});

Deno.test("pause and resume: seen from the cgroup, and the process stops counting", opts, async () => {
  const id = "c-pause";
  const dir = await bundle([
    "sh",
    "-c",
    "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done",
  ], (c) => {
    c.mounts.push({
      destination: "/tmp",
      type: "bind",
      source: `${ROOT}/pause-tmp`,
      options: ["rbind", "rw"],
    });
  });
  Deno.mkdirSync(`${ROOT}/pause-tmp`);
  await ok(["create", "--bundle", dir, id]);
  const s = await state(id);
  await ok(["start", id]);
  await waitFor(() => exists(`${ROOT}/pause-tmp/count`), 10_000, "counting");
  await ok(["pause", id]);
  const frozen = cgroupDirs(s.pid).some((d) => {
    try {
      if (d.includes("/freezer/")) return Deno.readTextFileSync(`${d}/freezer.state`).trim() === "FROZEN";
      return /^frozen 1$/m.test(Deno.readTextFileSync(`${d}/cgroup.events`));
    } catch {
      return false;
    }
  });
  assert.ok(frozen, "the cgroup is frozen");
  const n1 = Deno.readTextFileSync(`${ROOT}/pause-tmp/count`);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(Deno.readTextFileSync(`${ROOT}/pause-tmp/count`), n1, "no progress while paused");
  await ok(["resume", id]);
  await waitFor(() => Deno.readTextFileSync(`${ROOT}/pause-tmp/count`) !== n1, 5_000, "counting again");
  await ok(["delete", "--force", id]);
});

Deno.test("update raises and lowers the memory limit in the cgroup", opts, async () => {
  const id = "c-update";
  const s = await created(id, ["sleep", "60"], (c) => {
    c.linux.resources.memory = { limit: 64 * 1024 * 1024 };
  });
  await ok(["start", id]);
  const read = (): number => {
    for (const d of cgroupDirs(s.pid)) {
      for (const f of ["memory.limit_in_bytes", "memory.max"]) {
        try {
          return Number(Deno.readTextFileSync(`${d}/${f}`).trim());
        } catch {
          // Not this hierarchy.
        }
      }
    }
    throw new Error("no memory controller");
  };
  assert.equal(read(), 64 * 1024 * 1024);
  await ok(["update", "--memory", String(128 * 1024 * 1024), id]);
  assert.equal(read(), 128 * 1024 * 1024);
  const file = `${ROOT}/resources.json`;
  Deno.writeTextFileSync(file, JSON.stringify({ memory: { limit: 32 * 1024 * 1024 } }));
  await ok(["update", "--resources", file, id]);
  assert.equal(read(), 32 * 1024 * 1024);
  const stdin = await t(["update", "--resources", "-", id], {
    stdin: JSON.stringify({ memory: { limit: 96 * 1024 * 1024 } }),
  });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal(read(), 96 * 1024 * 1024);
  const bad = await t(["update", "--memory", "lots", id]);
  assert.notEqual(bad.code, 0);
  assert.equal(read(), 96 * 1024 * 1024, "a refused update changes nothing");
  await gone(id);
});

Deno.test(
  "exec --detach --pid-file: the process runs in the container and outlives tinyo",
  opts,
  async () => {
    const id = "c-exec";
    const s = await created(id, ["sleep", "60"]);
    await ok(["start", id]);
    const pidFile = `${ROOT}/exec.pid`;
    await ok(["exec", "--detach", "--pid-file", pidFile, id, "sleep", "30"]);
    const text = Deno.readTextFileSync(pidFile);
    assert.match(text, /^\d+$/);
    const pid = Number(text);
    assert.ok(processStartTime(pid) !== undefined, "still running after tinyo exec returned");
    assert.equal(Deno.readLinkSync(`/proc/${pid}/ns/pid`), Deno.readLinkSync(`/proc/${s.pid}/ns/pid`));
    assert.equal(Deno.readLinkSync(`/proc/${pid}/ns/mnt`), Deno.readLinkSync(`/proc/${s.pid}/ns/mnt`));
    const pids: number[] = JSON.parse(await ok(["ps", "--format", "json", id]));
    assert.ok(pids.includes(pid));
    // --process FILE: the whole process from JSON, as conmon sends it.
    const proc = `${ROOT}/process.json`;
    Deno.writeTextFileSync(
      proc,
      JSON.stringify({
        args: ["sh", "-c", "echo $FOO $(pwd) $(id -u)"],
        env: ["PATH=/bin:/usr/bin", "FOO=bar"],
        cwd: "/etc",
        user: { uid: 1000, gid: 1000 },
        terminal: false,
      }),
    );
    assert.equal(await ok(["exec", "--process", proc, id]), "bar /etc 1000\n");
    await gone(id);
    assert.equal(processStartTime(pid), undefined, "delete --force took the exec'd process too");
  },
);

Deno.test("--log --log-format json: errors as JSON lines (what containerd's shim reads)", opts, async () => {
  const log = `${ROOT}/runtime.log`;
  const r = await t([
    "--log",
    log,
    "--log-format",
    "json",
    "create",
    "--bundle",
    `${ROOT}/no-such-bundle`,
    "c-log",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no-such-bundle/);
  const lines = Deno.readTextFileSync(log).trim().split("\n");
  const last = JSON.parse(lines.at(-1)!);
  assert.equal(last.level, "error");
  assert.match(last.msg, /no-such-bundle/);
  assert.ok(!Number.isNaN(Date.parse(last.time)));
  assert.equal((await t(["state", "c-log"])).code !== 0, true, "nothing left behind");
});

Deno.test("a bad config.json: one line naming the field, nothing left", opts, async () => {
  const dir = await bundle(["true"], (c) => {
    c.process.cwd = "relative";
  });
  const r = await t(["create", "--bundle", dir, "c-bad"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /process\.cwd: must be an absolute path/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.notEqual((await t(["state", "c-bad"])).code, 0);
  assert.deepEqual(listDir(`${ROOT}/containers`).filter((n) => n === "c-bad"), []);
});

Deno.test("create refuses an id in use, and a bad id", opts, async () => {
  await created("c-dup", ["sleep", "30"]);
  try {
    const dir = await bundle(["true"]);
    const r = await t(["create", "--bundle", dir, "c-dup"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already exists/);
    const bad = await t(["create", "--bundle", dir, "../x"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid container id/);
  } finally {
    await gone("c-dup");
  }
});

Deno.test("--preserve-fds: descriptor 3 of create reaches the process", opts, async () => {
  const dir = await bundle(["cat", "/proc/self/fd/3"]);
  Deno.writeTextFileSync(`${ROOT}/fd3.txt`, "passed-fd\n");
  const argv = tinyoArgv(ROOT, ["create", "--preserve-fds", "1", "--bundle", dir, "c-fds"]).map((a) =>
    `'${a}'`
  );
  const sh = new Deno.Command("sh", {
    args: ["-c", `exec 3<'${ROOT}/fd3.txt'; '${Deno.execPath()}' ${argv.join(" ")}`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = sh.output();
  await waitFor(() => listDir(`${ROOT}/state`).includes("c-fds.json"), 20_000, "create");
  await waitFor(
    () => {
      try {
        return JSON.parse(Deno.readTextFileSync(`${ROOT}/state/c-fds.json`)).status === "created";
      } catch {
        return false;
      }
    },
    20_000,
    "created",
  );
  await ok(["start", "c-fds"]);
  const result = await out;
  assert.equal(
    new TextDecoder().decode(result.stdout),
    "passed-fd\n",
    new TextDecoder().decode(result.stderr),
  );
  await gone("c-fds");
});

Deno.test({
  name: "--console-socket: the pty master of the container's own devpts arrives with one SCM_RIGHTS message",
  ...opts,
  ignore: opts.ignore || !hasPython,
  fn: async () => {
    const sock = `${ROOT}/console.sock`;
    const report = `${ROOT}/console.json`;
    // A real receiver: accepts one connection, takes the message apart,
    // then reads what the container writes to the terminal until it closes.
    const receiver = new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, sys, json, os, array
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
fds = array.array("i")
msg, anc, flags, addr = c.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
rights = [a for a in anc if a[0] == socket.SOL_SOCKET and a[1] == socket.SCM_RIGHTS]
n = sum(len(a[2]) // fds.itemsize for a in rights)
for a in rights: fds.frombytes(a[2][: len(a[2]) - (len(a[2]) % fds.itemsize)])
out = b""
while True:
    try:
        b = os.read(fds[0], 4096)
    except OSError:
        break
    if not b: break
    out += b
json.dump({"name": msg.decode(), "messages": len(rights), "fds": n, "out": out.decode(errors="replace")}, open(sys.argv[2], "w"))
`,
        sock,
        report,
      ],
      stdout: "piped",
    }).spawn();
    const reader = receiver.stdout.getReader();
    await reader.read();
    reader.releaseLock();
    const dir = await bundle(["sh", "-c", "tty; ls /dev/pts | tr '\\n' ' '"], (c) => {
      c.process.terminal = true;
    });
    // Without a socket, terminal: true is refused before anything is made.
    const refused = await t(["create", "--bundle", dir, "c-console"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /console-socket/);
    await ok(["create", "--bundle", dir, "--console-socket", sock, "c-console"]);
    await ok(["start", "c-console"]);
    await receiver.status;
    const got = JSON.parse(Deno.readTextFileSync(report));
    assert.equal(got.messages, 1);
    assert.equal(got.fds, 1);
    assert.ok(got.name.length > 0, "a non-empty name");
    const out = (got.out as string).replaceAll("\r", "");
    assert.match(out, /^\/dev\/pts\/0\n/, "the terminal is the container's first pty");
    assert.match(out, /^0 ptmx $/m, "its own devpts instance: only its own pty");
    await gone("c-console");
  },
});

Deno.test("checkpoint and restore are refused clearly", opts, async () => {
  for (const verb of ["checkpoint", "restore"]) {
    const r = await t([verb, "x"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not supported/);
  }
});

Deno.test("run --bundle: create + start + wait + delete, with the exit code", opts, async () => {
  const dir = await bundle(["sh", "-c", "echo in-run; exit 3"]);
  const r = await t(["run", "--bundle", dir, "c-run"]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, "in-run\n");
  assert.notEqual((await t(["state", "c-run"])).code, 0, "deleted");
});

/** A hook that appends its name, its state and where it ran to `log`. */
function hookScript(dir: string): string {
  const path = `${dir}/hook.sh`;
  Deno.writeTextFileSync(
    path,
    `#!/bin/sh\necho "$1 $(cat) mnt=$(readlink /proc/self/ns/mnt)" >> "$2"\n[ -z "$3" ] || exit "$3"\n`,
    { mode: 0o755 },
  );
  return path;
}

Deno.test(
  "hooks: all six kinds in order, each with the state on stdin, in the right namespaces",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ dir: ROOT });
    const script = hookScript(dir);
    const log = `${dir}/hooks.log`;
    const kinds = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"];
    const b = await bundle(["sh", "-c", `echo main >> /hooklog/main`], (c) => {
      c.hooks = Object.fromEntries(kinds.map((k) => [k, [{ path: script, args: ["hook.sh", k, log] }]]));
      // startContainer runs in the container, after pivot_root: a path of its own.
      c.hooks.startContainer = [{
        path: "/bin/sh",
        args: [
          "sh",
          "-c",
          `echo "startContainer $(cat) mnt=$(readlink /proc/self/ns/mnt)" >> /hooklog/start`,
        ],
      }];
      c.annotations = { "org.example.key": "value" };
      c.mounts.push({ destination: "/hooklog", type: "bind", source: dir, options: ["rbind", "rw"] });
    });
    await ok(["create", "--bundle", b, "c-hooks"]);
    const s = await state("c-hooks");
    const created = Deno.readTextFileSync(log).trim().split("\n");
    assert.deepEqual(created.map((l) => l.split(" ")[0]), ["prestart", "createRuntime", "createContainer"]);
    await ok(["start", "c-hooks"]);
    await waitFor(() => processStartTime(s.pid) === undefined, 10_000, "the process to end");
    await ok(["delete", "c-hooks"]);
    const lines = Deno.readTextFileSync(log).trim().split("\n");
    assert.deepEqual(lines.map((l) => l.split(" ")[0]), [...kinds.slice(0, 3), "poststart", "poststop"]);
    const parse = (line: string): { state: Record<string, unknown>; mnt: string } => {
      const m = /^\S+ (\{.*\}) mnt=(\S+)$/.exec(line)!;
      return { state: JSON.parse(m[1]!), mnt: m[2]! };
    };
    const hostMnt = Deno.readLinkSync("/proc/self/ns/mnt");
    const containerMnt = parse(lines[2]!).mnt;
    for (
      const [i, status, pid, mnt] of [
        [0, "creating", s.pid, hostMnt],
        [1, "creating", s.pid, hostMnt],
        [2, "creating", 1, containerMnt],
        [3, "running", s.pid, hostMnt],
        [4, "stopped", undefined, hostMnt],
      ] as const
    ) {
      const { state: st, mnt: where } = parse(lines[i]!);
      assert.equal(st.status, status, lines[i]);
      assert.equal(st.pid, pid, lines[i]);
      assert.equal(st.id, "c-hooks");
      assert.equal(st.bundle, b);
      assert.equal(st.ociVersion, "1.2.0");
      assert.deepEqual(st.annotations, { "org.example.key": "value" });
      assert.equal(where, mnt, `${lines[i]} ran in the wrong mount namespace`);
    }
    assert.notEqual(containerMnt, hostMnt, "createContainer runs in the container's mount namespace");
    const start = parse(Deno.readTextFileSync(`${dir}/start`).trim());
    assert.equal(start.state.status, "created");
    assert.equal(start.state.pid, 1);
    assert.equal(start.mnt, containerMnt);
    assert.equal(Deno.readTextFileSync(`${dir}/main`), "main\n", "startContainer ran before the process");
  },
);

Deno.test(
  "hooks: a failing createRuntime fails create, destroys the container, runs poststop",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ dir: ROOT });
    const script = hookScript(dir);
    const log = `${dir}/hooks.log`;
    const b = await bundle(["true"], (c) => {
      c.hooks = {
        createRuntime: [{ path: script, args: ["hook.sh", "createRuntime", log, "3"] }],
        createContainer: [{ path: script, args: ["hook.sh", "createContainer", log] }],
        poststop: [{ path: script, args: ["hook.sh", "poststop", log] }],
      };
    });
    const r = await t(["create", "--bundle", b, "c-hookfail"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /createRuntime hook .*exit status 3/);
    assert.deepEqual(Deno.readTextFileSync(log).trim().split("\n").map((l) => l.split(" ")[0]), [
      "createRuntime",
      "poststop",
    ]);
    assert.notEqual((await t(["state", "c-hookfail"])).code, 0, "no container left");
    assert.deepEqual(listDir(`${ROOT}/containers`).filter((n) => n === "c-hookfail"), []);
    assert.ok(
      !exists("/sys/fs/cgroup/memory/tinyo/c-hookfail") && !exists("/sys/fs/cgroup/tinyo/c-hookfail"),
    );
  },
);

Deno.test(
  "hooks: a timeout kills the hook and fails create; a failing poststart only warns",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ dir: ROOT });
    const slow = await bundle(["true"], (c) => {
      c.hooks = { prestart: [{ path: "/bin/sleep", args: ["sleep", "30"], timeout: 1 }] };
    });
    const started = Date.now();
    const r = await t(["create", "--bundle", slow, "c-hookslow"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /prestart hook "\/bin\/sleep": timed out after 1 s/);
    assert.ok(Date.now() - started < 15_000);
    assert.notEqual((await t(["state", "c-hookslow"])).code, 0);

    const script = hookScript(dir);
    const b = await bundle(["true"], (c) => {
      c.hooks = { poststart: [{ path: script, args: ["hook.sh", "poststart", `${dir}/log`, "1"] }] };
    });
    await ok(["create", "--bundle", b, "c-warn"]);
    const start = await t(["start", "c-warn"]);
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stderr, /^tinyo: warning: Cannot run the poststart hook .*exit status 1/);
    await ok(["delete", "--force", "c-warn"]);
  },
);

Deno.test(
  "a cgroupsPath naming someone else's cgroup is refused: nothing there is touched or killed",
  opts,
  async () => {
    const base = CGROUP?.version === 2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    const name = `tinyo-victim-${crypto.randomUUID().slice(0, 8)}`;
    const victim = `${base}/${name}`;
    Deno.mkdirSync(`${victim}/child`, { recursive: true });
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      Deno.writeTextFileSync(`${victim}/child/cgroup.procs`, String(sleeper.pid));
      for (const path of [`/${name}/child`, `/${name}`, name]) {
        const dir = await bundle(["true"], (c) => {
          c.linux.cgroupsPath = path;
        });
        const r = await t(["create", "--bundle", dir, "c-victim"]);
        assert.ok(processStartTime(sleeper.pid) !== undefined, `${path}: the process there was killed`);
        assert.notEqual(r.code, 0, path);
        assert.match(r.stderr, /cgroupsPath .*(has processes|has child cgroups)/, r.stderr);
        assert.ok(exists(`${victim}/child`), `${path}: the cgroup was removed`);
        assert.notEqual((await t(["state", "c-victim"])).code, 0);
        await t(["delete", "--force", "c-victim"]);
        assert.ok(processStartTime(sleeper.pid) !== undefined, `${path}: delete --force killed it`);
      }
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
      for (const d of [`${victim}/child`, victim]) {
        try {
          Deno.removeSync(d);
        } catch {
          // Busy for a moment after the kill.
          await new Promise((r) => setTimeout(r, 100));
          Deno.removeSync(d);
        }
      }
    }
  },
);

Deno.test(
  "tmpcopyup: the tmpfs starts with the image's files and mode; what a symlink leads to is not copied",
  opts,
  async () => {
    const dir = await bundle(
      [
        "sh",
        "-c",
        "stat -c %a /copyme; cat /copyme/a.txt /copyme/d/b.txt; readlink /copyme/l; ls -A /copylink | wc -l; touch /copyme/new",
      ],
      (c) => {
        c.mounts.push(
          {
            destination: "/copyme",
            type: "tmpfs",
            source: "tmpfs",
            options: ["rw", "nosuid", "nodev", "tmpcopyup"],
          },
          { destination: "/copylink", type: "tmpfs", source: "tmpfs", options: ["rw", "tmpcopyup"] },
        );
      },
    );
    Deno.mkdirSync(`${ROOTFS}/copyme/d`, { recursive: true });
    Deno.chmodSync(`${ROOTFS}/copyme`, 0o751);
    Deno.writeTextFileSync(`${ROOTFS}/copyme/a.txt`, "hello\n");
    Deno.writeTextFileSync(`${ROOTFS}/copyme/d/b.txt`, "bee\n");
    Deno.symlinkSync("a.txt", `${ROOTFS}/copyme/l`);
    Deno.symlinkSync("/sys/kernel", `${ROOTFS}/copylink`);
    try {
      const r = await t(["run", "--bundle", dir, "c-copyup"]);
      assert.equal(r.stdout, "751\nhello\nbee\na.txt\n0\n", r.stderr);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!exists(`${ROOTFS}/copyme/new`), "writes go to the tmpfs, not the image");
    } finally {
      Deno.removeSync(`${ROOTFS}/copyme`, { recursive: true });
      Deno.removeSync(`${ROOTFS}/copylink`);
    }
  },
);

Deno.test("oci: every container deleted, nothing left on the host, suite root removed", opts, async () => {
  // Containers a failed test left behind go first, so they do not hide what follows.
  const left = JSON.parse(await ok(["list", "--format", "json"])) as State[];
  for (const s of left) await t(["delete", "--force", s.id]);
  assert.deepEqual(left.map((s) => s.id), [], "every test deletes its containers");
  for (const id of ["c-basic", "c-table", "c-kill", "c-term", "c-force", "c-exec", "c-hooks", "c-warn"]) {
    for (const hierarchy of listDir("/sys/fs/cgroup")) {
      assert.ok(!exists(`/sys/fs/cgroup/${hierarchy}/tinyo/${id}`), `cgroup ${hierarchy}/tinyo/${id} left`);
    }
  }
  assert.deepEqual(leftovers(ROOT).filter((p) => !p.startsWith("container dirs")), []);
  Deno.removeSync(ROOT, { recursive: true });
});

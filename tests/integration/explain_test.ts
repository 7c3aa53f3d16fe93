/**
 * `--explain` on the real thing: the steps with their real arguments, the
 * seven parts in the summary in order, a failing step with its errno, and
 * the command's own output and exit code untouched (stderr or a file).
 */

import assert from "node:assert/strict";
import { ALPINE_320, IGNORE_ROOT, leftovers, makeRoot, tinyo } from "../helpers/tinyo.ts";
import { PARTS } from "../../runtime/explain.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-explain-");
const IMG = ALPINE_320;

/** The summary's parts, in the order printed, with their step counts. */
function summary(text: string): [string, number][] {
  const at = text.indexOf("── summary: the seven parts");
  assert.ok(at >= 0, `no summary in:\n${text.slice(-2000)}`);
  return text.slice(at).split("\n").slice(1).map((l) => /^(.+?)\s+(\d+) steps /.exec(l))
    .filter((m): m is RegExpExecArray => m !== null).map((m) => [m[1]!.trim(), Number(m[2])]);
}

Deno.test("run --explain: the steps with their real arguments, the seven parts in order", opts, async () => {
  const r = await tinyo(ROOT, ["run", "-q", "--explain", "--hostname", "box", IMG, "echo", "hi"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "hi\n", "the command's output alone on stdout");
  const parts = summary(r.stderr);
  assert.deepEqual(parts.map(([p]) => p), [...PARTS]);
  for (const [part, steps] of parts) assert.ok(steps > 0, `no step under ${part}`);
  // Real arguments of known calls: the hostname given, the rootfs path, flags by name.
  assert.match(r.stderr, /^\[init\] sethostname\("box"\) = 0 /m);
  assert.match(r.stderr, /^\[runtime\] unshare\(CLONE_NEWNS\|CLONE_NEWPID\) = 0 /m);
  assert.match(r.stderr, /^\[init\] unshare\([A-Z_|]*CLONE_NEWUTS[A-Z_|]*\) = 0 /m);
  const rootfs = new RegExp(`mount\\("overlay", "${ROOT}/containers/[0-9a-f]{64}/rootfs", "overlay", `);
  assert.match(r.stderr, rootfs);
  assert.match(
    r.stderr,
    /mount\("proc", "\/proc\/self\/fd\/\d+" \(.*\/rootfs\/proc\), "proc", MS_NOSUID\|MS_NODEV\|MS_NOEXEC\)/,
  );
  assert.match(r.stderr, /^\[init\] pivot_root\("\.", "\."\) = 0 /m);
  assert.match(r.stderr, /^\[init\] execveat\(\d+, "", \["echo", "hi"\], AT_EMPTY_PATH\)/m);
  assert.match(r.stderr, /^\[runtime\] wait4\(\d+\) = exit 0 /m);
  // Each step line: side, call, result, and a why after "#".
  const steps = r.stderr.split("\n").filter((l) => l.startsWith("["));
  assert.ok(steps.length > 50, `${steps.length} steps`);
  for (const l of steps) assert.match(l, /^\[(runtime|init)\] .+ = .+ # .+/);
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test(
  "--explain changes neither the output nor the exit code; --explain=FILE keeps stderr clean",
  opts,
  async () => {
    const script = "echo out; echo err >&2; exit 3";
    const plain = await tinyo(ROOT, ["run", "-q", IMG, "sh", "-c", script]);
    const file = `${ROOT}/explain.txt`;
    const explained = await tinyo(ROOT, ["run", "-q", `--explain=${file}`, IMG, "sh", "-c", script]);
    assert.equal(plain.code, 3);
    assert.equal(explained.code, 3);
    assert.equal(explained.stdout, plain.stdout);
    assert.equal(explained.stderr, plain.stderr, "the explanation went to the file, not stderr");
    const text = Deno.readTextFileSync(file);
    assert.deepEqual(summary(text).map(([p]) => p), [...PARTS]);
    assert.match(text, /^\[init\] execveat\(\d+, "", \["sh", "-c", /m);
    Deno.removeSync(file);
  },
);

Deno.test("--explain shows a failing step with its errno", opts, async () => {
  // A file bound onto a directory: mount(2) says ENOTDIR.
  const r = await tinyo(ROOT, ["run", "-q", "--explain", "-v", "/etc/hostname:/bin", IMG, "true"]);
  assert.equal(r.code, 125, r.stderr);
  assert.match(
    r.stderr,
    /^\[init\] mount\("\/etc\/hostname", "\/proc\/self\/fd\/\d+" \(.*\/rootfs\/bin\), "", MS_BIND\|MS_REC\) = -1 ENOTDIR \(Not a directory\) /m,
  );
  assert.match(r.stderr, /^tinyo: mount\(\/etc\/hostname -> \/proc\/self\/fd\/\d+\): ENOTDIR/m);
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("exec --explain: joining a running container, step by step", opts, async () => {
  const start = await tinyo(ROOT, ["run", "-d", "-q", IMG, "sleep", "60"]);
  assert.equal(start.code, 0, start.stderr);
  const id = start.stdout.trim();
  try {
    const r = await tinyo(ROOT, ["exec", "--explain", id, "echo", "inside"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "inside\n");
    assert.match(r.stderr, /^\[init\] setns\(\d+ \(anon_inode:\[pidfd\]\), CLONE_[A-Z|_]+\) = 0 /m);
    assert.match(r.stderr, /^\[init\] execveat\(\d+, "", \["echo", "inside"\], AT_EMPTY_PATH\)/m);
    assert.match(r.stderr, /── summary: the seven parts/);
  } finally {
    await tinyo(ROOT, ["rm", "-f", id]);
  }
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("explain: suite root is removed", opts, () => {
  Deno.removeSync(ROOT, { recursive: true });
});

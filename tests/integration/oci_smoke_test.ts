/**
 * tinyo as the OCI runtime of real engines, and the launcher that lets them
 * call it.
 *
 * - `deno task install` (tasks/install.ts): writes, rewrites, refuses and
 *   removes the launcher in a temporary prefix; the launcher passes argv,
 *   stdio and extra descriptors through with an empty environment. No root.
 * - ../shared/oci/podman-smoke.sh (podman + conmon, SMOKE_EXTRAS=1) and
 *   ctr-smoke.sh (a private containerd and its runc v2 shim), each run
 *   against a launcher that the install task writes into a temporary prefix.
 *   They need root, the tarballs in ../shared/rootfs and the engine; without
 *   them the test is ignored, with the reason printed once.
 * - Harness checks: one scenario of each script against runc, so that a
 *   broken harness or engine is told apart from a tinyo failure.
 *
 * TINYO_SKIP_SMOKE=1 ignores the script runs (the full ones take minutes).
 * A failing run keeps its SMOKE_RESULTS_DIR (argv.log, scenarios.log) and
 * names it in the assertion message, with the script's PASS/FAIL lines.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { rootSkipReason } from "../helpers/tinyo.ts";
import { buildBundle, ESBUILD } from "../../tasks/build.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const INSTALL = `${ROOT}tasks/install.ts`;
/** The launcher's bundles: dist/launcher-<digest>/main.js (tasks/install.ts). */
const BUNDLE_ENTRY = new RegExp(`'(${ROOT}dist/launcher-[0-9a-f]{16}/main\\.js)' "\\$@"\\n`);
/** ../shared/oci beside the checkout (the CI layout: <parent>/main and <parent>/shared). */
const SHARED_OCI = fileURLToPath(new URL("../../../shared/oci/", import.meta.url));
const PODMAN_SMOKE = `${SHARED_OCI}podman-smoke.sh`;
const CTR_SMOKE = `${SHARED_OCI}ctr-smoke.sh`;
/** The summaries of a clean run: every scenario of podman-smoke.sh (with the extras) and ctr-smoke.sh. */
const PODMAN_WANT = "23 passed, 0 failed";
const CTR_WANT = "14 passed, 0 failed";
const FULL_TIMEOUT_MS = 15 * 60_000;
const HARNESS_TIMEOUT_MS = 3 * 60_000;
const dec = new TextDecoder();

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `name` is an executable on PATH (the smoke scripts look there too). */
function onPath(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      const info = Deno.statSync(`${dir || "."}/${name}`);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

/** Why a smoke script cannot run here (script, root, tarballs, commands), or undefined. */
function smokeSkipReason(script: string, commands: readonly string[]): string | undefined {
  if (Deno.env.get("TINYO_SKIP_SMOKE") === "1") return "TINYO_SKIP_SMOKE=1";
  if (!exists(script)) return `${script} not found`;
  const root = rootSkipReason();
  if (root !== undefined) return root;
  const missing = commands.filter((c) => !onPath(c));
  return missing.length > 0 ? `${missing.join(", ")} not installed` : undefined;
}

/** `ignore` for one test, with the reason printed once. */
function ignoreUnless(what: string, why: string | undefined): boolean {
  if (why !== undefined) {
    // deno-lint-ignore no-console
    console.error(`SKIPPING ${what}: ${why}`);
  }
  return why !== undefined;
}

const PODMAN_TOOLS = ["podman"]; // podman finds its conmon itself (not always on PATH)
const CTR_TOOLS = ["containerd", "ctr", "containerd-shim-runc-v2"];
const IGNORE_PODMAN = ignoreUnless("podman-smoke.sh", smokeSkipReason(PODMAN_SMOKE, PODMAN_TOOLS));
const IGNORE_CTR = ignoreUnless("ctr-smoke.sh", smokeSkipReason(CTR_SMOKE, CTR_TOOLS));
const IGNORE_PODMAN_RUNC = ignoreUnless(
  "podman-smoke.sh harness check",
  smokeSkipReason(PODMAN_SMOKE, [...PODMAN_TOOLS, "runc"]),
);
const IGNORE_CTR_RUNC = ignoreUnless(
  "ctr-smoke.sh harness check",
  smokeSkipReason(CTR_SMOKE, [...CTR_TOOLS, "runc"]),
);

/** Runs the install task as `deno task install` does; returns its exit code and output. */
function installTask(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", INSTALL, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Writes the launcher into `prefix` with the install task; returns its path. */
function installLauncher(prefix: string): string {
  const r = installTask(["--prefix", prefix]);
  assert.equal(r.code, 0, `deno task install --prefix ${prefix} failed: ${r.stderr}${r.stdout}`);
  return `${prefix}/tinyo`;
}

/**
 * Reads a stream in the background, copying it to stderr as it arrives (the
 * progress of long runs); `stop` ends the reading even if the stream is
 * still open.
 */
function collect(stream: ReadableStream<Uint8Array>): {
  done: Promise<void>;
  text: () => string;
  stop: () => Promise<void>;
} {
  const reader = stream.getReader();
  const d = new TextDecoder();
  let text = "";
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      await Deno.stderr.write(value);
      text += d.decode(value, { stream: true });
    }
  })();
  return {
    done,
    text: () => text,
    stop: async () => {
      await reader.cancel().catch(() => {});
      await done.catch(() => {});
    },
  };
}

/** A timer as a promise that can be cancelled (the test sanitizer wants no timer left). */
function delay(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  return { promise, cancel: () => clearTimeout(timer) };
}

/** The outcome of one smoke script run. */
interface SmokeRun {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs `bash SCRIPT RUNTIME [SCENARIO...]` with its results in `results`.
 * On timeout the script gets SIGTERM (it cleans up on TERM), then SIGKILL.
 */
async function runSmoke(
  script: string,
  runtime: string,
  options: { scenarios?: string[]; env?: Record<string, string>; results: string; timeoutMs: number },
): Promise<SmokeRun> {
  const child = new Deno.Command("bash", {
    args: [script, runtime, ...(options.scenarios ?? [])],
    env: { ...options.env, SMOKE_RESULTS_DIR: options.results },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  let timedOut = false;
  const kill = (signal: Deno.Signal): void => {
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
  };
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const termTimer = setTimeout(() => {
    timedOut = true;
    kill("SIGTERM");
    killTimer = setTimeout(() => kill("SIGKILL"), 30_000);
  }, options.timeoutMs);
  try {
    const status = await child.status;
    // A process the script left behind may hold its output open: read on
    // for a few seconds, not until that process ends.
    const grace = delay(5_000);
    await Promise.race([Promise.all([out.done, err.done]), grace.promise]);
    grace.cancel();
    return { code: status.code, stdout: out.text(), stderr: err.text(), timedOut };
  } finally {
    clearTimeout(termTimer);
    clearTimeout(killTimer);
    await out.stop();
    await err.stop();
  }
}

/**
 * Asserts that the run ended with `want`. The message carries the script's
 * header, PASS/FAIL and summary lines, the end of its stderr and where its
 * logs were kept.
 */
function assertSmoke(name: string, run: SmokeRun, want: string, results: string): void {
  const lines = run.stdout.split("\n");
  if (run.code === 0 && lines.includes(want)) return;
  const report = lines.filter((l) => /^(PASS|FAIL|# |\d+ passed)/.test(l));
  const stderr = run.stderr.trim().split("\n").slice(-15);
  assert.fail(
    [
      `${name}: want "${want}", got exit ${run.code}${
        run.timedOut ? " (timed out, stopped with SIGTERM)" : ""
      }`,
      ...report,
      ...(stderr[0] ? ["stderr:", ...stderr] : []),
      `logs kept in ${results} (argv.log: the runtime calls; scenarios.log: the engine's output)`,
    ].join("\n"),
  );
}

/**
 * Runs one smoke script in a temporary directory that holds its results
 * (and the launcher's prefix); removes it unless the run failed.
 */
async function smokeTest(
  name: string,
  script: string,
  want: string,
  options: {
    runtime: (tmp: string) => string;
    scenarios?: string[];
    env?: Record<string, string>;
    timeoutMs: number;
  },
): Promise<void> {
  const tmp = Deno.makeTempDirSync({ prefix: "tinyo-oci-smoke-" });
  const results = `${tmp}/results`;
  let passed = false;
  try {
    const runtime = options.runtime(tmp);
    const run = await runSmoke(script, runtime, {
      results,
      timeoutMs: options.timeoutMs,
      ...(options.scenarios === undefined ? {} : { scenarios: options.scenarios }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    assertSmoke(name, run, want, results);
    passed = true;
  } finally {
    if (passed) Deno.removeSync(tmp, { recursive: true });
  }
}

Deno.test("`deno task install` writes the launcher atomically, again, refuses others' files and uninstalls", () => {
  const prefix = Deno.makeTempDirSync({ prefix: "tinyo-install-" });
  try {
    const target = `${prefix}/tinyo`;
    const first = installTask(["--prefix", prefix]);
    assert.equal(first.code, 0, first.stderr);
    // It runs a bundle of the checkout (tasks/build.ts), made at install time.
    assert.match(
      first.stdout,
      /^tinyo: installed .*\/tinyo -> .*\/launcher-[0-9a-f]{16}\/main\.js \(deno [^)]*\)\n$/,
    );
    const info = Deno.lstatSync(target);
    assert.ok(info.isFile);
    assert.equal((info.mode ?? 0) & 0o7777, 0o755);
    const text = Deno.readTextFileSync(target);
    assert.ok(text.startsWith("#!/bin/sh\n# tinyo launcher: "), text);
    assert.match(text, BUNDLE_ENTRY);
    assert.deepEqual([...Deno.readDirSync(prefix)].map((e) => e.name), ["tinyo"]); // no temporary file left

    const again = installTask(["--prefix", prefix]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /installed .* \(again\)/);
    assert.equal(Deno.readTextFileSync(target), text);

    Deno.writeTextFileSync(target, "#!/bin/sh\necho someone else's\n");
    const refused = installTask(["--prefix", prefix]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^install: Cannot write ".*tinyo": it is not a tinyo launcher \(--force [^\n]*\)\n$/,
    );
    assert.equal(refused.stdout, "");
    const notRemoved = installTask(["--uninstall", "--prefix", prefix]);
    assert.equal(notRemoved.code, 1);
    assert.equal(Deno.readTextFileSync(target), "#!/bin/sh\necho someone else's\n");
    const forced = installTask(["--prefix", prefix, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(Deno.readTextFileSync(target), text);

    const removed = installTask(["--uninstall", "--prefix", prefix]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /^tinyo: removed /);
    assert.ok(!exists(target));
    const none = installTask(["--uninstall", "--prefix", prefix]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /nothing to remove/);
  } finally {
    Deno.removeSync(prefix, { recursive: true });
  }
});

Deno.test("the install bundle runs only the pinned esbuild: a planted one is refused, never run", async () => {
  const denoDir = Deno.makeTempDirSync({ prefix: "tinyo-denodir-" });
  const marker = `${denoDir}/ran`;
  try {
    const planted = `${denoDir}/${ESBUILD.inDenoDir}`;
    Deno.mkdirSync(planted.slice(0, planted.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(planted, `#!/bin/sh\ntouch '${marker}'\nexit 1\n`, { mode: 0o755 });
    const built = await buildBundle(denoDir, Deno.execPath(), denoDir);
    assert.ok("error" in built, "a bundle was made with a planted esbuild");
    assert.match(built.error, /pinned esbuild/);
    assert.ok(!exists(marker), "the planted esbuild ran");
    assert.deepEqual(
      [...Deno.readDirSync(denoDir)].map((e) => e.name).sort(),
      ["dl"],
      "no bundle directory left",
    );
  } finally {
    Deno.removeSync(denoDir, { recursive: true });
  }
});

Deno.test("the launcher passes argv, stdio, exit status and extra descriptors through, with no environment", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "tinyo-launcher-" });
  try {
    const launcher = installLauncher(tmp);
    // The same launcher, running a probe instead of tinyo's bundle.
    const probe = `${tmp}/probe.ts`;
    Deno.writeTextFileSync(
      probe,
      `const fds = {};
for (const e of Deno.readDirSync("/proc/self/fd")) {
  try { fds[e.name] = Deno.readLinkSync("/proc/self/fd/" + e.name); } catch { /* the listing's own */ }
}
const input = new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer());
console.log(JSON.stringify({ args: Deno.args, fds, input, pid: Deno.pid, env: Deno.env.toObject() }));
Deno.exit(7);
`,
    );
    const probeLauncher = `${tmp}/probe-launcher`;
    const text = Deno.readTextFileSync(launcher);
    const entry = `'${BUNDLE_ENTRY.exec(text)![1]}'`;
    Deno.writeTextFileSync(probeLauncher, text.replace(entry, `'${probe}'`), { mode: 0o755 });
    Deno.chmodSync(probeLauncher, 0o755);
    Deno.writeTextFileSync(`${tmp}/fd`, "x");
    const argv = ["", "a b", "$HOME", "*", "--log-format=json", "new\nline", "'quoted'"];
    // As conmon does: descriptors beyond stdio open across the exec, and an
    // environment without PATH or HOME (bash: dash cannot redirect fd 10).
    const child = new Deno.Command("/bin/bash", {
      args: [
        "-c",
        `exec 3<"$0/fd" 4>>"$0/fd" 10<"$0/fd" 200<"$0/fd"; exec "$0/probe-launcher" "$@"`,
        tmp,
        ...argv,
      ],
      env: {},
      clearEnv: true,
      cwd: "/",
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("stdin data"));
    await writer.close();
    const out = await child.output();
    assert.equal(dec.decode(out.stderr), "", "the launcher must print nothing");
    assert.equal(out.code, 7);
    const seen = JSON.parse(dec.decode(out.stdout));
    assert.deepEqual(seen.args, argv);
    assert.equal(seen.input, "stdin data");
    assert.equal(seen.pid, child.pid, "the launcher must exec, not fork");
    for (const fd of ["3", "4", "10", "200"]) assert.equal(seen.fds[fd], `${tmp}/fd`, `fd ${fd}`);
    assert.equal(seen.env.PATH, undefined, "Deno must not invent a PATH (DENO_DISABLE_NODE_SHIM)");
    assert.ok(String(seen.env.DENO_DIR).startsWith(ROOT), seen.env.DENO_DIR);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test({
  name: "podman-smoke.sh run_echo passes with runc (harness check)",
  ignore: IGNORE_PODMAN_RUNC,
  fn: () =>
    smokeTest("podman-smoke.sh runc run_echo", PODMAN_SMOKE, "1 passed, 0 failed", {
      runtime: () => "runc",
      scenarios: ["run_echo"],
      timeoutMs: HARNESS_TIMEOUT_MS,
    }),
});

Deno.test({
  name: "ctr-smoke.sh run_echo passes with runc (harness check)",
  ignore: IGNORE_CTR_RUNC,
  fn: () =>
    smokeTest("ctr-smoke.sh runc run_echo", CTR_SMOKE, "1 passed, 0 failed", {
      runtime: () => "runc",
      scenarios: ["run_echo"],
      timeoutMs: HARNESS_TIMEOUT_MS,
    }),
});

Deno.test({
  name: `podman-smoke.sh with SMOKE_EXTRAS=1 passes through the installed launcher (${PODMAN_WANT})`,
  ignore: IGNORE_PODMAN,
  fn: () =>
    smokeTest("podman-smoke.sh tinyo (SMOKE_EXTRAS=1)", PODMAN_SMOKE, PODMAN_WANT, {
      runtime: (tmp) => installLauncher(`${tmp}/bin`),
      env: { SMOKE_EXTRAS: "1" },
      timeoutMs: FULL_TIMEOUT_MS,
    }),
});

Deno.test({
  name: `ctr-smoke.sh passes through the installed launcher (${CTR_WANT})`,
  ignore: IGNORE_CTR,
  fn: () =>
    smokeTest("ctr-smoke.sh tinyo", CTR_SMOKE, CTR_WANT, {
      runtime: (tmp) => installLauncher(`${tmp}/bin`),
      timeoutMs: FULL_TIMEOUT_MS,
    }),
});

Deno.test({
  name: "`deno task install` refuses a checkout that someone other than root could change",
  ignore: Deno.uid() !== 0,
  fn: () => {
    // The launcher runs the checkout as root whenever podman or containerd
    // calls it: a group-writable directory of its code is a way to root.
    const copy = Deno.makeTempDirSync({ prefix: "tinyo-install-own-" });
    try {
      Deno.mkdirSync(`${copy}/x`);
      const cp = new Deno.Command("cp", {
        args: [
          "-a",
          ...["main.ts", "deno.json", "tasks", "runtime", "ffi", "rootfs"].map((f) => `${ROOT}${f}`),
          `${copy}/x/`,
        ],
      }).outputSync();
      assert.ok(cp.success, dec.decode(cp.stderr));
      Deno.symlinkSync(`${ROOT}node_modules`, `${copy}/x/node_modules`);
      Deno.chmodSync(`${copy}/x/runtime`, 0o775);
      const prefix = `${copy}/bin`;
      const r = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", `${copy}/x/tasks/install.ts`, "--prefix", prefix],
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
      assert.notEqual(r.code, 0);
      assert.match(dec.decode(r.stderr), /runtime is writable by group or others/);
      assert.ok(!exists(`${prefix}/tinyo`), "no launcher written");
    } finally {
      Deno.removeSync(copy, { recursive: true });
    }
  },
});

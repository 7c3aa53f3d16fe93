/**
 * Interactive terminals through a real terminal: tinyo runs inside tmux
 * (its own server socket), the test types with send-keys and reads the
 * screen with capture-pane. Prompts, Ctrl-C, Ctrl-Z/fg, resize, exit
 * status, and the host terminal's settings after tinyo exits.
 */

import assert from "node:assert/strict";
import {
  ALPINE_320,
  IGNORE_ROOT,
  leftovers,
  makeRoot,
  Output,
  spawnTinyo,
  tinyo,
  tinyoArgv,
} from "../helpers/tinyo.ts";

const hasTmux = new Deno.Command("sh", { args: ["-c", "command -v tmux"] }).outputSync().success;
const opts = { ignore: IGNORE_ROOT || !hasTmux, sanitizeResources: false, sanitizeOps: false };
const ROOT = opts.ignore ? "" : makeRoot("tinyo-tty-");
const SOCKET = `tinyo-test-${Deno.pid}`;
const IMG = ALPINE_320;

function tmux(...args: string[]): string {
  const out = new Deno.Command("tmux", { args: ["-L", SOCKET, ...args], stdout: "piped", stderr: "piped" })
    .outputSync();
  return new TextDecoder().decode(out.stdout);
}

async function screenHas(session: string, needle: string | RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const screen = tmux("capture-pane", "-t", session, "-p", "-S", "-200");
    if (typeof needle === "string" ? screen.includes(needle) : needle.test(screen)) return screen;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${needle}; screen:\n${screen}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits for the shell's first prompt and lets it settle: busybox ash asks the
 * terminal for the cursor position at its first prompt and swallows input
 * that arrives while it reads the answer, so keys sent in that instant (as
 * tmux sends them, faster than a person) can be dropped. Retries an echo
 * until one comes back whole.
 */
async function promptReady(session: string): Promise<void> {
  await screenHas(session, "/ #");
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 1;; i++) {
    tmux("send-keys", "-t", session, `echo settled-${i}`, "Enter");
    try {
      await screenHas(session, new RegExp(`\nsettled-${i}\n`), 2_000);
      return;
    } catch (err) {
      if (i >= 5) throw err;
    }
  }
}

/** Starts `tinyo ARGS` in a tmux pane; a wrapper saves the exit code and the terminal settings around it. */
function startInTmux(session: string, args: string[], dir: string): void {
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const cmd = [Deno.execPath(), ...tinyoArgv(ROOT, args)].map(q).join(" ");
  const script =
    `stty -g > ${dir}/before; ${cmd}; echo $? > ${dir}/code; stty -g > ${dir}/after; echo TINYO-DONE; sleep 60`;
  tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", `sh -c ${q(script)}`);
}

Deno.test(
  "run -it: an interactive shell with job control, resize, exit status; the terminal is restored",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "tinyo-tty-" });
    try {
      startInTmux("run", ["run", "-it", "-q", "--hostname", "ttybox", IMG, "sh"], dir);
      await promptReady("run");
      tmux(
        "send-keys",
        "-t",
        "run",
        "hostname; tty; stty size; echo $TERM; ls /dev/pts | tr '\\n' ' '; [ /dev/console -ef /dev/pts/0 ] && echo console-ok",
        "Enter",
      );
      // The terminal is the first pty of the container's own devpts, also /dev/console.
      await screenHas("run", /ttybox\n\/dev\/pts\/0\n30 100\nxterm\n0 ptmx console-ok\n/);
      // Ctrl-C interrupts the container's foreground job, not tinyo.
      tmux("send-keys", "-t", "run", "sleep 30", "Enter");
      await new Promise((r) => setTimeout(r, 300));
      tmux("send-keys", "-t", "run", "C-c");
      tmux("send-keys", "-t", "run", "echo after=$?", "Enter");
      await screenHas("run", "after=130");
      // Ctrl-Z stops it, fg resumes it.
      tmux("send-keys", "-t", "run", "sleep 30", "Enter");
      await new Promise((r) => setTimeout(r, 300));
      tmux("send-keys", "-t", "run", "C-z");
      await screenHas("run", /Stopped\s+sleep 30/);
      tmux("send-keys", "-t", "run", "fg", "Enter");
      await new Promise((r) => setTimeout(r, 300));
      tmux("send-keys", "-t", "run", "C-c");
      tmux("send-keys", "-t", "run", "echo fg-done", "Enter");
      await screenHas("run", /\nfg-done\n/);
      // A resize reaches the container (SIGWINCH → TIOCSWINSZ).
      tmux("resize-window", "-t", "run", "-x", "90", "-y", "25");
      await new Promise((r) => setTimeout(r, 300));
      tmux("send-keys", "-t", "run", "stty size", "Enter");
      await screenHas("run", /\n25 90\n/);
      // Ctrl-D ends the shell; its status is tinyo's.
      tmux("send-keys", "-t", "run", "sh -c 'exit 3'; echo", "Enter");
      tmux("send-keys", "-t", "run", "(exit 4)", "Enter");
      tmux("send-keys", "-t", "run", "C-d");
      await screenHas("run", "TINYO-DONE");
      assert.equal(Deno.readTextFileSync(`${dir}/code`).trim(), "4");
      assert.equal(
        Deno.readTextFileSync(`${dir}/after`),
        Deno.readTextFileSync(`${dir}/before`),
        "terminal settings restored",
      );
    } finally {
      tmux("kill-session", "-t", "run");
      Deno.removeSync(dir, { recursive: true });
    }
    assert.deepEqual(leftovers(ROOT), []);
  },
);

Deno.test("exec -it: a shell in a running container, with its terminal", opts, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-tty-" });
  const bg = spawnTinyo(ROOT, [
    "run",
    "-q",
    "--name",
    "host",
    "--hostname",
    "exechost",
    IMG,
    "sh",
    "-c",
    "echo ready; exec sleep 60",
  ]);
  const out = new Output(bg.stdout);
  const err = new Output(bg.stderr);
  try {
    await out.waitFor("ready");
    startInTmux("exec", ["exec", "-it", "host", "sh"], dir);
    await promptReady("exec");
    tmux("send-keys", "-t", "exec", "hostname; tty; ps -o pid,comm | grep -c sleep", "Enter");
    // The exec terminal is a pty of the container's own devpts, which tty(1) names; job control works.
    await screenHas("exec", /exechost\n\/dev\/pts\/0\n1\n/);
    tmux("send-keys", "-t", "exec", "sleep 30", "Enter");
    await new Promise((r) => setTimeout(r, 300));
    tmux("send-keys", "-t", "exec", "C-c");
    tmux("send-keys", "-t", "exec", "exit 5", "Enter");
    await screenHas("exec", "TINYO-DONE");
    assert.equal(Deno.readTextFileSync(`${dir}/code`).trim(), "5");
    assert.equal(Deno.readTextFileSync(`${dir}/after`), Deno.readTextFileSync(`${dir}/before`));
  } finally {
    tmux("kill-session", "-t", "exec");
    Deno.removeSync(dir, { recursive: true });
    const rec = [...Deno.readDirSync(`${ROOT}/state`)].filter((e) => e.name.endsWith(".json"))
      .map((e) => JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${e.name}`))).find((r) =>
        r.name === "host"
      );
    if (rec?.pid) Deno.kill(rec.pid, "SIGKILL");
    await bg.status;
    await out.done;
    await err.done;
  }
});

Deno.test(
  "run -it: when the user's terminal goes away, the container ends and nothing is left",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "tinyo-tty-" });
    try {
      startInTmux("hup", ["run", "-it", "-q", IMG, "sh"], dir);
      await promptReady("hup");
      tmux("kill-session", "-t", "hup");
      const deadline = Date.now() + 10_000;
      while (leftovers(ROOT).length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(leftovers(ROOT), []);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test("-t without a terminal on stdin is refused with a clear message", opts, async () => {
  const r = await tinyo(ROOT, ["run", "-t", IMG, "true"]);
  assert.equal(r.code, 125);
  assert.equal(r.stderr, "tinyo run: -t needs a terminal on stdin (run it from a terminal, or drop -t)\n");
  const e = await tinyo(ROOT, ["exec", "-t", "whatever", "true"]);
  assert.equal(e.code, 125);
  assert.match(e.stderr, /-t needs a terminal on stdin/);
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test(
  "run -it --explain: the steps stay readable on the terminal, and the shell works as without",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "tinyo-tty-" });
    try {
      startInTmux("explain", ["run", "-it", "-q", "--explain", IMG, "sh"], dir);
      await promptReady("explain");
      // Each step starts its own line at column 0 ("\r\n" on a terminal in
      // raw mode), up to the exec.
      const screen = await screenHas("explain", /\n\[init\] execveat\(\d+, "", \["sh"\]/);
      assert.match(screen, /\n\[init\] setuid\(0\) = 0 /);
      assert.doesNotMatch(screen, /\n +\[(init|runtime)\] /, "a step line starts mid-line");
      tmux("send-keys", "-t", "explain", "echo typed-$((6*7))", "Enter");
      await screenHas("explain", /\ntyped-42\n/);
      tmux("send-keys", "-t", "explain", "exit 5", "Enter");
      await screenHas("explain", "TINYO-DONE");
      assert.equal(Deno.readTextFileSync(`${dir}/code`).trim(), "5");
      assert.equal(Deno.readTextFileSync(`${dir}/after`), Deno.readTextFileSync(`${dir}/before`));
    } finally {
      tmux("kill-session", "-t", "explain");
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

/** Sends an echo until it comes back whole (the shell may swallow the first keys, see promptReady). */
async function echoBack(session: string, word: string): Promise<void> {
  for (let i = 1;; i++) {
    tmux("send-keys", "-t", session, `echo ${word}-${i}`, "Enter");
    try {
      await screenHas(session, new RegExp(`\n${word}-${i}\r?\n`), 2_000);
      return;
    } catch (err) {
      if (i >= 5) throw err;
    }
  }
}

Deno.test(
  "run -dit, then attach: type into it, Ctrl-P Ctrl-Q detaches and leaves it running, attach again, exit status",
  opts,
  async () => {
    const dirs = [
      Deno.makeTempDirSync({ prefix: "tinyo-tty-" }),
      Deno.makeTempDirSync({ prefix: "tinyo-tty-" }),
    ];
    const started = await tinyo(ROOT, ["run", "-dit", "-q", "--name", "att", IMG, "sh"]);
    assert.equal(started.code, 0, started.stderr);
    try {
      startInTmux("att1", ["attach", "att"], dirs[0]!);
      await echoBack("att1", "attached");
      tmux("send-keys", "-t", "att1", "export KEEP=kept-77; tty; echo sum-$((6*7))", "Enter");
      await screenHas("att1", /\n\/dev\/pts\/0\r?\nsum-42\r?\n/);
      tmux("send-keys", "-t", "att1", "C-p", "C-q");
      await screenHas("att1", "TINYO-DONE");
      assert.equal(Deno.readTextFileSync(`${dirs[0]}/code`).trim(), "0");
      assert.equal(Deno.readTextFileSync(`${dirs[0]}/after`), Deno.readTextFileSync(`${dirs[0]}/before`));
      const ps = JSON.parse((await tinyo(ROOT, ["ps", "--format", "json"])).stdout);
      assert.equal(
        ps.find((c: { name: string }) => c.name === "att")?.status,
        "running",
        "detaching stopped it",
      );
      // Again: the same shell (its variable is still set), then its exit status.
      startInTmux("att2", ["attach", "att"], dirs[1]!);
      await echoBack("att2", "again");
      tmux("send-keys", "-t", "att2", "echo $KEEP", "Enter");
      await screenHas("att2", /\nkept-77\r?\n/);
      tmux("send-keys", "-t", "att2", "exit 3", "Enter");
      await screenHas("att2", "TINYO-DONE");
      assert.equal(Deno.readTextFileSync(`${dirs[1]}/code`).trim(), "3");
      assert.equal(Deno.readTextFileSync(`${dirs[1]}/after`), Deno.readTextFileSync(`${dirs[1]}/before`));
    } finally {
      tmux("kill-session", "-t", "att1");
      tmux("kill-session", "-t", "att2");
      await tinyo(ROOT, ["rm", "-f", "att"]);
      for (const d of dirs) Deno.removeSync(d, { recursive: true });
    }
    const gone = await tinyo(ROOT, ["attach", "att"]);
    assert.equal(gone.code, 125);
    assert.deepEqual(leftovers(ROOT), []);
  },
);

Deno.test("tty: suite root is removed", opts, () => {
  tmux("kill-server");
  Deno.removeSync(ROOT, { recursive: true });
});

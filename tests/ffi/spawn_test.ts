import assert from "node:assert/strict";
import {
  type ChildExit,
  close,
  dup,
  fstat,
  ioprioGet,
  isCloexec,
  isErrno,
  memfdCreate,
  personality,
  pidfdOpen,
  pidfdSendSignal,
  posixSpawn,
  read,
  seekTo,
  SIGNALS,
  SyscallError,
  umask,
  waitPid,
  waitPidfd,
  writeAll,
} from "../../ffi/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The whole content of a memfd (or any seekable file). */
function contents(fd: number): string {
  const buf = new Uint8Array(fstat(fd).size);
  seekTo(fd, 0);
  let off = 0;
  while (off < buf.length) {
    const n = read(fd, buf.subarray(off));
    if (n === 0) break;
    off += n;
  }
  return dec.decode(buf.subarray(0, off));
}

/** Runs `/bin/sh -c script` with memfds as stdio; returns its exit and output. */
function sh(
  script: string,
  options: { stdin?: string; env?: string[]; argv0?: string } = {},
): { exit: ChildExit; stdout: string; stderr: string } {
  const fds = [memfdCreate("in"), memfdCreate("out"), memfdCreate("err")] as const;
  try {
    writeAll(fds[0], enc.encode(options.stdin ?? ""));
    seekTo(fds[0], 0);
    const pid = posixSpawn("/bin/sh", [options.argv0 ?? "sh", "-c", script], {
      env: options.env ?? [],
      fds: [fds[0], fds[1], fds[2]],
    });
    const pidfd = pidfdOpen(pid);
    try {
      const exit = waitPidfd(pidfd);
      return { exit, stdout: contents(fds[1]), stderr: contents(fds[2]) };
    } finally {
      close(pidfd);
    }
  } finally {
    for (const fd of fds) close(fd);
  }
}

Deno.test("posixSpawn() gives the child memfds as stdio and waitPidfd() reports its exit code", () => {
  const got = sh('read line; echo "got $line"; echo oops >&2; exit 3', { stdin: "hello\n" });
  assert.deepEqual(got.exit, { exited: true, code: 3 });
  assert.equal(got.stdout, "got hello\n");
  assert.equal(got.stderr, "oops\n");
});

Deno.test("posixSpawn() passes the environment exactly and argv[0] as given", () => {
  const got = sh('echo "$0"; env', { env: ["A=1", "B=two words"], argv0: "my-hook" });
  const lines = got.stdout.trim().split("\n");
  assert.equal(lines[0], "my-hook");
  // dash adds PWD (and OLDPWD) itself; nothing of the caller's environment shows.
  const env = lines.slice(1).filter((l) => !/^(PWD|OLDPWD)=/.test(l)).sort();
  assert.deepEqual(env, ["A=1", "B=two words"]);
});

Deno.test("posixSpawn() leaves only 0, 1 and 2 open in the child, even inherited ones", () => {
  const leaky = dup(1); // not close-on-exec
  assert.equal(isCloexec(leaky), false);
  try {
    // ls lists the shell's descriptors from another process, so its own do not show.
    const got = sh("ls /proc/$$/fd");
    assert.deepEqual(got.exit, { exited: true, code: 0 });
    assert.deepEqual(got.stdout.trim().split("\n").sort(), ["0", "1", "2"]);
  } finally {
    close(leaky);
  }
});

Deno.test("posixSpawn() starts the child with default signal actions and nothing blocked", () => {
  // Deno ignores SIGPIPE; the child must not inherit that (SigIgn, SigBlk in /proc/PID/status).
  const got = sh("grep -E '^Sig(Ign|Blk):' /proc/$$/status");
  assert.match(got.stdout, /SigIgn:\s+0{16}\n/);
  assert.match(got.stdout, /SigBlk:\s+0{16}\n/);
});

Deno.test("waitPidfd() reports a death by signal", () => {
  const got = sh("kill -TERM $$; sleep 5");
  assert.deepEqual(got.exit, { exited: false, signal: SIGNALS.SIGTERM, coreDumped: false });
});

Deno.test("pidfdSendSignal() on a spawned child, then waitPid() reaps it", () => {
  const pid = posixSpawn("/bin/sleep", ["sleep", "30"], { fds: [0, 1, 2] });
  const pidfd = pidfdOpen(pid);
  try {
    pidfdSendSignal(pidfd, SIGNALS.SIGKILL);
  } finally {
    close(pidfd);
  }
  assert.deepEqual(waitPid(pid), { exited: false, signal: SIGNALS.SIGKILL, coreDumped: false });
  assert.throws(() => waitPid(pid), (e) => isErrno(e, "ECHILD"));
});

Deno.test("posixSpawn() throws a SyscallError with the exec's errno", () => {
  assert.throws(
    () => posixSpawn("/nonexistent/hook", ["hook"]),
    (e) => e instanceof SyscallError && e.syscall === "posix_spawn" && e.code === "ENOENT",
  );
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-spawn-" });
  try {
    Deno.writeTextFileSync(`${dir}/data`, "not a program\n", { mode: 0o644 });
    Deno.chmodSync(`${dir}/data`, 0o644);
    assert.throws(() => posixSpawn(`${dir}/data`, ["x"]), (e) => isErrno(e, "EACCES"));
    Deno.chmodSync(`${dir}/data`, 0o755);
    assert.throws(() => posixSpawn(`${dir}/data`, ["x"]), (e) => isErrno(e, "ENOEXEC"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  assert.throws(() => posixSpawn("/bin/true", []), /argv is empty/);
  assert.throws(() => posixSpawn("/bin/true", ["true"], { fds: [1, 0, 2] }), /replaced before it is copied/);
});

Deno.test("memfdCreate() returns a close-on-exec descriptor", () => {
  const fd = memfdCreate("tinyo-test");
  try {
    assert.equal(isCloexec(fd), true);
    writeAll(fd, enc.encode("abc"));
    assert.equal(contents(fd), "abc");
  } finally {
    close(fd);
  }
});

Deno.test("personality(), umask() and ioprioGet() query the calling thread", () => {
  assert.equal(personality(0xffffffff) & 0xff, 0, "PER_LINUX");
  const old = umask(0o022);
  assert.equal(umask(old), 0o022);
  assert.throws(() => umask(0o1777), /from 0 to 0o777/);
  const prio = ioprioGet();
  assert.ok(prio.ioClass >= 0 && prio.ioClass <= 3);
});

Deno.test("posixSpawn() gives the child fds[3] as descriptor 3 and nothing more", () => {
  const extra = memfdCreate("extra");
  const out = memfdCreate("out");
  try {
    writeAll(extra, enc.encode("from fd 3"));
    seekTo(extra, 0);
    const pid = posixSpawn("/bin/sh", ["sh", "-c", "cat <&3; echo; ls /proc/$$/fd"], {
      fds: [0, out, 2, extra],
    });
    assert.deepEqual(waitPid(pid), { exited: true, code: 0 });
    assert.deepEqual(contents(out).trim().split("\n"), ["from fd 3", "0", "1", "2", "3"]);
  } finally {
    close(extra);
    close(out);
  }
});

Deno.test({
  name: "posixSpawn() creates the child from the calling thread, in that thread's namespaces",
  ignore: Deno.uid() !== 0,
  fn(): void {
    // In a throwaway Deno: unshare(CLONE_NEWUTS) on the main thread moves that
    // thread alone; a child spawned from it must see the new hostname.
    const mod = new URL("../../ffi/mod.ts", import.meta.url).href;
    const script = `
      import { CLONE, posixSpawn, sethostname, unshare, waitPid } from "${mod}";
      unshare(CLONE.NEWUTS);
      sethostname("tinyo-spawn-thread");
      const exit = waitPid(posixSpawn("/bin/hostname", ["hostname"]));
      if (!exit.exited || exit.code !== 0) Deno.exit(3);
    `;
    const got = new Deno.Command(Deno.execPath(), { args: ["eval", script], stderr: "inherit" }).outputSync();
    assert.equal(got.code, 0);
    assert.equal(dec.decode(got.stdout).trim(), "tinyo-spawn-thread");
  },
});

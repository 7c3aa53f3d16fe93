import assert from "node:assert/strict";
import { HOOK_OUTPUT_LIMIT, HookError, runHook, runHooks, runHooksWarn } from "../../runtime/hooks.ts";
import type { Hook, HookState } from "../../runtime/model/hooks.ts";
import { close, O, open } from "../../ffi/mod.ts";

const state: HookState = { ociVersion: "1.2.0", id: "c1", status: "creating", pid: 42, bundle: "/b" };

/** A /bin/sh hook running `script`, with `env` as its whole environment. */
function sh(script: string, extra: { env?: string[]; timeout?: number; argv0?: string } = {}): Hook {
  return {
    path: "/bin/sh",
    args: [extra.argv0 ?? "sh", "-c", script],
    ...(extra.env === undefined ? {} : { env: extra.env }),
    ...(extra.timeout === undefined ? {} : { timeout: extra.timeout }),
  };
}

function withDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-hooks-" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** dash sets PWD (and OLDPWD) itself when its environment has none. */
function envLines(text: string): string[] {
  return text.trim().split("\n").filter((l) => l !== "" && !/^(PWD|OLDPWD)=/.test(l)).sort();
}

Deno.test("runHook() gives the hook the state as JSON on stdin, whatever its size", () => {
  withDir((dir) => {
    const big: HookState = { ...state, annotations: { blob: "x".repeat(1 << 20) } };
    runHook(sh('cat > "$OUT"', { env: [`OUT=${dir}/state`] }), big);
    assert.deepEqual(JSON.parse(Deno.readTextFileSync(`${dir}/state`)), big);
  });
});

Deno.test("runHook() returns the end of stdout and stderr, at most the limit", () => {
  const out = runHook(sh("echo out; echo err >&2"), state);
  assert.deepEqual(out, { stdout: "out\n", stderr: "err\n" });
  const long = runHook(sh("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done"), state);
  assert.equal(long.stdout.length, HOOK_OUTPUT_LIMIT);
  assert.ok(long.stdout.endsWith("line1999\n"));
  assert.equal(runHook(sh("echo 123456789"), state, { outputLimit: 4 }).stdout, "789\n");
});

Deno.test("runHook() throws a HookError naming kind, path, exit status and stderr", () => {
  assert.throws(
    () => runHook(sh("echo first >&2; echo 'bad thing' >&2; exit 3"), state, { kind: "createRuntime" }),
    (e) => {
      assert.ok(e instanceof HookError);
      assert.equal(e.message, 'Cannot run the createRuntime hook "/bin/sh": exit status 3: bad thing');
      assert.equal(e.kind, "createRuntime");
      assert.equal(e.path, "/bin/sh");
      assert.deepEqual(e.failure, { reason: "exit", exit: { exited: true, code: 3 } });
      assert.equal(e.exitCode, 125);
      return true;
    },
  );
  assert.throws(
    () => runHook(sh("exit 1"), state),
    /^HookError: Cannot run the hook "\/bin\/sh": exit status 1$/m,
  );
});

Deno.test("runHook() reports a hook killed by a signal", () => {
  assert.throws(
    () => runHook(sh("kill -TERM $$"), state, { kind: "poststop" }),
    /Cannot run the poststop hook "\/bin\/sh": killed by signal SIGTERM$/,
  );
});

Deno.test("runHook() kills and reaps a hook that outlives its timeout", () => {
  withDir((dir) => {
    const started = Date.now();
    assert.throws(
      () =>
        runHook(sh(`echo $$ > ${dir}/pid; exec sleep 30`, { timeout: 1 }), state, { kind: "createRuntime" }),
      (e) => {
        assert.ok(e instanceof HookError);
        assert.equal(e.message, 'Cannot run the createRuntime hook "/bin/sh": timed out after 1 s');
        assert.deepEqual(e.failure, { reason: "timeout", seconds: 1 });
        return true;
      },
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 5000, `took ${elapsed} ms`);
    const pid = Deno.readTextFileSync(`${dir}/pid`).trim();
    assert.throws(() => Deno.statSync(`/proc/${pid}`), Deno.errors.NotFound, "killed and reaped");
  });
});

Deno.test("runHook() passes args[0] as the hook's argv[0]", () => {
  assert.equal(runHook(sh('echo "$0"', { argv0: "my-hook" }), state).stdout, "my-hook\n");
  // Without args, argv is [path].
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/hook`, '#!/bin/sh\necho "$0 $#"\n', { mode: 0o755 });
    assert.equal(runHook({ path: `${dir}/hook` }, state).stdout, `${dir}/hook 0\n`);
  });
});

Deno.test("runHook() leaks no descriptor into the hook", () => {
  const leaky = open("/dev/null", O.RDONLY); // not close-on-exec
  try {
    // ls lists the shell's descriptors from its own process.
    assert.deepEqual(runHook(sh("ls /proc/$$/fd"), state).stdout.trim().split("\n").sort(), ["0", "1", "2"]);
  } finally {
    close(leaky);
  }
});

Deno.test("runHook() gives the hook exactly its env, and none when absent", () => {
  const hook = sh("/usr/bin/env", { env: ["A=1", "B=with space", "PATH=/nowhere"] });
  assert.deepEqual(envLines(runHook(hook, state).stdout), ["A=1", "B=with space", "PATH=/nowhere"]);
  assert.deepEqual(envLines(runHook(sh("env"), state).stdout), []);
});

Deno.test("runHook() reports a program that cannot be started", () => {
  assert.throws(
    () => runHook({ path: "/nonexistent/hook" }, state, { kind: "prestart" }),
    (e) =>
      e instanceof HookError && e.failure.reason === "spawn" &&
      e.message === 'Cannot run the prestart hook "/nonexistent/hook": no such file',
  );
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/data`, "not a program\n");
    Deno.chmodSync(`${dir}/data`, 0o644);
    assert.throws(() => runHook({ path: `${dir}/data` }, state), /: permission denied$/);
  });
});

Deno.test("runHook() runs the program behind binaryFd", () => {
  const fd = open("/bin/sh", O.PATH | O.CLOEXEC);
  try {
    const hook = { path: "/not/resolved/here", args: ["named", "-c", 'echo "$0"; read s; echo "$s"'] };
    const out = runHook(hook, state, { binaryFd: fd });
    assert.equal(out.stdout, `named\n${JSON.stringify(state)}\n`);
  } finally {
    close(fd);
  }
});

Deno.test("runHooks() runs in order and stops at the first failure", () => {
  withDir((dir) => {
    const log = `${dir}/log`;
    const hooks = [sh(`echo 1 >> ${log}`), sh(`echo 2 >> ${log}; exit 4`), sh(`echo 3 >> ${log}`)];
    assert.throws(
      () => runHooks("createContainer", hooks, state),
      /createContainer hook "\/bin\/sh": exit status 4/,
    );
    assert.equal(Deno.readTextFileSync(log), "1\n2\n");
    runHooks("createContainer", [], state);
  });
});

Deno.test("runHooksWarn() runs every hook and returns the failures", () => {
  withDir((dir) => {
    const log = `${dir}/log`;
    const hooks = [sh(`echo 1 >> ${log}; exit 5`), sh(`echo 2 >> ${log}`), { path: `${dir}/missing` }];
    const failures = runHooksWarn("poststop", hooks, state);
    assert.equal(Deno.readTextFileSync(log), "1\n2\n");
    assert.deepEqual(failures.map((f) => f.message), [
      'Cannot run the poststop hook "/bin/sh": exit status 5',
      `Cannot run the poststop hook "${dir}/missing": no such file`,
    ]);
  });
});

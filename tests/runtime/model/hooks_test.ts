import assert from "node:assert/strict";
import { OCI_VERSION, validateSpec } from "../../../runtime/model/spec.ts";
import {
  HOOK_KINDS,
  HOOK_RULES,
  hookArgv,
  hookEnv,
  hookFailureMessage,
  hooksOf,
  hookState,
  hookTimeoutMs,
  lastLine,
} from "../../../runtime/model/hooks.ts";
import { ConfigError } from "../../../runtime/errors.ts";

function withHooks(hooks: unknown): Record<string, unknown> {
  return { ociVersion: "1.2.0", root: { path: "rootfs" }, hooks };
}

Deno.test("validateSpec() accepts every hook kind with all fields, and ignores unknown kinds", () => {
  const hooks = Object.fromEntries(
    HOOK_KINDS.map((k) => [k, [{ path: "/usr/bin/x", args: ["x", "-v"], env: ["A=1", "B="], timeout: 5 }]]),
  );
  const spec = validateSpec(withHooks({ ...hooks, somethingNew: [{ path: "relative" }] }));
  assert.equal(spec.hooks?.createRuntime?.[0]?.timeout, 5);
  assert.deepEqual(validateSpec(withHooks({})).hooks, {});
  assert.equal(validateSpec(withHooks({ poststop: [] })).hooks?.poststop?.length, 0);
});

Deno.test("validateSpec() names the invalid hook field", () => {
  const cases: [unknown, RegExp][] = [
    [[], /hooks: must be an object/],
    [{ prestart: {} }, /hooks\.prestart: must be an array/],
    [{ poststart: ["/bin/x"] }, /hooks\.poststart\[0\]: must be an object/],
    [{ createRuntime: [{}] }, /hooks\.createRuntime\[0\]\.path: must be an absolute path, got undefined/],
    [
      { createRuntime: [{ path: "/ok" }, { path: "bin/x" }] },
      /hooks\.createRuntime\[1\]\.path: must be an absolute path, got "bin\/x"/,
    ],
    [
      { createContainer: [{ path: "/x", args: "x" }] },
      /hooks\.createContainer\[0\]\.args: must be an array of strings/,
    ],
    [
      { startContainer: [{ path: "/x", args: ["x", 1] }] },
      /hooks\.startContainer\[0\]\.args: must be an array/,
    ],
    [{ poststop: [{ path: "/x", env: "A=1" }] }, /hooks\.poststop\[0\]\.env: must be an array of strings/],
    [
      { poststop: [{ path: "/x", env: ["NOEQUALS"] }] },
      /hooks\.poststop\[0\]\.env: entry "NOEQUALS" is not KEY=VALUE/,
    ],
    [{ poststop: [{ path: "/x", env: ["=1"] }] }, /entry "=1" is not KEY=VALUE/],
    [
      { prestart: [{ path: "/x", timeout: 0 }] },
      /hooks\.prestart\[0\]\.timeout: must be a positive integer number of seconds, got 0/,
    ],
    [
      { prestart: [{ path: "/x", timeout: -3 }] },
      /timeout: must be a positive integer number of seconds, got -3/,
    ],
    [{ prestart: [{ path: "/x", timeout: 1.5 }] }, /got 1\.5/],
    [{ prestart: [{ path: "/x", timeout: "5" }] }, /got "5"/],
  ];
  for (const [hooks, pattern] of cases) {
    assert.throws(() => validateSpec(withHooks(hooks)), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, pattern);
      assert.match(err.message, /^Invalid container configuration: /);
      assert.ok(!err.message.includes("\n") && !err.message.endsWith("."), err.message);
      return true;
    }, JSON.stringify(hooks));
  }
});

Deno.test("HOOK_RULES gives each kind its namespace, its operation and whether a failure is fatal", () => {
  assert.deepEqual(Object.keys(HOOK_RULES), [...HOOK_KINDS]);
  const table = HOOK_KINDS.map((k) => {
    const r = HOOK_RULES[k];
    return [k, r.operation, r.runsIn, r.pathResolvesIn, r.fatal, r.status].join(" ");
  });
  assert.deepEqual(table, [
    "prestart create runtime runtime true creating",
    "createRuntime create runtime runtime true creating",
    "createContainer create container runtime true creating",
    "startContainer start container container true created",
    "poststart start runtime runtime false running",
    "poststop delete runtime runtime false stopped",
  ]);
});

Deno.test("hookState() builds the runtime-spec state in the spec's field order", () => {
  const state = hookState({
    id: "web",
    bundle: "/srv/bundle",
    status: "created",
    pid: 4422,
    annotations: { "com.example.key": "v" },
  });
  assert.equal(
    JSON.stringify(state),
    `{"ociVersion":"${OCI_VERSION}","id":"web","status":"created","pid":4422,"bundle":"/srv/bundle",` +
      `"annotations":{"com.example.key":"v"}}`,
  );
  const stopped = hookState({ id: "web", bundle: "/b", status: "stopped", annotations: undefined });
  assert.deepEqual(Object.keys(stopped), ["ociVersion", "id", "status", "bundle"]);
});

Deno.test("hookState() refuses a relative bundle and a created or running container without pid", () => {
  assert.throws(() => hookState({ id: "c", bundle: "b", status: "creating" }), /bundle "b" is not absolute/);
  assert.throws(
    () => hookState({ id: "c", bundle: "/b", status: "running" }),
    /a running container needs a pid/,
  );
  assert.throws(() => hookState({ id: "c", bundle: "/b", status: "created" }), TypeError);
  assert.equal(hookState({ id: "c", bundle: "/b", status: "creating" }).pid, undefined);
});

Deno.test("hooksOf() returns a kind's hooks, or none", () => {
  const hook = { path: "/x" };
  assert.deepEqual(hooksOf({ hooks: { poststop: [hook] } }, "poststop"), [hook]);
  assert.deepEqual(hooksOf({ hooks: { poststop: [hook] } }, "prestart"), []);
  assert.deepEqual(hooksOf({}, "prestart"), []);
});

Deno.test("hookArgv() takes argv[0] from args, and defaults argv to [path]", () => {
  assert.deepEqual(hookArgv({ path: "/usr/bin/fix-mounts", args: ["fix-mounts", "a1", "a2"] }), {
    argv0: "fix-mounts",
    args: ["a1", "a2"],
  });
  assert.deepEqual(hookArgv({ path: "/usr/bin/x" }), { argv0: "/usr/bin/x", args: [] });
  assert.deepEqual(hookArgv({ path: "/usr/bin/x", args: [] }), { argv0: "/usr/bin/x", args: [] });
});

Deno.test("hookEnv() splits at the first '=', keeps the first of duplicates, and is empty without env", () => {
  assert.deepEqual(hookEnv({ path: "/x", env: ["A=1", "B=x=y", "C=", "A=2"] }), { A: "1", B: "x=y", C: "" });
  assert.deepEqual(hookEnv({ path: "/x" }), {});
});

Deno.test("hookTimeoutMs() converts seconds and caps what a timer can wait", () => {
  assert.equal(hookTimeoutMs({ path: "/x", timeout: 5 }), 5000);
  assert.equal(hookTimeoutMs({ path: "/x" }), undefined);
  assert.equal(hookTimeoutMs({ path: "/x", timeout: 10 ** 9 }), 2 ** 31 - 1);
});

Deno.test("hookFailureMessage() is one line with the last line of stderr", () => {
  const hook = { path: "/usr/bin/x" };
  assert.equal(
    hookFailureMessage("createRuntime", hook, "exit status 3", "starting\nno network here\n\n"),
    'Cannot run the createRuntime hook "/usr/bin/x": exit status 3: no network here',
  );
  assert.equal(
    hookFailureMessage("poststop", hook, "timed out after 5 s"),
    'Cannot run the poststop hook "/usr/bin/x": timed out after 5 s',
  );
  assert.equal(lastLine("x".repeat(300)).length, 200);
  assert.equal(lastLine(""), "");
});

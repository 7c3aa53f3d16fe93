import assert from "node:assert/strict";
import { loadSpec, validateSpec } from "../../../runtime/model/spec.ts";
import { ConfigError } from "../../../runtime/errors.ts";

const good = () => ({
  ociVersion: "1.2.0",
  root: { path: "rootfs" },
  process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", env: ["A=1"] },
  hostname: "h",
  linux: { namespaces: [{ type: "pid" }, { type: "uts" }, { type: "mount" }] },
  mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
});

Deno.test("validateSpec() accepts a well-formed config and ignores unknown fields", () => {
  const spec = validateSpec({ ...good(), somethingNew: { x: 1 } });
  assert.equal(spec.process?.args[0], "sh");
});

Deno.test("validateSpec() names the invalid field", () => {
  const cases: [string, (s: ReturnType<typeof good>) => void, RegExp][] = [
    ["relative cwd", (s) => s.process.cwd = "tmp", /process\.cwd: must be an absolute path, got "tmp"/],
    ["empty args", (s) => s.process.args = [], /process\.args: must name a command/],
    ["bad env", (s) => s.process.env = ["NOEQUALS"], /process\.env: entry "NOEQUALS" is not KEY=VALUE/],
    ["negative uid", (s) => s.process.user.uid = -1, /process\.user\.uid: must be a non-negative integer/],
    [
      "unknown ns",
      (s) => s.linux.namespaces.push({ type: "bogus" }),
      /linux\.namespaces\[3\]\.type: unknown namespace type "bogus"/,
    ],
    ["duplicate ns", (s) => s.linux.namespaces.push({ type: "pid" }), /duplicate namespace "pid"/],
    [
      "hostname without uts",
      (s) => s.linux.namespaces = [{ type: "pid" }],
      /hostname: setting a hostname needs a new UTS namespace/,
    ],
    [
      "relative mount",
      (s) => s.mounts[0]!.destination = "proc",
      /mounts\[0\]\.destination: must be an absolute path/,
    ],
    [
      "no root",
      (s) => (s as { root?: unknown }).root = undefined,
      /root\.path: must name the root filesystem/,
    ],
    ["bad hostname", (s) => s.hostname = "a b", /hostname: "a b" is not a valid host name/],
  ];
  for (const [name, mutate, pattern] of cases) {
    const s = good();
    mutate(s);
    assert.throws(
      () => validateSpec(s),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      name,
    );
  }
});

Deno.test("loadSpec() reports unreadable and unparsable files with their path", () => {
  assert.throws(
    () => loadSpec("/nonexistent/config.json"),
    /Cannot read container configuration "\/nonexistent\/config.json"/,
  );
  const f = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(f, "{ not json");
    assert.throws(() => loadSpec(f), /Cannot parse container configuration/);
  } finally {
    Deno.removeSync(f);
  }
});

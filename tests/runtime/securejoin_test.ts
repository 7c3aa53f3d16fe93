import assert from "node:assert/strict";
import { ensureMountTarget, secureJoin } from "../../runtime/securejoin.ts";
import { ConfigError } from "../../runtime/errors.ts";

Deno.test("secureJoin() keeps .. and symlinks inside the root", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/a/b`, { recursive: true });
    Deno.symlinkSync("/etc", `${root}/abs`);
    Deno.symlinkSync("../../../..", `${root}/a/b/up`);
    Deno.symlinkSync("b", `${root}/a/rel`);
    assert.equal(secureJoin(root, "/../../etc/passwd"), `${root}/etc/passwd`);
    assert.equal(secureJoin(root, "/abs/passwd"), `${root}/etc/passwd`);
    assert.equal(secureJoin(root, "a/b/up/x"), `${root}/x`);
    assert.equal(secureJoin(root, "/a/rel/c"), `${root}/a/b/c`);
    assert.equal(secureJoin(root, "/"), root);
    assert.equal(secureJoin(root, "/missing/deeper"), `${root}/missing/deeper`);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("secureJoin() refuses symlink loops", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.symlinkSync("loop2", `${root}/loop1`);
    Deno.symlinkSync("loop1", `${root}/loop2`);
    assert.throws(() => secureJoin(root, "/loop1/x"), ConfigError);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("ensureMountTarget() creates directories and files where needed", () => {
  const root = Deno.makeTempDirSync();
  try {
    assert.equal(ensureMountTarget(root, "/x/y", false), `${root}/x/y`);
    assert.ok(Deno.statSync(`${root}/x/y`).isDirectory);
    assert.equal(ensureMountTarget(root, "/etc/hosts", true), `${root}/etc/hosts`);
    assert.ok(Deno.statSync(`${root}/etc/hosts`).isFile);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

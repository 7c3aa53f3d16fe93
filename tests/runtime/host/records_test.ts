import assert from "node:assert/strict";
import {
  collectGarbage,
  newRecord,
  readRecord,
  reapContainer,
  resolveLayout,
  writeRecord,
} from "../../../runtime/host/records.ts";
import { isAlive, processStartTime } from "../../../runtime/host/proc.ts";

Deno.test("resolveLayout() puts everything under --root, or uses the standard paths", () => {
  assert.deepEqual(resolveLayout("/tmp/r/"), {
    imagesDir: "/tmp/r/images",
    containersDir: "/tmp/r/containers",
    stateDir: "/tmp/r/state",
    root: "/tmp/r",
  });
  assert.equal(resolveLayout().stateDir, "/run/tinyo");
  assert.equal(resolveLayout().imagesDir, "/var/lib/tinyo/images");
});

Deno.test("writeRecord() is atomic and readRecord() reads it back", () => {
  const root = Deno.makeTempDirSync();
  try {
    const layout = resolveLayout(root);
    writeRecord(layout, newRecord("abc", `${root}/containers/abc`));
    assert.deepEqual([...Deno.readDirSync(layout.stateDir)].map((e) => e.name), ["abc.json"]);
    const rec = readRecord(layout, "abc");
    assert.equal(rec?.ownerPid, Deno.pid);
    assert.equal(rec?.ownerStartTime, processStartTime(Deno.pid));
    assert.equal(readRecord(layout, "missing"), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("collectGarbage() removes containers of dead runtimes and keeps live ones", () => {
  const root = Deno.makeTempDirSync();
  try {
    const layout = resolveLayout(root);
    // A live owner (this process) and a dead one (a pid that has exited).
    const dead = new Deno.Command("true").outputSync();
    assert.ok(dead.success);
    writeRecord(layout, newRecord("live", `${root}/containers/live`));
    writeRecord(layout, { ...newRecord("dead", `${root}/containers/dead`), ownerPid: 999999999 });
    // The same pid as ours but another start time: a reused pid is not "alive".
    writeRecord(layout, { ...newRecord("reused", `${root}/containers/reused`), ownerStartTime: 1 });
    for (const id of ["live", "dead", "reused"]) {
      Deno.mkdirSync(`${layout.containersDir}/${id}/upper`, { recursive: true });
    }
    Deno.writeTextFileSync(`${layout.stateDir}/.x.999999999.tmp`, "{");
    const removed = collectGarbage(layout).sort();
    assert.deepEqual(removed, ["dead", "reused"]);
    assert.deepEqual([...Deno.readDirSync(layout.stateDir)].map((e) => e.name), ["live.json"]);
    assert.deepEqual([...Deno.readDirSync(layout.containersDir)].map((e) => e.name), ["live"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("isAlive() checks the pid and its start time", () => {
  assert.ok(isAlive(Deno.pid, processStartTime(Deno.pid)));
  assert.ok(!isAlive(Deno.pid, 1));
  assert.ok(!isAlive(0, undefined));
  assert.ok(!isAlive(999999999, 5));
});

Deno.test("isAlive() proves nothing without a start time", () => {
  assert.ok(!isAlive(Deno.pid, undefined), "a live pid without a start time may be a reused one");
});

Deno.test("reapContainer() keeps the record while a cgroup of it cannot be removed", () => {
  const root = Deno.makeTempDirSync();
  try {
    const layout = resolveLayout(root);
    // A "cgroup" directory that rmdir refuses (a file inside: ENOTEMPTY).
    const busy = `${root}/cg/tinyo/x`;
    Deno.mkdirSync(busy, { recursive: true });
    Deno.writeTextFileSync(`${busy}/stuck`, "");
    writeRecord(layout, { ...newRecord("x", `${root}/containers/x`), ownerPid: 999999999, cgroups: [busy] });
    Deno.mkdirSync(`${layout.containersDir}/x`, { recursive: true });
    assert.equal(reapContainer(layout, readRecord(layout, "x")!), false);
    assert.ok(readRecord(layout, "x") !== undefined, "the record still names the cgroup");
    assert.deepEqual(collectGarbage(layout), [], "garbage collection keeps it too, and will retry");
    Deno.removeSync(`${busy}/stuck`);
    assert.deepEqual(collectGarbage(layout), ["x"]);
    assert.equal(readRecord(layout, "x"), undefined);
    assert.throws(() => Deno.statSync(busy));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("updateRecord() serialises read-modify-write across processes", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const layout = resolveLayout(root);
    writeRecord(layout, { ...newRecord("shared", `${root}/containers/shared`), annotations: {} });
    // 8 processes each add 10 annotations to the same record; none may be lost.
    const script = `
      import { resolveLayout, updateRecord } from "${new URL(
      "../../../runtime/host/records.ts",
      import.meta.url,
    )}";
      const layout = resolveLayout(${JSON.stringify(root)});
      for (let i = 0; i < 10; i++) {
        updateRecord(layout, "shared", (r) => ({ ...r, annotations: { ...r.annotations, [Deno.args[0] + "-" + i]: "x" } }));
      }`;
    const file = `${root}/writer.ts`;
    Deno.writeTextFileSync(file, script);
    const writers = Array.from(
      { length: 8 },
      (_, w) =>
        new Deno.Command(Deno.execPath(), { args: ["run", "-A", "--no-config", file, `w${w}`] }).output(),
    );
    for (const out of await Promise.all(writers)) {
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    }
    assert.equal(Object.keys(readRecord(layout, "shared")!.annotations ?? {}).length, 80);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

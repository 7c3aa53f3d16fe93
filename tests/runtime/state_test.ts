import assert from "node:assert/strict";
import { collectGarbage, newRecord, readRecord, resolveLayout, writeRecord } from "../../runtime/state.ts";
import { isAlive, processStartTime } from "../../runtime/proc.ts";

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
  assert.ok(!isAlive(999999999, undefined));
});

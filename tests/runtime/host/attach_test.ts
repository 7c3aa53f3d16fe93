import assert from "node:assert/strict";
import { DetachScanner, parseDetachKeys } from "../../../runtime/host/attach.ts";

Deno.test("parseDetachKeys(): docker's key names", () => {
  assert.deepEqual([...parseDetachKeys("ctrl-p,ctrl-q")], [0x10, 0x11]);
  assert.deepEqual([...parseDetachKeys("ctrl-@,a")], [0x00, 0x61]);
  assert.throws(() => parseDetachKeys("ctrl-pp"), /Invalid --detach-keys/);
});

Deno.test("DetachScanner: the sequence across reads detaches; a broken one is passed on", () => {
  const s = new DetachScanner(parseDetachKeys("ctrl-p,ctrl-q"));
  assert.deepEqual(s.feed(new Uint8Array([0x61, 0x10])), { pass: new Uint8Array([0x61]), detach: false });
  assert.deepEqual(s.feed(new Uint8Array([0x11, 0x62])), { pass: new Uint8Array([]), detach: true });
  const t = new DetachScanner(parseDetachKeys("ctrl-p,ctrl-q"));
  // Ctrl-P then something else: both go to the container.
  assert.deepEqual(t.feed(new Uint8Array([0x10, 0x78])).pass, new Uint8Array([0x10, 0x78]));
  // Ctrl-P Ctrl-P Ctrl-Q: the first is passed on, the last two detach.
  assert.deepEqual(t.feed(new Uint8Array([0x10, 0x10, 0x11])), {
    pass: new Uint8Array([0x10]),
    detach: true,
  });
});

/** `tinyo unpack`: the extractor from the command line (stdin, plain tar, errors, cleanup). */

import assert from "node:assert/strict";
import { ALPINE_320, IGNORE_ROOT, listDir, makeRoot, tinyo } from "../helpers/tinyo.ts";
import { tar } from "../helpers/tar_builder.ts";

const opts = { ignore: IGNORE_ROOT };

Deno.test("unpack: extracts a tarball, from a path or from stdin, gzip or plain", opts, async () => {
  const root = makeRoot("tinyo-unpack-");
  try {
    const a = await tinyo(root, ["unpack", ALPINE_320, `${root}/a`]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stderr, /unpacked \d+ entries/);
    assert.equal(Deno.readTextFileSync(`${root}/a/etc/alpine-release`), "3.20.3\n");
    const plain = tar([{ name: "hello.txt", data: "hi\n" }, { name: "d", type: "5", mode: 0o750 }]);
    Deno.writeFileSync(`${root}/plain.tar`, plain);
    const b = await tinyo(root, ["unpack", "-", `${root}/b`], {
      stdin: new TextDecoder("latin1").decode(plain),
    });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(Deno.readTextFileSync(`${root}/b/hello.txt`), "hi\n");
    assert.equal((Deno.statSync(`${root}/b/d`).mode ?? 0) & 0o777, 0o750);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("unpack: a hostile archive is refused, named, and nothing is left", opts, async () => {
  const root = makeRoot("tinyo-unpack-");
  try {
    Deno.writeFileSync(
      `${root}/evil.tar`,
      tar([
        { name: "ok.txt", data: "fine" },
        { name: "etc", type: "2", linkname: "/etc" },
        { name: "etc/tinyo-pwned", data: "x" },
      ]),
    );
    const r = await tinyo(root, ["unpack", `${root}/evil.tar`, `${root}/out`]);
    assert.equal(r.code, 125);
    assert.match(
      r.stderr,
      /^tinyo: Cannot unpack ".*evil\.tar": entry "etc\/tinyo-pwned": parent "etc" is a symlink/,
    );
    assert.deepEqual(listDir(root), ["evil.tar"]);
    assert.throws(() => Deno.statSync("/etc/tinyo-pwned"));
    // A directory the user made is kept, emptied.
    Deno.mkdirSync(`${root}/mine`);
    const again = await tinyo(root, ["unpack", `${root}/evil.tar`, `${root}/mine`]);
    assert.equal(again.code, 125);
    assert.deepEqual(listDir(`${root}/mine`), []);
    const bomb = await tinyo(root, ["unpack", "--max-size", "1k", ALPINE_320, `${root}/bomb`]);
    assert.equal(bomb.code, 125);
    assert.match(bomb.stderr, /archive expands to more than 1024 bytes/);
    const missing = await tinyo(root, ["unpack", `${root}/nope.tar`, `${root}/x`]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /Cannot read ".*nope\.tar": no such file/);
    const usage = await tinyo(root, ["unpack", ALPINE_320]);
    assert.equal(usage.code, 125);
    assert.match(usage.stderr, /expected TARBALL and DIR/);
    assert.deepEqual(listDir(root), ["evil.tar", "mine"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test(
  "unpack: a target that is a symlink is refused, and nothing is written through it",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "tinyo-unpack-link-" });
    try {
      Deno.mkdirSync(`${dir}/elsewhere`);
      Deno.symlinkSync(`${dir}/elsewhere`, `${dir}/link`);
      const r = await tinyo(dir, ["unpack", ALPINE_320, `${dir}/link`]);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, /is not a directory/);
      assert.deepEqual([...Deno.readDirSync(`${dir}/elsewhere`)], []);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

import assert from "node:assert/strict";
import { DEFAULT_MAX_BYTES, safeComponents, untar, UntarError } from "../../rootfs/untar.ts";
import { ensureImage } from "../../rootfs/cache.ts";
import { gzip, paxData, streamOf, tar } from "../helpers/tar_builder.ts";
import { ALPINE_319, ALPINE_320, IGNORE_ROOT } from "../helpers/tinyo.ts";

async function extract(bytes: Uint8Array, options = {}): Promise<string> {
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-untar-" });
  try {
    await untar(streamOf(bytes), dir, options);
  } catch (err) {
    Deno.removeSync(dir, { recursive: true });
    throw err;
  }
  return dir;
}

async function refuses(bytes: Uint8Array, pattern: RegExp, options = {}): Promise<void> {
  await assert.rejects(() => extract(bytes, options), (e: unknown) => {
    assert.ok(e instanceof UntarError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("safeComponents() strips leading / and refuses escaping ..", () => {
  assert.deepEqual(safeComponents("/etc/passwd"), ["etc", "passwd"]);
  assert.deepEqual(safeComponents("./a//b/./c/../d"), ["a", "b", "d"]);
  assert.deepEqual(safeComponents("./"), []);
  assert.throws(() => safeComponents("../x"), /escapes the target/);
  assert.throws(() => safeComponents("a/../../x"), /escapes the target/);
});

Deno.test(
  "untar() round-trips the genuine Alpine tarballs like tar -tvzf",
  { ignore: IGNORE_ROOT },
  async (t) => {
    for (const tarball of [ALPINE_320, ALPINE_319]) {
      await t.step(tarball.split("/").pop()!, async () => {
        const dir = Deno.makeTempDirSync({ prefix: "tinyo-alpine-" });
        try {
          const file = await Deno.open(tarball);
          const result = await untar(file.readable, dir);
          const listing = new TextDecoder().decode(
            new Deno.Command("tar", { args: ["--numeric-owner", "--full-time", "-tvzf", tarball] })
              .outputSync().stdout,
          ).trim().split("\n");
          assert.equal(result.entries, listing.length);
          const typeOf = (i: Deno.FileInfo) =>
            i.isSymlink
              ? "l"
              : i.isDirectory
              ? "d"
              : i.isFile
              ? "-"
              : i.isCharDevice
              ? "c"
              : i.isBlockDevice
              ? "b"
              : "p";
          let checked = 0;
          for (const line of listing) {
            // drwxr-xr-x 0/0 0 2024-09-06 12:34:56 ./bin/  |  lrwxrwxrwx 0/0 0 date time ./bin/ash -> /bin/busybox
            const m = /^(\S)(\S{9}) (\d+)\/(\d+)\s+(\d+) (\S+ \S+) (.+?)(?: -> (.+)| link to (.+))?$/.exec(
              line,
            );
            assert.ok(m, line);
            const [, type, perms, uid, gid, size, , name, symTarget, hardTarget] = m;
            const path = `${dir}/${name!.replace(/^\.\//, "").replace(/\/$/, "")}`;
            const info = Deno.lstatSync(path);
            assert.equal(hardTarget !== undefined ? "-" : typeOf(info), type === "h" ? "-" : type, line);
            assert.equal(info.uid, Number(uid), line);
            assert.equal(info.gid, Number(gid), line);
            if (type !== "l") {
              const mode = (info.mode ?? 0) & 0o7777;
              const expected = [...perms!].reduce((acc, c, i) => {
                const bit = 1 << (8 - i);
                if (c === "r" || c === "w" || c === "x") return acc | bit;
                if (c === "s") return acc | bit | (i === 2 ? 0o4000 : 0o2000);
                if (c === "S") return acc | (i === 2 ? 0o4000 : 0o2000);
                if (c === "t") return acc | bit | 0o1000;
                if (c === "T") return acc | 0o1000;
                return acc;
              }, 0);
              assert.equal(mode.toString(8), expected.toString(8), line);
            }
            if (type === "-" && hardTarget === undefined) assert.equal(info.size, Number(size), line);
            if (symTarget !== undefined) assert.equal(Deno.readLinkSync(path), symTarget, line);
            if (hardTarget !== undefined) {
              const target = Deno.lstatSync(`${dir}/${hardTarget.replace(/^\.\//, "")}`);
              assert.equal(info.ino, target.ino, line);
            }
            checked++;
          }
          assert.ok(checked > 400, `checked ${checked}`);
          // mtimes are restored too (busybox's mtime from the archive).
          const busybox = Deno.lstatSync(`${dir}/bin/busybox`);
          const tarTime = listing.find((l) => l.endsWith("./bin/busybox"))!.split(/\s+/).slice(3, 5).join(
            " ",
          );
          assert.equal(busybox.mtime!.toISOString().slice(0, 19).replace("T", " "), tarTime);
        } finally {
          Deno.removeSync(dir, { recursive: true });
        }
      });
    }
  },
);

Deno.test("untar() strips a leading / instead of writing to the host", async () => {
  const dir = await extract(tar([{ name: "/tinyo-abs-test/evil", data: "x" }]));
  try {
    assert.equal(Deno.readTextFileSync(`${dir}/tinyo-abs-test/evil`), "x");
    assert.throws(() => Deno.statSync("/tinyo-abs-test"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("untar() refuses .. that escapes the target, naming the entry", async () => {
  await refuses(
    tar([{ name: "ok", data: "" }, { name: "../../tinyo-escape", data: "x" }]),
    /entry "..\/..\/tinyo-escape": path escapes/,
  );
});

Deno.test("untar() never follows an archive symlink: etc -> /etc then etc/passwd", async () => {
  const hostPasswd = Deno.readTextFileSync("/etc/passwd");
  await refuses(
    tar([{ name: "etc", type: "2", linkname: "/etc" }, {
      name: "etc/passwd",
      data: "root::0:0::/:/bin/sh\n",
    }]),
    /entry "etc\/passwd": parent "etc" is a symlink; refusing to follow it/,
  );
  await refuses(
    tar([{ name: "up", type: "2", linkname: "../../../.." }, { name: "up/tmp/tinyo-owned", data: "x" }]),
    /parent "up" is a symlink/,
  );
  assert.equal(Deno.readTextFileSync("/etc/passwd"), hostPasswd);
});

Deno.test("untar() replaces an existing symlink instead of writing through it", async () => {
  const outside = Deno.makeTempFileSync({ prefix: "tinyo-outside-" });
  Deno.writeTextFileSync(outside, "untouched");
  try {
    const dir = await extract(tar([{ name: "x", type: "2", linkname: outside }, { name: "x", data: "new" }]));
    try {
      assert.equal(Deno.readTextFileSync(outside), "untouched");
      assert.ok(Deno.lstatSync(`${dir}/x`).isFile);
      assert.equal(Deno.readTextFileSync(`${dir}/x`), "new");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  } finally {
    Deno.removeSync(outside);
  }
});

Deno.test("untar() only allows hardlinks to entries inside the target", async () => {
  await refuses(
    tar([{ name: "h", type: "1", linkname: "../../etc/passwd" }]),
    /entry "h": hardlink target "..\/..\/etc\/passwd" escapes the target directory/,
  );
  await refuses(
    tar([{ name: "h", type: "1", linkname: "/etc/passwd" }]),
    /hardlink target "\/etc\/passwd" does not exist in the archive/,
  );
  await refuses(
    tar([{ name: "l", type: "2", linkname: "/etc" }, { name: "h", type: "1", linkname: "l/passwd" }]),
    /parent "l" is a symlink/,
  );
  const dir = await extract(tar([{ name: "a", data: "same" }, { name: "b", type: "1", linkname: "a" }]));
  try {
    assert.equal(Deno.statSync(`${dir}/a`).ino, Deno.statSync(`${dir}/b`).ino);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("untar() guards against decompression bombs and huge entry counts", async () => {
  // 20 MiB of zeros compresses to ~20 KiB.
  const bomb = await gzip(tar([{ name: "zeros", data: new Uint8Array(20 * 1024 * 1024) }]));
  assert.ok(bomb.length < 100_000);
  await refuses(bomb, /entry "zeros": archive expands to more than 1048576 bytes \(limit\)/, {
    maxBytes: 1024 * 1024,
  });
  // A header that lies about a huge size is refused before anything is written.
  await refuses(
    tar([{ name: "huge", size: DEFAULT_MAX_BYTES + 1 }], { noEnd: true }),
    /archive expands to more than/,
  );
  const many = tar(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: "" })));
  await refuses(many, /more than 10 entries/, { maxEntries: 10 });
});

Deno.test("untar() reports corrupt and truncated archives", async () => {
  await refuses(tar([{ name: "a", data: "x", badChecksum: true }]), /header checksum mismatch/);
  const whole = tar([{ name: "a", data: "x".repeat(5000) }]);
  await refuses(whole.slice(0, 2048), /truncated archive/);
  const gz = await gzip(whole);
  await refuses(gz.slice(0, gz.length - 20), /corrupt archive|truncated/);
  await refuses(new Uint8Array(), /empty/);
  await refuses(tar([{ name: "s", type: "S", data: "" }]), /unsupported entry type "S"/);
});

Deno.test("untar() reads pax and GNU long names, modes, owners and times", async () => {
  const long = `${"d".repeat(120)}/${"f".repeat(130)}`;
  const dir = await extract(tar([
    { name: "PaxHeader", type: "x", data: paxData({ path: long, mtime: "1600000000.5", uid: "4242" }) },
    { name: "short-name-ignored", data: "pax" },
    { name: "././@LongLink", type: "L", data: `${"g".repeat(200)}\0` },
    { name: "truncated", data: "gnu" },
    { name: "suid", data: "s", mode: 0o4755, uid: 1234, gid: 5678 },
    { name: "sticky", type: "5", mode: 0o1777 },
    { name: "ro-dir", type: "5", mode: 0o555 },
    { name: "ro-dir/inside", data: "i" },
  ]));
  try {
    assert.equal(Deno.readTextFileSync(`${dir}/${long}`), "pax");
    const pax = Deno.statSync(`${dir}/${long}`);
    assert.equal(pax.mtime!.getTime(), 1_600_000_000_000);
    assert.equal(Deno.readTextFileSync(`${dir}/${"g".repeat(200)}`), "gnu");
    const suid = Deno.statSync(`${dir}/suid`);
    assert.equal((suid.mode ?? 0) & 0o7777, 0o4755);
    if (Deno.uid() === 0) {
      assert.equal(pax.uid, 4242);
      assert.equal(suid.uid, 1234);
      assert.equal(suid.gid, 5678);
    }
    assert.equal((Deno.statSync(`${dir}/sticky`).mode ?? 0) & 0o7777, 0o1777);
    assert.equal((Deno.statSync(`${dir}/ro-dir`).mode ?? 0) & 0o7777, 0o555);
    assert.equal(Deno.readTextFileSync(`${dir}/ro-dir/inside`), "i");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("untar() creates device nodes and FIFOs as root", { ignore: Deno.uid() !== 0 }, async () => {
  const dir = await extract(tar([
    { name: "dev/null", type: "3", mode: 0o666, devmajor: 1, devminor: 3 },
    { name: "dev/loop9", type: "4", mode: 0o660, devmajor: 7, devminor: 9 },
    { name: "fifo", type: "6", mode: 0o600 },
  ]));
  try {
    const c = Deno.lstatSync(`${dir}/dev/null`);
    assert.ok(c.isCharDevice);
    assert.equal(c.rdev, (1 << 8) | 3);
    assert.ok(Deno.lstatSync(`${dir}/dev/loop9`).isBlockDevice);
    assert.ok(Deno.lstatSync(`${dir}/fifo`).isFifo);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ensureImage() leaves nothing in the cache when extraction fails", async () => {
  const images = Deno.makeTempDirSync({ prefix: "tinyo-images-" });
  const bad = Deno.makeTempFileSync({ suffix: ".tar" });
  try {
    Deno.writeFileSync(bad, tar([{ name: "a", data: "" }, { name: "../x", data: "" }]));
    await assert.rejects(() => ensureImage(images, bad), UntarError);
    assert.deepEqual([...Deno.readDirSync(images)], []);
    Deno.writeFileSync(bad, tar([{ name: "bin/sh", data: "#!", mode: 0o755 }]));
    const img = await ensureImage(images, bad);
    assert.ok(img.unpacked);
    assert.equal((await ensureImage(images, bad)).unpacked, false);
    // Just written: too fresh to be remembered (git's racy rule).
    assert.deepEqual([...Deno.readDirSync(images)].map((e) => e.name), [img.sha256]);
    // The memo is keyed by the file's identity: a rewrite (new ctime) is hashed again.
    Deno.writeFileSync(bad, tar([{ name: "bin/sh", data: "#!/x", mode: 0o755 }]));
    const changed = await ensureImage(images, bad);
    assert.notEqual(changed.sha256, img.sha256);
    assert.ok(changed.unpacked);
  } finally {
    Deno.removeSync(images, { recursive: true });
    Deno.removeSync(bad);
  }
});

Deno.test("ensureImage() remembers a settled tarball's digest by file identity, and forgets it on any change", async () => {
  const images = Deno.makeTempDirSync({ prefix: "tinyo-images-" });
  const file = Deno.makeTempFileSync({ suffix: ".tar" });
  try {
    Deno.writeFileSync(file, tar([{ name: "bin/sh", data: "#!", mode: 0o755 }]));
    // Past the 2-second racy window, the digest is remembered.
    await new Promise((r) => setTimeout(r, 2100));
    const first = await ensureImage(images, file);
    const memos = [...Deno.readDirSync(`${images}/.digests`)].map((e) => e.name);
    assert.equal(memos.length, 1);
    assert.equal(Deno.readTextFileSync(`${images}/.digests/${memos[0]}`).trim(), first.sha256);
    // It is really used: a memo pointing elsewhere is believed (the file is not read).
    const other = "f".repeat(64);
    Deno.mkdirSync(`${images}/${other}/rootfs`, { recursive: true });
    Deno.writeTextFileSync(`${images}/${other}/image.json`, "{}");
    Deno.writeTextFileSync(`${images}/.digests/${memos[0]}`, `${other}\n`);
    assert.equal((await ensureImage(images, file)).sha256, other);
    // Any change to the file (here a rewrite with the same size) changes the key.
    Deno.writeFileSync(file, tar([{ name: "bin/sh", data: "#?", mode: 0o755 }]));
    const changed = await ensureImage(images, file);
    assert.notEqual(changed.sha256, other);
    assert.notEqual(changed.sha256, first.sha256);
  } finally {
    Deno.removeSync(images, { recursive: true });
    Deno.removeSync(file);
  }
});

// --- Attacks found in review (security issue): each failed on the old extractor ---

/** A host file the archive will try to reach, with known mode, owner and times. */
function hostVictim(): { path: string; before: Deno.FileInfo; check(): void } {
  const path = Deno.makeTempFileSync({ prefix: "tinyo-victim-" });
  Deno.writeTextFileSync(path, "host file");
  Deno.chmodSync(path, 0o644);
  Deno.utimeSync(path, 1_000_000, 1_000_000);
  const before = Deno.statSync(path);
  return {
    path,
    before,
    check(): void {
      const after = Deno.statSync(path);
      assert.equal((after.mode ?? 0) & 0o7777, 0o644, "the host file's mode changed");
      assert.equal(after.uid, before.uid, "the host file's owner changed");
      assert.equal(after.gid, before.gid, "the host file's group changed");
      assert.equal(after.mtime?.getTime(), before.mtime?.getTime(), "the host file's mtime changed");
      assert.equal(Deno.readTextFileSync(path), "host file");
    },
  };
}

Deno.test("untar() does not apply a replaced directory's mode through a symlink (setuid host file)", async () => {
  const victim = hostVictim();
  try {
    for (
      const link of [victim.path, `../../../../../../../../../..${victim.path}`]
    ) {
      // x/ with setuid+setgid, then x replaced by a symlink to a host file: the
      // old extractor applied 06755 by path at the end, following the link.
      const bytes = tar([
        { name: "x", type: "5", mode: 0o6755, uid: 4321, gid: 4321, mtime: 42 },
        { name: "x", type: "2", linkname: link },
      ]);
      let dir: string | undefined;
      try {
        dir = await extract(bytes);
        assert.ok(Deno.lstatSync(`${dir}/x`).isSymlink);
      } catch (err) {
        assert.ok(err instanceof UntarError, String(err));
      } finally {
        if (dir) Deno.removeSync(dir, { recursive: true });
      }
      victim.check();
    }
  } finally {
    Deno.removeSync(victim.path);
  }
});

Deno.test("untar() never changes a host file through a nested replaced directory or the target's own entry", async () => {
  const victim = hostVictim();
  const victimDir = Deno.makeTempDirSync({ prefix: "tinyo-victim-dir-" });
  Deno.chmodSync(victimDir, 0o755);
  try {
    const bytes = tar([
      { name: "./", type: "5", mode: 0o755 },
      { name: "a", type: "5", mode: 0o755 },
      { name: "a/b", type: "5", mode: 0o4777, uid: 4321, gid: 4321, mtime: 7 },
      { name: "a/b", type: "2", linkname: victim.path },
      { name: "d", type: "5", mode: 0o777, mtime: 9 },
      { name: "d", type: "2", linkname: victimDir },
    ]);
    const dir = await extract(bytes).catch((err) => {
      assert.ok(err instanceof UntarError, String(err));
      return undefined;
    });
    if (dir) Deno.removeSync(dir, { recursive: true });
    victim.check();
    assert.equal((Deno.statSync(victimDir).mode ?? 0) & 0o7777, 0o755, "a host directory's mode changed");
  } finally {
    Deno.removeSync(victim.path);
    Deno.removeSync(victimDir, { recursive: true });
  }
});

Deno.test("untar() refuses negative, non-numeric and huge pax sizes and ids", async () => {
  for (const size of ["-1", "-512", "abc", "1e3", "0x10", ""]) {
    await refuses(
      tar([{ name: "p", type: "x", data: paxData({ size }) }, { name: "f", data: "" }]),
      /bad pax size|corrupt archive/,
    );
  }
  await refuses(
    tar([{ name: "p", type: "x", data: paxData({ size: String(DEFAULT_MAX_BYTES + 1) }) }, { name: "f" }], {
      noEnd: true,
    }),
    /archive expands to more than/,
  );
  await refuses(
    tar([{ name: "p", type: "x", data: paxData({ size: "99999999999999999999999" }) }, { name: "f" }], {
      noEnd: true,
    }),
    /bad pax size|archive expands to more than/,
  );
  for (const uid of ["-5", "4294967296", "x"]) {
    await refuses(
      tar([{ name: "p", type: "x", data: paxData({ uid }) }, { name: "f", data: "" }]),
      /bad pax uid/,
    );
  }
});

Deno.test("untar() accepts a multi-member gzip and refuses one whose CRC is wrong, after the end marker", async () => {
  const archive = tar([{ name: "a", data: "first half" }, { name: "b", data: "x".repeat(3000) }]);
  // Two gzip members split mid-archive, as `cat a.gz b.gz` or pigz make.
  const one = await gzip(archive.slice(0, 700));
  const two = await gzip(archive.slice(700));
  const multi = new Uint8Array(one.length + two.length);
  multi.set(one);
  multi.set(two, one.length);
  const dir = await extract(multi);
  try {
    assert.equal(Deno.readTextFileSync(`${dir}/a`), "first half");
    assert.equal(Deno.readTextFileSync(`${dir}/b`), "x".repeat(3000));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  // The CRC sits in the trailer, after the tar end marker: still checked.
  const whole = await gzip(archive);
  const badCrc = whole.slice();
  badCrc[badCrc.length - 8]! ^= 0x01;
  await refuses(badCrc, /incorrect data check/);
  const badLength = whole.slice();
  badLength[badLength.length - 1]! ^= 0x01;
  await refuses(badLength, /incorrect length check/);
});

/**
 * `tinyo cp` between the host and a running container: the round trip, and
 * the container's attempts to make it read or write the host's files
 * (symlinks planted on the way and in the destination's place, "..", a
 * setuid file handed out), each checked on the host.
 */

import assert from "node:assert/strict";
import { ALPINE_320, IGNORE_ROOT, leftovers, makeRoot, tinyo } from "../helpers/tinyo.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-cp-");
const IMG = ALPINE_320;

async function exec(name: string, script: string): Promise<string> {
  const r = await tinyo(ROOT, ["exec", name, "sh", "-c", script]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function withBox(fn: (name: string, dir: string) => Promise<void>): Promise<void> {
  const name = `cpbox${crypto.randomUUID().slice(0, 6)}`;
  const start = await tinyo(ROOT, [
    "run",
    "-d",
    "-q",
    "--name",
    name,
    "--hostname",
    "inside",
    IMG,
    "sleep",
    "60",
  ]);
  assert.equal(start.code, 0, start.stderr);
  const dir = Deno.makeTempDirSync({ prefix: "tinyo-cp-host-" });
  try {
    await fn(name, dir);
  } finally {
    await tinyo(ROOT, ["rm", "-f", name]);
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("cp: files and directories both ways, modes and links kept", opts, async () => {
  await withBox(async (name, dir) => {
    Deno.mkdirSync(`${dir}/tree/sub`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/tree/sub/a.txt`, "alpha\n");
    Deno.chmodSync(`${dir}/tree/sub/a.txt`, 0o640);
    Deno.symlinkSync("sub/a.txt", `${dir}/tree/link`);
    let r = await tinyo(ROOT, ["cp", `${dir}/tree`, `${name}:/srv`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await exec(name, "cat /srv/tree/sub/a.txt; stat -c %a /srv/tree/sub/a.txt; readlink /srv/tree/link"),
      "alpha\n640\nsub/a.txt\n",
    );
    await exec(name, "mkdir -p /data/d && echo beta > /data/d/b.txt && ln -s b.txt /data/d/l");
    r = await tinyo(ROOT, ["cp", `${name}:/data/d`, `${dir}/out`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Deno.readTextFileSync(`${dir}/out/b.txt`), "beta\n");
    assert.equal(Deno.readLinkSync(`${dir}/out/l`), "b.txt");
    // A single file into an existing host directory keeps its name.
    r = await tinyo(ROOT, ["cp", `${name}:/etc/alpine-release`, dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(Deno.readTextFileSync(`${dir}/alpine-release`), /^3\.20\.\d+\n$/);
  });
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("cp attack: a planted symlink or '..' cannot make cp read the host's files", opts, async () => {
  await withBox(async (name, dir) => {
    await exec(name, "ln -s / /tmp/rootlink; ln -s ../../../../../../../../etc /tmp/up");
    for (
      const [i, path] of ["/tmp/rootlink/etc/hostname", "/tmp/up/hostname", "/../../../../etc/hostname"]
        .entries()
    ) {
      const r = await tinyo(ROOT, ["cp", `${name}:${path}`, `${dir}/got${i}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(Deno.readTextFileSync(`${dir}/got${i}`), "inside\n", `${path} was not the container's`);
    }
  });
});

Deno.test("cp attack: a planted symlink cannot make cp write the host's files", opts, async () => {
  const marker = `tinyo-cp-pwned-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await withBox(async (name, dir) => {
      Deno.writeTextFileSync(`${dir}/payload`, "payload\n");
      // A directory link to /etc, and a link in the destination's own place.
      await exec(name, "ln -s /etc /tmp/evil; ln -s /etc/passwd /tmp/target");
      let r = await tinyo(ROOT, ["cp", `${dir}/payload`, `${name}:/tmp/evil/${marker}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.throws(() => Deno.lstatSync(`/etc/${marker}`), Deno.errors.NotFound, "written on the host");
      assert.equal(
        await exec(name, `cat /etc/${marker}`),
        "payload\n",
        "not written in the container's /etc",
      );
      r = await tinyo(ROOT, ["cp", `${dir}/payload`, `${name}:/tmp/target`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        await exec(name, "head -1 /etc/passwd; cat /tmp/target; [ -L /tmp/target ] || echo plain"),
        /^root:x:0:0:.*\npayload\nplain\n$/,
      );
    });
  } finally {
    try {
      Deno.removeSync(`/etc/${marker}`);
    } catch {
      // Not there: good.
    }
  }
});

Deno.test("cp attack: a link left on the host by one copy cannot redirect the next one", opts, async () => {
  const marker = `tinyo-cp-out-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await withBox(async (name, dir) => {
      // First copy: the container's /d/x is a link to /etc, copied as a link.
      await exec(name, "mkdir /d && ln -s /etc /d/x");
      let r = await tinyo(ROOT, ["cp", `${name}:/d`, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(Deno.readLinkSync(`${dir}/d/x`), "/etc");
      // Then /d/x becomes a directory with a file: copied again over the first.
      await exec(name, `rm /d/x && mkdir /d/x && echo owned > /d/x/${marker}`);
      r = await tinyo(ROOT, ["cp", `${name}:/d`, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.throws(() => Deno.lstatSync(`/etc/${marker}`), Deno.errors.NotFound, "written through the link");
      assert.ok(Deno.lstatSync(`${dir}/d/x`).isDirectory);
      assert.equal(Deno.readTextFileSync(`${dir}/d/x/${marker}`), "owned\n");
    });
  } finally {
    try {
      Deno.removeSync(`/etc/${marker}`);
    } catch {
      // Not there: good.
    }
  }
});

Deno.test("cp: a setuid file comes out without its setuid and setgid bits", opts, async () => {
  await withBox(async (name, dir) => {
    await exec(name, "cp /bin/busybox /tmp/suid && chmod 6755 /tmp/suid && stat -c %a /tmp/suid");
    const r = await tinyo(ROOT, ["cp", `${name}:/tmp/suid`, `${dir}/suid`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Deno.statSync(`${dir}/suid`).mode! & 0o7777, 0o755);
  });
});

Deno.test(
  "cp: kernel filesystems are never copied out (the container's /proc read as the host's root)",
  opts,
  async () => {
    await withBox(async (name, dir) => {
      const r = await tinyo(ROOT, ["cp", `${name}:/proc/kallsyms`, `${dir}/k`]);
      assert.equal(r.code, 125);
      assert.match(
        r.stderr,
        /^tinyo: Cannot copy "k": it is on proc, a kernel filesystem \(not copied out\)\n$/,
      );
      assert.throws(() => Deno.lstatSync(`${dir}/k`), Deno.errors.NotFound);
      // The whole root: its files, but not what /proc and /sys hold.
      const all = await tinyo(ROOT, ["cp", `${name}:/`, `${dir}/all`]);
      assert.equal(all.code, 0, all.stderr);
      assert.match(Deno.readTextFileSync(`${dir}/all/etc/alpine-release`), /^3\.20\./);
      assert.throws(() => Deno.lstatSync(`${dir}/all/proc`), Deno.errors.NotFound);
      assert.throws(() => Deno.lstatSync(`${dir}/all/sys`), Deno.errors.NotFound);
    });
  },
);

Deno.test("cp: bad input gives one line and exit 125", opts, async () => {
  const both = await tinyo(ROOT, ["cp", "/etc/hostname", "/tmp/x"]);
  assert.equal(both.code, 125);
  assert.match(both.stderr, /exactly one of SRC and DST must be CONTAINER:PATH/);
  const none = await tinyo(ROOT, ["cp", "nosuch:/etc/hostname", "/tmp/x"]);
  assert.equal(none.code, 125);
  assert.equal(none.stderr.trim().split("\n").length, 1, none.stderr);
  await withBox(async (name, dir) => {
    const missing = await tinyo(ROOT, ["cp", `${name}:/no/such/file`, `${dir}/x`]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /^tinyo: Cannot copy "\/no\/such\/file" out of the container: .*ENOENT/);
    assert.equal(missing.stderr.trim().split("\n").length, 1);
  });
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("cp: suite root is removed", opts, () => {
  Deno.removeSync(ROOT, { recursive: true });
});

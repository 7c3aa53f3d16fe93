/**
 * `pull`, `import`, `images`, `rmi` and `run alpine[:TAG]`, against a loopback
 * mirror built from ../shared/rootfs (tests/helpers/mirror.ts): the real
 * download path, every failure path, concurrency and progress output.
 */

import assert from "node:assert/strict";
import {
  ALPINE_319,
  ALPINE_320,
  IGNORE_ROOT,
  leftovers,
  listDir,
  listImages,
  makeRoot,
  Output,
  SHARED_ROOTFS,
  spawnTinyo,
  tinyo,
  tinyoArgv,
  waitFor,
} from "../helpers/tinyo.ts";
import { startMirror, type TestMirror, unreachableUrl } from "../helpers/mirror.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };

const SHA = new Map(
  IGNORE_ROOT ? [] : Deno.readTextFileSync(`${SHARED_ROOTFS}SHA256SUMS`).trim().split("\n").map((l) => {
    const [sum, file] = l.trim().split(/\s+/);
    return [file!.includes("3.20.3") ? "3.20.3" : "3.19.4", sum!] as [string, string];
  }),
);

function tarballRequests(m: TestMirror): number {
  return m.requests.filter((r) => r.endsWith(".tar.gz")).length;
}

/** The cache's state: images, refs and temporary directories. */
function cacheState(root: string): string[] {
  const refs: string[] = [];
  for (const n of listDir(`${root}/images/.refs`)) {
    for (const t of listDir(`${root}/images/.refs/${n}`)) refs.push(`${n}/${t}`);
  }
  return [...listImages(root), ...refs, ...listDir(`${root}/images`).filter((n) => n.startsWith(".tmp"))];
}

async function withMirror(fn: (m: TestMirror, root: string) => Promise<void>): Promise<void> {
  const mirror = startMirror();
  const root = makeRoot("tinyo-images-");
  try {
    await fn(mirror, root);
  } finally {
    await mirror.close();
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test("pull: downloads, verifies and caches; a second pull downloads nothing", opts, async () => {
  await withMirror(async (m, root) => {
    const r = await tinyo(root, ["pull", "--allow-http", "--mirror", m.url("ok"), "alpine:3.20"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      `alpine:3.20: pulled (alpine 3.20.3, sha256 ${SHA.get("3.20.3")!.slice(0, 12)})`,
    );
    // Not a terminal: a few plain progress lines.
    assert.match(r.stderr, /^Downloading alpine:3\.20 \(3\.20\.3\) \(3\.3 MiB\)\n/);
    assert.match(r.stderr, /Downloaded 3\.3 MiB in/);
    assert.match(r.stderr, /Unpacked alpine:3\.20 \(3\.20\.3\) \(3\.3 MiB\) in/);
    assert.ok(r.stderr.split("\n").length < 12, r.stderr);
    assert.deepEqual(listImages(root), [SHA.get("3.20.3")]);
    assert.equal(tarballRequests(m), 1);
    const again = await tinyo(root, ["pull", "-q", "--allow-http", "--mirror", m.url("ok"), "alpine:3.20"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already up to date/);
    assert.equal(again.stderr, "");
    // latest-stable and edge resolve to the same file: no new download.
    const stable = await tinyo(root, ["pull", "-q", "--allow-http", "--mirror", m.url("ok"), "alpine"]);
    assert.match(stable.stdout, /^alpine:latest-stable: already up to date \(alpine 3\.20\.3/);
    assert.equal(tarballRequests(m), 1);
    const list = await tinyo(root, ["images"]);
    assert.match(list.stdout, /^REPOSITORY\s+TAG\s+VERSION\s+ARCH\s+IMAGE ID\s+SIZE\s+CREATED\n/);
    assert.match(
      list.stdout,
      new RegExp(
        `alpine\\s+3\\.20\\s+3\\.20\\.3\\s+x86_64\\s+${
          SHA.get("3.20.3")!.slice(0, 12)
        }\\s+\\d+\\.\\d MiB\\s+\\d+ seconds ago`,
      ),
    );
    assert.match(list.stdout, /alpine\s+latest-stable\s+3\.20\.3/);
    const json = JSON.parse((await tinyo(root, ["images", "--format", "json"])).stdout);
    assert.deepEqual(json.map((i: { name: string; tag: string }) => `${i.name}:${i.tag}`), [
      "alpine:3.20",
      "alpine:latest-stable",
    ]);
    assert.equal(json[0].id, SHA.get("3.20.3"));
    assert.ok(json[0].unpackedBytes > 5_000_000);
  });
});

Deno.test("pull: an older point release comes from its .sha256 beside the index", opts, async () => {
  await withMirror(async (m, root) => {
    const r = await tinyo(root, ["pull", "-q", "--allow-http", "--mirror", m.url("ok"), "alpine:3.19.4"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(m.requests.some((p) => p.endsWith("alpine-minirootfs-3.19.4-x86_64.tar.gz.sha256")));
    assert.deepEqual(listImages(root), [SHA.get("3.19.4")]);
  });
});

Deno.test("pull: each failure is one clear line, exit 125, and the cache is unchanged", opts, async (t) => {
  await withMirror(async (m, root) => {
    const cases: [string, string[], RegExp][] = [
      [
        "unknown branch",
        ["--allow-http", "--mirror", m.url("ok"), "alpine:3.99"],
        /Unknown alpine tag "3\.99": the mirror has no release branch "v3\.99"/,
      ],
      [
        "bad tag",
        ["--allow-http", "--mirror", m.url("ok"), "alpine:stable-ish"],
        /Unknown alpine tag "stable-ish": use latest-stable, edge/,
      ],
      [
        "unknown version",
        ["--allow-http", "--mirror", m.url("ok"), "alpine:3.20.1"],
        /Unknown alpine version "3\.20\.1"/,
      ],
      [
        "not alpine",
        ["--allow-http", "--mirror", m.url("ok"), "ubuntu:24.04"],
        /only alpine images can be pulled/,
      ],
      [
        "unreachable",
        ["--allow-http", "--mirror", unreachableUrl(), "alpine:3.20"],
        /Cannot reach mirror "http:\/\/127\.0\.0\.1:\d+\/ok": .*(refused|Connect)/i,
      ],
      [
        "http error",
        ["--allow-http", "--mirror", m.url("http500"), "alpine:3.20"],
        /HTTP 500 Internal Server Error for http:\/\/127\.0\.0\.1/,
      ],
      [
        "larger than the index says",
        ["--allow-http", "--mirror", m.url("oversize"), "alpine:3.20"],
        /Download of .* is larger than the \d+ bytes expected/,
      ],
      [
        "an index that is not one",
        ["--allow-http", "--mirror", m.url("hugeindex"), "alpine:3.20"],
        /The mirror sent more than 1048576 bytes for .*latest-releases\.yaml: not a release index/,
      ],
      [
        "checksum",
        ["--allow-http", "--mirror", m.url("badsum"), "alpine:3.20"],
        /Checksum mismatch for alpine-minirootfs-3\.20\.3-x86_64\.tar\.gz: expected sha256 0{64}, got [0-9a-f]{64}/,
      ],
      [
        "truncated",
        ["--allow-http", "--mirror", m.url("truncated"), "alpine:3.20"],
        /alpine-minirootfs-3\.20\.3-x86_64\.tar\.gz (is truncated: got \d+ of \d+ bytes|was interrupted)/,
      ],
      [
        "bad reference",
        ["--allow-http", "--mirror", m.url("ok"), "Alpine!"],
        /Invalid image reference "Alpine!"/,
      ],
    ];
    for (const [name, args, pattern] of cases) {
      await t.step(name, async () => {
        const r = await tinyo(root, ["pull", "-q", ...args]);
        assert.equal(r.code, 125, `${name}: ${r.stdout} ${r.stderr}`);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, /^tinyo: /);
        assert.match(r.stderr, pattern);
        assert.deepEqual(cacheState(root), []);
      });
    }
  });
});

Deno.test("pull: concurrent pulls of one image end with one good copy and one download", opts, async () => {
  await withMirror(async (m, root) => {
    const results = await Promise.all(
      [1, 2, 3].map(() =>
        tinyo(root, ["pull", "-q", "--allow-http", "--mirror", m.url("ok"), "alpine:3.20"])
      ),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(results.filter((r) => /pulled/.test(r.stdout)).length, 1);
    assert.equal(results.filter((r) => /already up to date/.test(r.stdout)).length, 2);
    assert.equal(tarballRequests(m), 1);
    assert.deepEqual(cacheState(root), [SHA.get("3.20.3"), "alpine/3.20.json"]);
  });
});

Deno.test("pull: a full disk while unpacking leaves nothing half-stored", opts, async () => {
  await withMirror(async (m) => {
    // A 6 MiB tmpfs as the root, in a private mount namespace: the 3.3 MiB
    // download fits, the ~9 MiB tree does not.
    const dir = Deno.makeTempDirSync({ prefix: "tinyo-full-" });
    try {
      const argv = tinyoArgv(`${dir}`, ["pull", "-q", "--allow-http", "--mirror", m.url("ok"), "alpine:3.20"])
        .map((a) => `'${a}'`).join(" ");
      const script =
        `mount -t tmpfs -o size=6m tmpfs '${dir}' && '${Deno.execPath()}' ${argv}; echo "rc=$?"; ls -A '${dir}/images'; ls -A '${dir}/images/.refs' 2>/dev/null | wc -l`;
      const out = await new Deno.Command("unshare", {
        args: ["-m", "--propagation", "private", "sh", "-c", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.match(stdout, /^rc=125\n/, stdout + stderr);
      assert.match(stderr, /No space left on device|ENOSPC/);
      assert.equal(stderr.trim().split("\n").length, 1, stderr);
      // Only lock and memo bookkeeping may remain: no image, no temp dir, no ref.
      const entries = stdout.split("\n").slice(1, -2).filter((l) => l !== "");
      assert.ok(entries.every((e) => e === ".locks"), stdout);
      assert.equal(stdout.trim().split("\n").at(-1), "0");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
});

Deno.test("pull: a terminal gets a redrawn progress bar with bytes, rate and ETA", {
  ...opts,
  ignore: IGNORE_ROOT ||
    new Deno.Command("sh", { args: ["-c", "command -v script"] }).outputSync().code !== 0,
}, async () => {
  await withMirror(async (m, root) => {
    const argv = tinyoArgv(root, ["pull", "--allow-http", "--mirror", m.url("ok"), "alpine:3.20"]).map((a) =>
      `'${a}'`
    ).join(
      " ",
    );
    const out = await new Deno.Command("script", {
      args: ["-qec", `'${Deno.execPath()}' ${argv}`, "/dev/null"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text);
    const bar = new RegExp(
      "\r\x1b\\[KDownloading alpine:3\\.20 \\(3\\.20\\.3\\) {2}\\[#+-*\\]\\s+\\d+% {2}[\\d.]+ (B|KiB|MiB) / 3\\.3 MiB {2}" +
        "[\\d.]+ (B|KiB|MiB)/s {2}ETA \\d+s",
    );
    assert.match(text, bar);
    assert.match(text, /Unpacking alpine:3\.20 \(3\.20\.3\) {2}\[#{24}\] 100%/);
  });
});

Deno.test("run alpine[:TAG]: --pull missing, never and always; TINYO_ALPINE_MIRROR", opts, async () => {
  await withMirror(async (m, root) => {
    const never = await tinyo(root, ["run", "--pull", "never", "alpine:3.20", "true"]);
    assert.equal(never.code, 125);
    assert.match(
      never.stderr,
      /Image "alpine:3\.20" is not in the cache and --pull is never \(run 'tinyo pull alpine:3\.20'\)/,
    );
    assert.deepEqual(cacheState(root), []);
    const env = { ...Deno.env.toObject(), TINYO_ALPINE_MIRROR: m.url("ok"), TINYO_ALLOW_HTTP: "1" };
    const first = await tinyo(root, ["run", "-q", "alpine:3.20", "cat", "/etc/alpine-release"], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, "3.20.3\n");
    assert.equal(first.stderr, "");
    const indexBefore = m.requests.filter((r) => r.endsWith(".yaml")).length;
    const cached = await tinyo(root, ["run", "--pull", "never", "alpine:3.20", "true"]);
    assert.equal(cached.code, 0, cached.stderr);
    const always = await tinyo(root, [
      "run",
      "--pull=always",
      "-q",
      "--allow-http",
      "--mirror",
      m.url("ok"),
      "alpine:3.20",
      "true",
    ]);
    assert.equal(always.code, 0, always.stderr);
    assert.equal(m.requests.filter((r) => r.endsWith(".yaml")).length, indexBefore + 1);
    assert.equal(tarballRequests(m), 1);
    const bad = await tinyo(root, ["run", "--pull", "sometimes", "alpine", "true"]);
    assert.match(bad.stderr, /unknown --pull "sometimes"/);
    assert.deepEqual(leftovers(root), []);
  });
});

Deno.test("import: registers local tarballs, checks --sha256, runs them by name", opts, async () => {
  const root = makeRoot("tinyo-import-");
  try {
    const a = await tinyo(root, ["import", ALPINE_319]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^alpine:3\.19\.4: imported \(sha256 [0-9a-f]{12}\)\n$/);
    const wrong = await tinyo(root, ["import", "--sha256", "a".repeat(64), ALPINE_320, "mybase:1"]);
    assert.equal(wrong.code, 125);
    assert.match(
      wrong.stderr,
      /Checksum mismatch for ".*3\.20\.3.*": expected sha256 a{64}, got [0-9a-f]{64}/,
    );
    assert.deepEqual(listImages(root), [SHA.get("3.19.4")]);
    const right = await tinyo(root, ["import", "-q", "--sha256", SHA.get("3.20.3")!, ALPINE_320, "mybase:1"]);
    assert.equal(right.stdout.trim(), SHA.get("3.20.3"));
    const run = await tinyo(root, ["run", "mybase:1", "cat", "/etc/alpine-release"]);
    assert.equal(run.stdout, "3.20.3\n", run.stderr);
    const missing = await tinyo(root, ["run", "nosuchimage:2", "true"]);
    assert.equal(missing.code, 125);
    assert.match(
      missing.stderr,
      /No such image "nosuchimage:2" \(only alpine is pulled; add others with 'tinyo import TARBALL nosuchimage:2'\)/,
    );
    const notRootfs = Deno.makeTempFileSync({ suffix: ".tar" });
    new Deno.Command("tar", { args: ["-cf", notRootfs, "-C", "/etc", "hostname"] }).output();
    const bad = await tinyo(root, ["import", notRootfs, "junk"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /Cannot import ".*": ".*" is not a root filesystem/);
    Deno.removeSync(notRootfs);
    assert.equal(listImages(root).length, 2);
    const json = JSON.parse((await tinyo(root, ["images", "--format", "json"])).stdout);
    assert.deepEqual(
      json.map((i: { name: string; tag: string; version: string }) => `${i.name}:${i.tag}=${i.version}`),
      ["alpine:3.19.4=3.19.4", "mybase:1=3.20.3"],
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("rmi: refuses while a container uses the image, then removes it", opts, async () => {
  const root = makeRoot("tinyo-rmi-");
  try {
    await tinyo(root, ["import", ALPINE_320, "base:1"]);
    await tinyo(root, ["import", ALPINE_320, "base:2"]);
    const child = spawnTinyo(root, ["run", "base:1", "sh", "-c", "echo up; sleep 30 & wait"]);
    const out = new Output(child.stdout);
    const err = new Output(child.stderr);
    await out.waitFor("up");
    // Another tag of the same image can go; the last one cannot while it runs.
    const tag2 = await tinyo(root, ["rmi", "base:2"]);
    assert.equal(tag2.code, 0, tag2.stderr);
    assert.equal(tag2.stdout, "Untagged: base:2\n");
    const busy = await tinyo(root, ["rmi", "base:1"]);
    assert.equal(busy.code, 125);
    assert.match(busy.stderr, /Cannot remove image "base:1": it is in use by container [0-9a-f]{12}/);
    assert.equal(listImages(root).length, 1);
    child.kill("SIGKILL");
    await child.status;
    await out.done;
    await err.done;
    await waitFor(() => leftovers(root).length === 0 || true);
    const gone = await tinyo(root, ["rmi", "base:1"]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stdout, /^Untagged: base:1\nDeleted: [0-9a-f]{64}\n$/);
    assert.deepEqual(listImages(root), []);
    const unknown = await tinyo(root, ["rmi", "base:1"]);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /No such image "base:1"/);
    // By id prefix, for an image unpacked from a tarball path (no name).
    await tinyo(root, ["run", ALPINE_319, "true"]);
    const byId = await tinyo(root, ["rmi", SHA.get("3.19.4")!.slice(0, 8)]);
    assert.equal(byId.code, 0, byId.stderr);
    assert.deepEqual(listImages(root), []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

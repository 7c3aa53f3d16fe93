/**
 * Hardening on by default, seen from inside the container: capabilities,
 * no_new_privs, seccomp, masked and read-only paths; each denied action, and
 * each opt-out restoring it. Plus -u by name, --ulimit and --tmpfs.
 */

import assert from "node:assert/strict";
import { ALPINE_320, IGNORE_ROOT, leftovers, makeRoot, tinyo } from "../helpers/tinyo.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-sec-");
const IMG = ALPINE_320;

async function run(args: string[], script: string): Promise<{ code: number; out: string; err: string }> {
  const r = await tinyo(ROOT, ["run", "-q", ...args, IMG, "sh", "-c", script]);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

function status(out: string, key: string): string {
  return new RegExp(`^${key}:\\s*(\\S+)$`, "m").exec(out)?.[1] ?? "";
}

const STATUS = "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status";
/** podman's default set: docker's 14 without MKNOD, NET_RAW and AUDIT_WRITE. */
const DEFAULT_CAPS = "00000000800405fb";

Deno.test("security: default capabilities, no_new_privs and seccomp are on", opts, async () => {
  const r = await run([], STATUS);
  assert.equal(r.code, 0, r.err);
  for (const set of ["CapEff", "CapPrm", "CapBnd"]) {
    assert.equal(status(r.out, set), DEFAULT_CAPS, set);
  }
  // None inheritable nor ambient (CVE-2022-29162).
  assert.equal(status(r.out, "CapInh"), "0000000000000000");
  assert.equal(status(r.out, "CapAmb"), "0000000000000000");
  assert.equal(status(r.out, "NoNewPrivs"), "1");
  assert.equal(status(r.out, "Seccomp"), "2");
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test(
  "security: mknod needs MKNOD, which is not in the default set; --cap-add gives it",
  opts,
  async () => {
    const dflt = await run([], `${STATUS}; mknod /tmp/null c 1 3 2>&1; echo rc=$?`);
    assert.match(dflt.out, /mknod: \/tmp\/null: Operation not permitted/);
    assert.match(dflt.out, /rc=1/);
    const added = await run(["--cap-add", "mknod"], `${STATUS}; mknod /tmp/null c 1 3 && echo made`);
    assert.match(added.out, /made/);
    assert.equal(status(added.out, "CapBnd"), "00000000880405fb");
    // ping works without NET_RAW (ICMP datagram sockets, ping_group_range).
    const ping = await run([], "ping -c 1 -W 2 127.0.0.1 >/dev/null && echo pong");
    assert.match(ping.out, /pong/, ping.err);
    const none = await run(["--cap-drop", "ALL"], STATUS);
    assert.equal(status(none.out, "CapBnd"), "0000000000000000");
    const some = await run(["--cap-drop", "ALL", "--cap-add", "CAP_NET_ADMIN", "--cap-add", "chown"], STATUS);
    assert.equal(status(some.out, "CapEff"), "0000000000001001");
  },
);

Deno.test(
  "security: mounting is refused; seccomp blocks it even with SYS_ADMIN; opt-outs restore it",
  opts,
  async () => {
    const mount = "mount -t tmpfs none /mnt 2>&1 && echo mounted; echo rc=$?";
    const plain = await run([], mount);
    assert.doesNotMatch(plain.out, /mounted/);
    const admin = await run(["--cap-add", "SYS_ADMIN"], mount);
    assert.doesNotMatch(admin.out, /mounted/, "the seccomp filter denies mount(2) with EPERM");
    const unconfined = await run(
      ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"],
      `${STATUS}; ${mount}`,
    );
    assert.match(unconfined.out, /mounted/);
    assert.equal(status(unconfined.out, "Seccomp"), "0");
    const privileged = await run(["--privileged"], `${STATUS}; ${mount}`);
    assert.match(privileged.out, /mounted/);
    assert.equal(status(privileged.out, "Seccomp"), "0");
    // All the capabilities tinyo itself holds.
    const own = /^CapPrm:\s*(\S+)$/m.exec(Deno.readTextFileSync("/proc/self/status"))![1];
    assert.equal(status(privileged.out, "CapEff"), own);
  },
);

Deno.test("security: a blocked system call fails with EPERM, other calls work", opts, async () => {
  // unshare(2) (namespace creation) is denied by the default profile.
  const r = await run(["--cap-add", "SYS_ADMIN"], "unshare -u true 2>&1; echo rc=$?; echo alive");
  assert.match(r.out, /unshare.*Operation not permitted/);
  assert.match(r.out, /alive/);
  const free = await run(
    ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"],
    "unshare -u true && echo unshared",
  );
  assert.match(free.out, /unshared/);
});

Deno.test("security: a docker-format profile file is compiled and applied", opts, async () => {
  const profile = Deno.makeTempFileSync({ suffix: ".json" });
  try {
    Deno.writeTextFileSync(
      profile,
      JSON.stringify({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [
          { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
          // Deny uname(2) for arguments other than NULL... never true, so uname works.
          { names: ["uname"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0, op: "SCMP_CMP_EQ" }] },
        ],
      }),
    );
    const r = await run(["--security-opt", `seccomp=${profile}`], "mkdir /tmp/d 2>&1; uname -s");
    assert.match(r.out, /mkdir: can't create directory '\/tmp\/d': Permission denied/);
    assert.match(r.out, /Linux/);
    const bad = await tinyo(ROOT, ["run", "--security-opt", "seccomp=/nonexistent.json", IMG, "true"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /Cannot read seccomp profile "\/nonexistent\.json"/);
  } finally {
    Deno.removeSync(profile);
  }
});

Deno.test("security: no_new_privs can be turned off", opts, async () => {
  const r = await run(
    ["--security-opt", "no-new-privileges=false"],
    `${STATUS}; mount -t tmpfs none /mnt 2>&1`,
  );
  assert.equal(r.code, 1, r.err);
  assert.equal(status(r.out, "NoNewPrivs"), "0");
  // The seccomp filter is still there (installed before the capabilities were dropped).
  assert.equal(status(r.out, "Seccomp"), "2");
  assert.equal(status(r.out, "CapEff"), DEFAULT_CAPS);
});

Deno.test("security: masked and read-only paths, and --privileged lifting them", opts, async () => {
  const script =
    "cat /proc/keys | wc -c; ls -A /proc/acpi /sys/firmware 2>/dev/null | grep -v ':$' | grep -vc '^$'; " +
    "{ echo 1 > /proc/sys/kernel/printk; echo 3 > /proc/sys/vm/drop_caches; } 2>&1; grep -c ' /proc/sys ' /proc/self/mountinfo";
  const r = await run([], script);
  const lines = r.out.trim().split("\n");
  assert.equal(lines[0], "0", "masked /proc/keys reads empty");
  assert.equal(lines[1], "0", "masked directories are empty");
  assert.equal((r.out.match(/Read-only file system/g) ?? []).length, 2, r.out);
  const priv = await run(
    ["--privileged"],
    "grep -c ' /proc/sys ' /proc/self/mountinfo; grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6",
  );
  assert.match(priv.out, /^0\nrw,/);
});

Deno.test("security: -u by name, by number and user:group; with its groups and home", opts, async () => {
  const byName = await run(["-u", "nobody"], `id; echo $HOME; ${STATUS}`);
  assert.match(byName.out, /^uid=65534\(nobody\) gid=65534\(nobody\)/);
  assert.equal(
    status(byName.out, "CapEff"),
    "0000000000000000",
    "a non-root user gets no effective capabilities",
  );
  assert.equal(status(byName.out, "CapBnd"), DEFAULT_CAPS);
  const groups = await run(["-u", "daemon"], "id");
  assert.match(groups.out, /uid=2\(daemon\) gid=2\(daemon\) groups=1\(bin\),2\(daemon\),4\(adm\)/);
  const pair = await run(["-u", "bin:wheel"], "id -u; id -g");
  assert.equal(pair.out, "1\n10\n");
  const numeric = await run(["-u", "4242:4343"], "id -u; id -g");
  assert.equal(numeric.out, "4242\n4343\n");
  const unknown = await tinyo(ROOT, ["run", "-u", "nosuchuser", IMG, "true"]);
  assert.equal(unknown.code, 125);
  assert.match(unknown.stderr, /Cannot find user "nosuchuser" in the container's \/etc\/passwd/);
  assert.deepEqual(leftovers(ROOT), []);
});

Deno.test("security: --ulimit and --tmpfs", opts, async () => {
  const r = await run(
    ["--ulimit", "nofile=256:512", "--ulimit", "core=0", "--tmpfs", "/scratch:size=2m,mode=0700"],
    "ulimit -n; ulimit -Hn; ulimit -c; grep ' /scratch ' /proc/self/mountinfo; cp /bin/busybox /scratch/bb && /scratch/bb true 2>&1; echo rc=$?",
  );
  assert.match(r.out, /^256\n512\n0\n/);
  assert.match(r.out, / \/scratch rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=2048k,mode=700/);
  assert.match(r.out, /Permission denied\nrc=126/);
});

Deno.test("security: suite root is removed", opts, () => {
  assert.deepEqual(leftovers(ROOT), []);
  Deno.removeSync(ROOT, { recursive: true });
});

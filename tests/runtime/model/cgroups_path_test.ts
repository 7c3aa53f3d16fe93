import assert from "node:assert/strict";
import { resolveCgroupsPath } from "../../../runtime/model/cgroups_path.ts";
import { ConfigError } from "../../../runtime/errors.ts";

const ID = "c0ffee";
const long = (n: number): string => "x".repeat(n);

/** cgroupfs (no --systemd-cgroup): input → path. */
const CGROUPFS_OK: [string | undefined, string][] = [
  [undefined, "/tinyo/c0ffee"],
  ["", "/tinyo/c0ffee"],
  // podman's cgroupfs manager and containerd's.
  ["/podman-smoke.123/libpod-0123456789abcdef", "/podman-smoke.123/libpod-0123456789abcdef"],
  ["/ctr-smoke-123/smk1", "/ctr-smoke-123/smk1"],
  ["/default/c0ffee", "/default/c0ffee"],
  // Relative: from the hierarchy root, as crun does (tinyo run writes "tinyo/<id>").
  ["tinyo/c0ffee", "/tinyo/c0ffee"],
  ["a/b", "/a/b"],
  ["a", "/a"],
  // Normalised.
  ["/a/./b", "/a/b"],
  ["/a/x/../b", "/a/b"],
  ["./a", "/a"],
  // Colons are fine in a directory name once there is a slash.
  ["/a:b:c", "/a:b:c"],
  ["/a/b:c:d", "/a/b:c:d"],
  [`/${long(255)}`, `/${long(255)}`],
  ["/é", "/é"],
];

/** cgroupfs: input → error. */
const CGROUPFS_BAD: [string, RegExp][] = [
  ["/", /Invalid cgroupsPath "\/": it names the root cgroup itself/],
  ["/.", /names the root cgroup itself/],
  ["/a/..", /names the root cgroup itself/],
  ["/..", /".." climbs above the cgroup root/],
  ["/a/../../b", /".." climbs above the cgroup root/],
  ["../a", /".." climbs above the cgroup root/],
  ["//a", /component 1 is empty/],
  ["/a//b", /component 2 is empty/],
  ["/a/", /component 2 is empty/],
  ["/a\0b", /contains a NUL byte/],
  ["/a\nb", /contains a newline/],
  [`/${long(256)}`, /component 1 is 256 bytes long \(255 at most\)/],
  [`/a/${"é".repeat(128)}`, /component 2 is 256 bytes long/],
  // The systemd form without --systemd-cgroup.
  [
    "system.slice:libpod:abc",
    /^Invalid cgroupsPath "system.slice:libpod:abc": the "slice:prefix:name" form needs systemd cgroups \(--systemd-cgroup\)$/,
  ],
  [":tinyo:abc", /needs systemd cgroups/],
];

/** --systemd-cgroup: input → path. */
const SYSTEMD_OK: [string | undefined, string][] = [
  [undefined, "/system.slice/tinyo-c0ffee.scope"],
  ["", "/system.slice/tinyo-c0ffee.scope"],
  ["system.slice:libpod:abc", "/system.slice/libpod-abc.scope"],
  ["machine.slice:libpod:abc", "/machine.slice/libpod-abc.scope"],
  // No slice: runc's parent for root.
  [":tinyo:abc", "/system.slice/tinyo-abc.scope"],
  ["user-1000.slice:x:y", "/user.slice/user-1000.slice/x-y.scope"],
  ["a-b-c.slice:p:n", "/a.slice/a-b.slice/a-b-c.slice/p-n.scope"],
  // The root slice.
  ["-.slice:p:n", "/p-n.scope"],
  // A name ending in ".slice" is the unit itself (runc's getUnitName).
  [
    "kubepods-burstable.slice:cri:kubepods-burstable-pod1.slice",
    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
  ],
  // An empty prefix, as runc and crun write it.
  ["system.slice::abc", "/system.slice/-abc.scope"],
];

/** --systemd-cgroup: input → error. */
const SYSTEMD_BAD: [string, RegExp][] = [
  [
    "/podman-smoke.123/libpod-abc",
    /^Invalid cgroupsPath "\/podman-smoke.123\/libpod-abc": expected the "slice:prefix:name" form for systemd cgroups \(--systemd-cgroup\)$/,
  ],
  ["a/b", /expected the "slice:prefix:name" form/],
  ["system.slice:libpod", /expected the "slice:prefix:name" form/],
  ["a.slice:b:c:d", /expected the "slice:prefix:name" form/],
  ["system.slice:libpod:", /the name \(after the second colon\) is empty/],
  ["system:libpod:abc", /"system" is not a valid systemd slice name/],
  [".slice:p:n", /".slice" is not a valid systemd slice name/],
  ["a--b.slice:p:n", /"a--b.slice" is not a valid systemd slice name/],
  ["-a.slice:p:n", /"-a.slice" is not a valid systemd slice name/],
  ["a/b.slice:p:n", /"a\/b.slice" is not a valid systemd slice name/],
  ["system.slice:p:a/b", /the prefix and name may not contain "\/"/],
  ["system.slice:p/q:n", /the prefix and name may not contain "\/"/],
  ["system.slice:p:a--b.slice", /"a--b.slice" is not a valid systemd slice name/],
  ["system.slice:p:a\0b", /contains a NUL byte/],
  [`system.slice:p:${long(250)}`, /component 2 is 258 bytes long/],
];

Deno.test("resolveCgroupsPath() maps cgroupfs paths", () => {
  for (const [input, want] of CGROUPFS_OK) {
    assert.equal(resolveCgroupsPath(input, ID, { systemd: false }), want, `input ${JSON.stringify(input)}`);
  }
});

Deno.test("resolveCgroupsPath() refuses bad cgroupfs paths with one line naming the path", () => {
  for (const [input, want] of CGROUPFS_BAD) {
    assert.throws(() => resolveCgroupsPath(input, ID, { systemd: false }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `input ${JSON.stringify(input)}`);
      assert.match(err.message, want);
      assert.ok(!err.message.includes("\n"), "one line");
      assert.ok(err.message.startsWith("Invalid cgroupsPath "));
      return true;
    });
  }
});

Deno.test("resolveCgroupsPath() maps the systemd form onto systemd's directories", () => {
  for (const [input, want] of SYSTEMD_OK) {
    assert.equal(resolveCgroupsPath(input, ID, { systemd: true }), want, `input ${JSON.stringify(input)}`);
  }
});

Deno.test("resolveCgroupsPath() refuses anything but the systemd form with --systemd-cgroup", () => {
  for (const [input, want] of SYSTEMD_BAD) {
    assert.throws(() => resolveCgroupsPath(input, ID, { systemd: true }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `input ${JSON.stringify(input)}`);
      assert.match(err.message, want);
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    });
  }
});

Deno.test("resolveCgroupsPath() refuses an id that cannot name the default cgroup", () => {
  for (const id of ["", ".", "..", "a/b", "a\0b", "a\nb", long(256)]) {
    assert.throws(
      () => resolveCgroupsPath(undefined, id, { systemd: false }),
      /^ConfigError: Cannot name a cgroup after container id /,
    );
  }
  // The unit name adds "tinyo-" and ".scope".
  assert.equal(resolveCgroupsPath(undefined, long(255), { systemd: false }), `/tinyo/${long(255)}`);
  assert.throws(() => resolveCgroupsPath(undefined, long(245), { systemd: true }), /longer than 243 bytes/);
  // The id plays no part when the spec names a path.
  assert.equal(resolveCgroupsPath("/a", "", { systemd: false }), "/a");
});

Deno.test("resolveCgroupsPath() results start with one slash and have no empty, '.' or '..' components", () => {
  const all = [
    ...CGROUPFS_OK.map(([p]) => resolveCgroupsPath(p, ID, { systemd: false })),
    ...SYSTEMD_OK.map(([p]) => resolveCgroupsPath(p, ID, { systemd: true })),
  ];
  for (const path of all) {
    assert.ok(path.startsWith("/") && !path.startsWith("//"), path);
    for (const c of path.slice(1).split("/")) assert.ok(c !== "" && c !== "." && c !== "..", path);
  }
});

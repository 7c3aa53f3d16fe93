import assert from "node:assert/strict";
import { parseArgs } from "../../../runtime/cli/args.ts";
import { parseRunArgs, RUN_OPTIONS } from "../../../runtime/cli/run.ts";
import { buildRunSpec, parseEnv, parseVolume } from "../../../runtime/model/run_spec.ts";
import { ConfigError, UsageError } from "../../../runtime/errors.ts";

Deno.test("parseArgs() stops at the first positional argument", () => {
  const p = parseArgs(["-e", "A=1", "img", "ls", "-la", "--env", "x"], RUN_OPTIONS, "run");
  assert.deepEqual(p.values.get("env"), ["A=1"]);
  assert.deepEqual(p.rest, ["img", "ls", "-la", "--env", "x"]);
});

Deno.test("parseArgs() takes --opt=value, -ovalue and combined short flags", () => {
  const p = parseArgs(
    ["--env=A=1", "-eB=2", "-iw", "/x", "--read-only", "--", "-not-an-option"],
    RUN_OPTIONS,
    "run",
  );
  assert.deepEqual(p.values.get("env"), ["A=1", "B=2"]);
  assert.deepEqual(p.values.get("workdir"), ["/x"]);
  assert.ok(p.flags.has("interactive") && p.flags.has("read-only"));
  assert.deepEqual(p.rest, ["-not-an-option"]);
});

Deno.test("parseArgs() names unknown options and missing values", () => {
  assert.throws(
    () => parseArgs(["--nope"], RUN_OPTIONS, "run"),
    (e: unknown) =>
      e instanceof UsageError && e.message === `tinyo run: unknown option "--nope" (see 'tinyo run --help')`,
  );
  assert.throws(() => parseArgs(["-Z"], RUN_OPTIONS, "run"), /unknown option "-Z"/);
  assert.throws(() => parseArgs(["-w"], RUN_OPTIONS, "run"), /option "-w" needs a value/);
  assert.throws(
    () => parseArgs(["--read-only=yes"], RUN_OPTIONS, "run"),
    /option "--read-only" takes no value/,
  );
});

Deno.test("parseRunArgs() builds run options; -- and --rootfs are accepted", () => {
  const a = parseRunArgs(["-v", "/h:/c:ro", "-u", "1000:100", "img.tar.gz", "--", "echo", "hi"]);
  assert.ok(a !== "help");
  assert.equal(a.image, "img.tar.gz");
  assert.deepEqual(a.command, ["echo", "hi"]);
  assert.deepEqual(a.volumes, [{ source: "/h", destination: "/c", readonly: true }]);
  assert.equal(a.userSpec, "1000:100");
  const b = parseRunArgs(["--rootfs", "/r", "/bin/sh"]);
  assert.ok(b !== "help");
  assert.equal(b.image, "/r");
  assert.deepEqual(b.command, ["/bin/sh"]);
  assert.equal(parseRunArgs(["--help"]), "help");
  assert.throws(() => parseRunArgs([]), /missing IMAGE/);
  assert.throws(() => parseRunArgs(["--network", "nat", "i"]), /unknown network "nat"/);
  // The bridge is the default; the network flags parse into options, their
  // errors before anything is made.
  const net = parseRunArgs([
    "-p",
    "8080:80",
    "-p",
    "127.0.0.1::53/udp",
    "--ip",
    "10.210.0.9",
    "--dns",
    "192.0.2.53",
    "--add-host",
    "db:192.0.2.7",
    "i",
  ]);
  assert.ok(net !== "help");
  assert.equal(net.network, "bridge");
  assert.deepEqual(net.publish, [
    { hostPort: 8080, containerPort: 80, protocol: "tcp" },
    { hostIp: "127.0.0.1", containerPort: 53, protocol: "udp" },
  ]);
  assert.equal(net.ip, "10.210.0.9");
  assert.deepEqual(net.dns, ["192.0.2.53"]);
  assert.deepEqual(net.addHosts, [{ name: "db", ip: "192.0.2.7" }]);
  assert.throws(() => parseRunArgs(["--network", "host", "-p", "80", "i"]), /-p needs the bridge network/);
  assert.throws(
    () => parseRunArgs(["--network", "none", "--ip", "10.210.0.9", "i"]),
    /--ip needs the bridge/,
  );
  assert.throws(() => parseRunArgs(["--ip", "10.210.0", "i"]), /Invalid --ip "10\.210\.0"/);
  assert.throws(() => parseRunArgs(["--mac-address", "01:00:00:00:00:01", "i"]), /Invalid --mac-address/);
  assert.throws(() => parseRunArgs(["-p", "80:80/sctp", "i"]), /Invalid -p "80:80\/sctp"/);
  // The host name goes into /etc/hosts: no second line through it.
  assert.throws(() => parseRunArgs(["--hostname", "evil\n6.6.6.6 example.com", "i"]), /Invalid --hostname/);
  assert.throws(
    () => parseRunArgs(["--network", "container:x", "--dns", "1.1.1.1", "i"]),
    /--dns and --add-host/,
  );
  assert.throws(
    () => parseRunArgs(["--security-opt", "label=x", "i"]),
    /unsupported --security-opt "label=x"/,
  );
  assert.throws(() => parseRunArgs(["--ulimit", "bogus=1", "i"]), /Invalid ulimit "bogus=1"/);
  assert.throws(() => parseRunArgs(["--tmpfs", "rel", "i"]), /Invalid --tmpfs "rel"/);
  const sec = parseRunArgs([
    "--security-opt",
    "no-new-privileges=false",
    "--security-opt",
    "seccomp=unconfined",
    "i",
  ]);
  assert.ok(sec !== "help" && sec.noNewPrivileges === false && sec.seccomp === "unconfined");
  assert.throws(() => parseRunArgs(["--rootfs-rw", "i"]), /--rootfs-rw needs --rootfs DIR/);
});

Deno.test("parseVolume() and parseEnv() reject malformed values", () => {
  assert.throws(() => parseVolume("/only"), ConfigError);
  assert.throws(() => parseVolume("rel:/c"), /host path must be absolute/);
  assert.throws(() => parseVolume("/h:rel"), /container path must be absolute/);
  assert.throws(() => parseVolume("/h:/c:rx"), /unknown mode "rx"/);
  assert.equal(parseEnv("A=b=c", () => undefined), "A=b=c");
  assert.equal(parseEnv("HOME", (k) => k === "HOME" ? "/h" : undefined), "HOME=/h");
  assert.equal(parseEnv("UNSET", () => undefined), undefined);
  assert.throws(() => parseEnv("=x", () => undefined), /the name is empty/);
});

Deno.test("buildRunSpec() makes the namespaces, mounts and environment docker users expect", () => {
  const spec = buildRunSpec(
    {
      image: "i",
      command: [],
      env: ["PATH=/x", "A=1"],
      volumes: [],
      readOnly: true,
      rootfsRw: false,
      network: "none",
    },
    {
      id: "0123456789abcdef",
      rootfs: "/c/rootfs",
      etc: { hostname: "/c/h", hosts: "/c/hs", resolvConf: "/c/r" },
    },
  );
  assert.deepEqual(spec.process?.args, ["/bin/sh"]);
  assert.equal(spec.hostname, "0123456789ab");
  assert.deepEqual(spec.process?.env, ["PATH=/x", "HOSTNAME=0123456789ab", "HOME=/root", "A=1"]);
  assert.deepEqual(spec.linux?.namespaces?.map((n) => n.type), [
    "pid",
    "mount",
    "uts",
    "ipc",
    "cgroup",
    "network",
  ]);
  assert.equal(spec.root?.readonly, true);
  assert.deepEqual(spec.mounts?.map((m) => m.destination), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
  ]);
});

Deno.test("--explain takes a value only as --explain=FILE; off, no call table is wrapped", async () => {
  const { parseArgs } = await import("../../../runtime/cli/args.ts");
  const spec = [{ long: "explain", optionalValue: true, help: "x" }];
  const bare = parseArgs(["--explain", "img", "cmd"], spec, "run");
  assert.ok(bare.flags.has("explain"));
  assert.equal(bare.values.get("explain"), undefined);
  assert.deepEqual(bare.rest, ["img", "cmd"]);
  const file = parseArgs(["--explain=/tmp/x", "img"], spec, "run");
  assert.deepEqual(file.values.get("explain"), ["/tmp/x"]);
  assert.deepEqual(file.rest, ["img"]);
  // Costs nothing when off: the tables hold the bare libc wrappers.
  const ffi = await import("../../../ffi/mod.ts");
  const { linuxSyscalls, processCalls, fsCalls } = await import("../../../runtime/syscalls.ts");
  const { explainCalls } = await import("../../../runtime/explain.ts");
  explainCalls(processCalls, fsCalls, linuxSyscalls); // not explaining: a no-op
  assert.equal(processCalls.unshare, ffi.unshare);
  assert.equal(processCalls.execveFd, ffi.execveFd);
  assert.equal(fsCalls.mkdirat, ffi.mkdirat);
  assert.equal(linuxSyscalls.mount, ffi.mount);
});

Deno.test("explain escapes control characters of names from the image", async () => {
  const { escapeControls } = await import("../../../runtime/explain.ts");
  assert.equal(escapeControls("a\x1b]52;c;x\x07b\nc\u009bd"), "a\\x1b]52;c;x\\x07b\\x0ac\\x9bd");
  assert.equal(escapeControls("plain /bin/sh"), "plain /bin/sh");
});

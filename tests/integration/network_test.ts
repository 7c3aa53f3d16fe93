/**
 * Bridge networking, for real: the bridge, veth pairs, addresses, routes,
 * NAT and published ports, inside network namespaces this test makes.
 *
 * Nothing here touches the machine's own network namespace. The test makes
 * two namespaces: "host" (where tinyo runs, through nsenter, and where its
 * bridge and firewall rules live) and "outside" (standing for the rest of
 * the world), joined by a veth pair: host 192.0.2.1/24, outside
 * 192.0.2.2/24 (TEST-NET-1, never routed anywhere). Packets go only between
 * those two, the containers, and loopback.
 */

import assert from "node:assert/strict";
import {
  ALPINE_320,
  IGNORE_ROOT,
  leftovers,
  listDir,
  makeRoot,
  tinyoArgv,
  waitFor,
} from "../helpers/tinyo.ts";

const opts = { ignore: IGNORE_ROOT, sanitizeResources: false, sanitizeOps: false };
const ROOT = IGNORE_ROOT ? "" : makeRoot("tinyo-net-");
const IMG = ALPINE_320;
const TAG = crypto.randomUUID().slice(0, 6);
const HOST_NS = `tinyo-h-${TAG}`;
const OUT_NS = `tinyo-o-${TAG}`;
const HOST_IP = "192.0.2.1";
const OUT_IP = "192.0.2.2";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const dec = new TextDecoder();

function runSync(cmd: string, args: string[]): Result {
  const out = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).outputSync();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function must(cmd: string, args: string[]): string {
  const r = runSync(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Runs `cmd` in namespace `ns` (network only: mounts and files are the test's). */
function inNs(ns: string, cmd: string[]): string[] {
  return ["nsenter", `--net=/run/netns/${ns}`, "--", ...cmd];
}

/** The two namespaces and the link between them. */
function makeNamespaces(): void {
  must("ip", ["netns", "add", HOST_NS]);
  must("ip", ["netns", "add", OUT_NS]);
  must("ip", ["-n", HOST_NS, "link", "add", "up0", "type", "veth", "peer", "name", "out0", "netns", OUT_NS]);
  for (const [ns, dev, ip] of [[HOST_NS, "up0", HOST_IP], [OUT_NS, "out0", OUT_IP]] as const) {
    must("ip", ["-n", ns, "link", "set", "lo", "up"]);
    must("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", dev]);
    must("ip", ["-n", ns, "link", "set", dev, "up"]);
  }
}

/** Deletes the test's namespaces (and with them its bridge, veths and rules) and its root. */
function removeNamespaces(): void {
  for (const ns of [HOST_NS, OUT_NS]) {
    if (listDir("/run/netns").includes(ns)) must("ip", ["netns", "del", ns]);
  }
  Deno.removeSync(ROOT, { recursive: true });
}

if (!IGNORE_ROOT) {
  makeNamespaces();
  // Also when a --filter left out the last test.
  globalThis.addEventListener("unload", () => {
    try {
      removeNamespaces();
    } catch {
      // Removed by the last test.
    }
  });
}

/** tinyo, run in the "host" namespace. */
async function tinyo(args: string[]): Promise<Result> {
  const out = await new Deno.Command("nsenter", {
    args: inNs(HOST_NS, [Deno.execPath(), ...tinyoArgv(ROOT, args)]).slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A command in a namespace (busybox for nc). */
async function inNamespace(ns: string, cmd: string[], stdin?: string): Promise<Result> {
  const child = new Deno.Command("nsenter", {
    args: inNs(ns, cmd).slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts a detached container; returns its id. */
async function detached(args: string[]): Promise<string> {
  const r = await tinyo(["run", "-d", ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function record(id: string): { network?: { ip?: string; veth: string; ports?: { hostPort: number }[] } } {
  return JSON.parse(Deno.readTextFileSync(`${ROOT}/state/${id}.json`));
}

/** Links of the "host" namespace, by name. */
function hostLinks(): string[] {
  return must("ip", ["-n", HOST_NS, "-o", "link", "show"]).split("\n").filter((l) => l !== "")
    .map((l) => l.split(": ")[1]!.split("@")[0]!);
}

/** iptables-save of the "host" namespace. */
function hostRules(): string {
  return must("nsenter", inNs(HOST_NS, ["iptables-save"]).slice(1));
}

/** Everything of containers that must be gone once they are: veths, rules with ids, leases, pins. */
function networkLeftovers(): string[] {
  const problems = leftovers(ROOT);
  const veths = hostLinks().filter((l) => l.startsWith("tv"));
  if (veths.length > 0) problems.push(`veths left: ${veths.join(", ")}`);
  const rules = hostRules().split("\n").filter((l) => l.includes("tinyo:"));
  if (rules.length > 0) problems.push(`rules left: ${rules.join(" | ")}`);
  return problems;
}

/**
 * A TCP listener in a namespace (a Deno process, so that it can report the
 * peer's address): prints `listening`, then `from ADDR: TEXT` per connection.
 */
function listen(
  ns: string,
  port: number,
  reply = "pong",
  hostname = "0.0.0.0",
): { out: Promise<Result>; child: Deno.ChildProcess } {
  const code = `const l = Deno.listen({ hostname: "${hostname}", port: ${port} }); console.log("listening");
    for await (const c of l) { const buf = new Uint8Array(100); const n = await c.read(buf) ?? 0;
      console.log("from " + c.remoteAddr.hostname + ": " + new TextDecoder().decode(buf.subarray(0, n)).trim());
      await c.write(new TextEncoder().encode("${reply}\\n")); c.close(); }`;
  const child = new Deno.Command("nsenter", {
    args: inNs(ns, [Deno.execPath(), "eval", code]).slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.output().then((o) => ({
    code: o.code,
    stdout: dec.decode(o.stdout),
    stderr: dec.decode(o.stderr),
  }));
  return { out, child };
}

/** Connects with busybox nc from namespace `ns`, sends `text`, returns the reply. */
async function ask(ns: string, host: string, port: number, text = "ping"): Promise<string> {
  const r = await inNamespace(ns, ["busybox", "nc", "-w", "3", host, String(port)], `${text}\n`);
  return r.stdout.trim();
}

Deno.test("bridge: eth0 with an address, a default route, /etc/hosts and resolv.conf", opts, async () => {
  const r = await tinyo([
    "run",
    "--network",
    "bridge",
    "--hostname",
    "web",
    "--add-host",
    "db.local:192.0.2.7",
    "--dns",
    "192.0.2.53",
    IMG,
    "sh",
    "-c",
    "ip -o -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf; ip -o link | wc -l; " +
    "echo v6off=$(cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6)",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /eth0\s+inet 10\.210\.0\.(\d+)\/16 /);
  const ip = /inet (10\.210\.0\.\d+)\//.exec(r.stdout)![1]!;
  assert.match(r.stdout, /^default via 10\.210\.0\.1 dev eth0/m);
  assert.match(r.stdout, new RegExp(`^${ip.replaceAll(".", "\\.")}\\tweb$`, "m"));
  assert.match(r.stdout, /^192\.0\.2\.7\tdb\.local$/m);
  assert.match(r.stdout, /^nameserver 192\.0\.2\.53$/m);
  assert.match(r.stdout, /^2$/m, "lo and eth0 only");
  // No IPv6 on either side: no router advertisements to fall for (CVE-2020-13401).
  assert.match(r.stdout, /^v6off=1$/m);
  assert.equal(
    must("nsenter", inNs(HOST_NS, ["cat", "/proc/sys/net/ipv6/conf/tinyo0/disable_ipv6"]).slice(1)).trim(),
    "1",
  );
  // The host side: the bridge holds the gateway; the container's veth is gone with it.
  assert.match(must("ip", ["-n", HOST_NS, "-o", "-4", "addr", "show", "tinyo0"]), /10\.210\.0\.1\/16/);
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test(
  "bridge: an early init joins the network namespace made after it (passed as a descriptor)",
  opts,
  async () => {
    // The init is spawned before the runtime pins the namespace; its mount
    // namespace is a copy from before the pin existed, so the pin's path
    // shows it an empty file (setns: EINVAL) and the descriptor must travel.
    const timeline = `${ROOT}/timeline-bridge.jsonl`;
    try {
      const out = await new Deno.Command("nsenter", {
        args: inNs(HOST_NS, [
          Deno.execPath(),
          ...tinyoArgv(ROOT, ["run", "--network", "bridge", IMG, "ip", "-o", "-4", "addr"]),
        ])
          .slice(1),
        env: { TINYO_TIMELINE: timeline },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.match(dec.decode(out.stdout), /eth0\s+inet 10\.210\.0\.\d+\/16 /);
      const steps = Deno.readTextFileSync(timeline).trim().split("\n").map((l) =>
        JSON.parse(l).step as string
      );
      assert.ok(steps.includes("early init spawned"), steps.join(", "));
      assert.equal(steps.filter((s) => s === "spawn").length, 1, "one init, the early one");
    } finally {
      try {
        Deno.removeSync(timeline);
      } catch {
        // Never written.
      }
    }
    assert.deepEqual(networkLeftovers(), []);
  },
);

Deno.test("bridge is the default; --network none is loopback only", opts, async () => {
  // tinyoArgv names --network none for the other suites: bypass it here.
  const argv = [
    ...tinyoArgv(ROOT, ["version"]).slice(0, -1),
    "run",
    IMG,
    "ip",
    "-o",
    "-4",
    "addr",
    "show",
    "eth0",
  ];
  const out = await new Deno.Command("nsenter", {
    args: inNs(HOST_NS, [Deno.execPath(), ...argv]).slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.match(dec.decode(out.stdout), /inet 10\.210\.0\.\d+\/16/);
  const none = await tinyo(["run", "--network", "none", IMG, "sh", "-c", "ip -o link | cut -d: -f2"]);
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(none.stdout.trim().split("\n").map((l) => l.trim()), ["lo"]);
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test("bridge: containers reach each other by address", opts, async () => {
  const server = await detached(["--network", "bridge", IMG, "sh", "-c", "echo hello | nc -l -p 7000"]);
  try {
    const ip = record(server).network!.ip!;
    // The server listens a moment after it starts: try a few times.
    let got = "";
    for (let i = 0; i < 20 && got === ""; i++) {
      const r = await tinyo(["run", "--network", "bridge", IMG, "sh", "-c", `nc -w 2 ${ip} 7000 </dev/null`]);
      got = r.stdout.trim();
      if (got === "") await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(got, "hello");
  } finally {
    await tinyo(["rm", "-f", server]);
  }
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test("outbound: masqueraded, the outside sees the host's address", opts, async () => {
  const l = listen(OUT_NS, 9000);
  try {
    const r = await tinyo([
      "run",
      "--network",
      "bridge",
      IMG,
      "sh",
      "-c",
      `for i in 1 2 3 4 5 6 7 8 9 10; do echo hi | nc -w 2 ${OUT_IP} 9000 && break; sleep 0.2; done`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "pong");
  } finally {
    l.child.kill("SIGTERM");
  }
  const out = await l.out;
  assert.match(out.stdout, new RegExp(`^from ${HOST_IP.replaceAll(".", "\\.")}: hi$`, "m"), out.stdout);
  assert.doesNotMatch(out.stdout, /from 10\.210\./);
});

Deno.test(
  "published TCP port: from outside, from the host (own address, 127.0.0.1), from another container",
  opts,
  async () => {
    const id = await detached([
      "--network",
      "bridge",
      "-p",
      "8080:80",
      IMG,
      "sh",
      "-c",
      "while true; do echo served | nc -l -p 80; done",
    ]);
    try {
      const rules = hostRules();
      assert.match(rules, new RegExp(`--dport 8080 .*tinyo:${id}.* --to-destination 10\\.210\\.0\\.\\d+:80`));
      const port = await tinyo(["port", id]);
      assert.equal(port.stdout.trim(), "80/tcp -> 0.0.0.0:8080");
      const ps = await tinyo(["ps"]);
      assert.match(ps.stdout, /0\.0\.0\.0:8080->80\/tcp/);
      const attempts = async (ns: string, host: string): Promise<string> => {
        for (let i = 0; i < 20; i++) {
          const got = await ask(ns, host, 8080);
          if (got === "served") return got;
          await new Promise((r) => setTimeout(r, 100));
        }
        return "";
      };
      assert.equal(await attempts(OUT_NS, HOST_IP), "served", "from the outside world");
      assert.equal(await attempts(HOST_NS, HOST_IP), "served", "from the host to its own address");
      assert.equal(await attempts(HOST_NS, "127.0.0.1"), "served", "from the host to 127.0.0.1");
      const other = await tinyo([
        "run",
        "--network",
        "bridge",
        IMG,
        "sh",
        "-c",
        // The server's nc listens again a moment after each connection: retry.
        `for h in ${HOST_IP} 10.210.0.1; do for i in 1 2 3 4 5 6 7 8 9 10; do ` +
        `r=$(nc -w 2 $h 8080 </dev/null); [ -n "$r" ] && echo "$r" && break; sleep 0.1; done; done`,
      ]);
      assert.equal(other.stdout.trim(), "served\nserved", `from another container: ${other.stderr}`);
    } finally {
      await tinyo(["rm", "-f", id]);
    }
    assert.deepEqual(networkLeftovers(), []);
  },
);

Deno.test(
  "published UDP ports reach the container from outside and from the host's 127.0.0.1; -p CTRPORT picks a port",
  opts,
  async () => {
    // busybox nc -u -l answers its first peer only: one listener per sender.
    const id = await detached([
      "--network",
      "bridge",
      "-p",
      "5353:53/udp",
      "-p",
      "5354:54/udp",
      "-p",
      "81",
      IMG,
      "sh",
      "-c",
      "nc -u -l -p 54 & exec nc -u -l -p 53",
    ]);
    try {
      const ports = record(id).network!.ports!;
      assert.equal(ports.length, 3);
      const picked = ports[2]!.hostPort;
      assert.ok(picked > 0 && picked !== 81, `picked ${picked}`);
      const port = await tinyo(["port", id, "81"]);
      assert.equal(port.stdout.trim(), `0.0.0.0:${picked}`);
      for (let i = 0; i < 20; i++) {
        // Debian's busybox nc has no UDP: bash's /dev/udp sends one datagram.
        await inNamespace(OUT_NS, ["bash", "-c", `echo from-outside > /dev/udp/${HOST_IP}/5353`]);
        await inNamespace(HOST_NS, ["bash", "-c", "echo from-host > /dev/udp/127.0.0.1/5354"]);
        await new Promise((r) => setTimeout(r, 100));
        const logs = await tinyo(["logs", id]);
        if (logs.stdout.includes("from-outside") && logs.stdout.includes("from-host")) break;
        if (i === 19) assert.fail(`the datagrams never arrived: ${JSON.stringify(logs)}`);
      }
    } finally {
      await tinyo(["rm", "-f", id]);
    }
    assert.deepEqual(networkLeftovers(), []);
  },
);

Deno.test(
  "twenty containers started at once get twenty addresses; rm releases everything",
  opts,
  async () => {
    const ids = await Promise.all(
      Array.from({ length: 20 }, () => detached(["--network", "bridge", IMG, "sleep", "60"])),
    );
    try {
      const ips = ids.map((id) => record(id).network!.ip!);
      assert.equal(new Set(ips).size, 20, ips.join(" "));
      assert.equal(listDir(`${ROOT}/state/networks/bridge/leases`).length, 20);
      assert.equal(hostLinks().filter((l) => l.startsWith("tv")).length, 20);
    } finally {
      const r = await tinyo(["rm", "-f", ...ids]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(networkLeftovers(), []);
  },
);

Deno.test("--rm and a SIGKILLed tinyo leave no veth, rule, lease or pin", opts, async () => {
  const gone = await detached(["--rm", "--network", "bridge", "-p", "8090:80", IMG, "true"]);
  await waitFor(() => !listDir(`${ROOT}/state`).includes(`${gone}.json`), 10_000, "--rm");
  // conmon's exit command (tinyo cleanup) may still be on its way out.
  await waitFor(() => networkLeftovers().length === 0, 10_000, `clean: ${networkLeftovers().join("; ")}`);
  // A foreground tinyo killed while its container runs.
  const child = new Deno.Command("nsenter", {
    args: inNs(HOST_NS, [
      Deno.execPath(),
      ...tinyoArgv(ROOT, ["run", "--network", "bridge", "-p", "8091:80", IMG, "sleep", "60"]),
    ]).slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitFor(() => hostRules().includes("--dport 8091"), 20_000, "the port rule");
  // nsenter execs tinyo in place: the child is tinyo itself.
  child.kill("SIGKILL");
  await child.status;
  // Any next command (here ps) collects what it left.
  const ps = await tinyo(["ps", "-a"]);
  assert.equal(ps.code, 0, ps.stderr);
  await waitFor(() => networkLeftovers().length === 0, 10_000, `clean: ${networkLeftovers().join("; ")}`);
});

Deno.test(
  "attack: a container cannot reach the host's 127.0.0.1 services through the bridge (CVE-2020-8558)",
  opts,
  async () => {
    // route_localnet on tinyo0 (needed to publish on 127.0.0.1) also makes
    // the host accept packets for 127.0.0.1 that arrive from the bridge.
    // Any container with NET_RAW (in the default set) can write such frames
    // by hand; here a privileged one has its own kernel send them (its
    // loopback gone, 127.0.0.1 routed to the gateway, route_localnet on its
    // eth0, which only its own sender-side check needed). The host must
    // drop them whatever the sender.
    const l = listen(HOST_NS, 9999, "secret", "127.0.0.1");
    let r: Result;
    try {
      r = await tinyo([
        "run",
        "--network",
        "bridge",
        "--privileged",
        IMG,
        "sh",
        "-c",
        "ip addr flush dev lo && echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet && " +
        "ip route add 127.0.0.1/32 via 10.210.0.1 && ip route get 127.0.0.1 && " +
        "for i in 1 2 3; do echo probe | nc -w 1 127.0.0.1 9999 && break; sleep 0.2; done; echo done",
      ]);
    } finally {
      l.child.kill("SIGTERM");
    }
    const out = await l.out;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^127\.0\.0\.1 via 10\.210\.0\.1 dev eth0/m, "the probe's route was set up");
    assert.match(r.stdout, /done/);
    assert.doesNotMatch(r.stdout, /secret/, "the container got an answer from the host's loopback service");
    assert.doesNotMatch(out.stdout, /from /, `the host's loopback service saw the container: ${out.stdout}`);
    // A firewall reload removes the guard while route_localnet stays on: the
    // next container (no published port) puts it back before it runs.
    must("nsenter", inNs(HOST_NS, ["iptables", "-t", "raw", "-F"]).slice(1));
    must("nsenter", inNs(HOST_NS, ["iptables", "-t", "raw", "-X"]).slice(1));
    const again = await tinyo(["run", "--network", "bridge", IMG, "true"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      must("nsenter", inNs(HOST_NS, ["iptables-save", "-t", "raw"]).slice(1)),
      /-A TINYO-PREROUTING -d 127\.0\.0\.0\/8 -i tinyo0 -j DROP/,
    );
  },
);

Deno.test(
  "attack: a neighbour routing the subnet through the host reaches published ports only",
  opts,
  async () => {
    // The outside world's namespace routes 10.210.0.0/16 through the host (as
    // a machine on the LAN could); forwarding is on once a container ran.
    must("ip", ["-n", OUT_NS, "route", "add", "10.210.0.0/16", "via", HOST_IP]);
    const id = await detached([
      "--network",
      "bridge",
      "-p",
      "8087:80",
      IMG,
      "sh",
      "-c",
      "(while true; do echo private | nc -l -p 7001; done) & while true; do echo public | nc -l -p 80; done",
    ]);
    try {
      const ip = record(id).network!.ip!;
      let published = "";
      for (let i = 0; i < 20 && published !== "public"; i++) {
        published = await ask(OUT_NS, HOST_IP, 8087);
        if (published !== "public") await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(published, "public", "the published port works from outside");
      // The container's own address and an unpublished port: dropped.
      assert.equal(await ask(OUT_NS, ip, 7001), "", "an unpublished port answered a neighbour");
      assert.equal(await ask(OUT_NS, ip, 80), "", "the container's address answered a neighbour directly");
    } finally {
      must("ip", ["-n", OUT_NS, "route", "del", "10.210.0.0/16"]);
      await tinyo(["rm", "-f", id]);
    }
    assert.deepEqual(networkLeftovers(), []);
  },
);

Deno.test("a stale port rule of a container without a record never shadows a new one", opts, async () => {
  // As an iptables-restore that outlived a SIGKILLed tinyo would leave it.
  const ghost = "f".repeat(64);
  await tinyo(["run", "--network", "bridge", IMG, "true"]); // the bridge and its chains
  const batch = "*nat\n-A TINYO-DNAT -p tcp -m tcp --dport 8096 -m comment --comment tinyo:" + ghost +
    " -j DNAT --to-destination 10.210.9.9:80\nCOMMIT\n";
  const restore = await inNamespace(HOST_NS, ["iptables-restore", "--noflush"], batch);
  assert.equal(restore.code, 0, restore.stderr);
  const id = await detached([
    "--network",
    "bridge",
    "-p",
    "8096:80",
    IMG,
    "sh",
    "-c",
    "while true; do echo fresh | nc -l -p 80; done",
  ]);
  try {
    assert.ok(!hostRules().includes(ghost), "the stale rule is gone");
    let got = "";
    for (let i = 0; i < 20 && got !== "fresh"; i++) {
      got = await ask(OUT_NS, HOST_IP, 8096);
      if (got !== "fresh") await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got, "fresh");
  } finally {
    await tinyo(["rm", "-f", id]);
  }
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test("the host reaches its own gateway address (raw guards let lo through)", opts, async () => {
  await tinyo(["run", "--network", "bridge", IMG, "true"]);
  const l = listen(HOST_NS, 9998, "gw", "10.210.0.1");
  try {
    let got = "";
    for (let i = 0; i < 20 && got !== "gw"; i++) {
      got = await ask(HOST_NS, "10.210.0.1", 9998);
      if (got !== "gw") await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got, "gw");
  } finally {
    l.child.kill("SIGTERM");
    await l.out;
  }
});

Deno.test("a bridged run SIGKILLed at random moments: the next command leaves nothing", opts, async () => {
  const rounds = Number(Deno.env.get("TINYO_KILL_ROUNDS") ?? "8");
  for (let i = 0; i < rounds; i++) {
    // The same host port every round: the garbage collection must free it.
    const argv = tinyoArgv(ROOT, ["run", "--network", "bridge", "-p", "8095:80", IMG, "sleep", "30"]);
    const child = new Deno.Command("nsenter", {
      args: inNs(HOST_NS, [Deno.execPath(), ...argv]).slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, i < 2 ? i * 40 : Math.floor(Math.random() * 900)));
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    await child.status;
  }
  const ps = await tinyo(["ps", "-a"]);
  assert.equal(ps.code, 0, ps.stderr);
  await waitFor(() => networkLeftovers().length === 0, 10_000, `clean: ${networkLeftovers().join("; ")}`);
  // And the port is free again.
  const again = await tinyo(["run", "--network", "bridge", "-p", "8095:80", IMG, "true"]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test(
  "a released address is not handed out again at once (tracked flows must not reach a newcomer)",
  opts,
  async () => {
    const first = await detached(["--network", "bridge", IMG, "sleep", "60"]);
    const ip = record(first).network!.ip!;
    await tinyo(["rm", "-f", first]);
    const next = await detached(["--network", "bridge", IMG, "sleep", "60"]);
    try {
      assert.notEqual(record(next).network!.ip, ip, "the address just released went to the next container");
    } finally {
      await tinyo(["rm", "-f", next]);
    }
    assert.deepEqual(networkLeftovers(), []);
  },
);

Deno.test("bad network input: one line, exit 125, nothing left", opts, async () => {
  const cases: [string[], RegExp][] = [
    [["-p", "70000:80"], /^tinyo: Invalid -p "70000:80": port 70000 is not in 1-65535$/],
    [
      ["--ip", "10.99.0.5"],
      /^tinyo: Invalid --ip 10\.99\.0\.5: not a container address of the network's subnet 10\.210\.0\.0\/16/,
    ],
    [["--network", "nosuch"], /^tinyo run: unknown network "nosuch"/],
    [["--network", "none", "-p", "80"], /^tinyo run: -p needs the bridge network/],
  ];
  for (const [flags, message] of cases) {
    const r = await tinyo([
      "run",
      ...(flags.includes("--network") ? [] : ["--network", "bridge"]),
      ...flags,
      IMG,
      "true",
    ]);
    assert.equal(r.code, 125, `${flags.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr.trim(), message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.deepEqual(networkLeftovers(), [], flags.join(" "));
  }
  // A UDP port something on the host holds (here a python socket): refused.
  const holder = new Deno.Command("nsenter", {
    args: inNs(HOST_NS, [
      "python3",
      "-c",
      "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.53', 5399)); " +
      "print('bound', flush=True); time.sleep(30)",
    ]).slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = holder.stdout.getReader();
    await reader.read();
    reader.releaseLock();
    const r = await tinyo(["run", "--network", "bridge", "-p", "5399:53/udp", IMG, "true"]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr.trim(), /^tinyo: Cannot publish 0\.0\.0\.0:5399\/udp: the host port is in use$/);
    assert.deepEqual(networkLeftovers(), []);
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
  }
  // A port another container publishes: refused, and the first keeps it.
  const first = await detached(["--network", "bridge", "-p", "8085:80", IMG, "sleep", "60"]);
  try {
    const r = await tinyo(["run", "--network", "bridge", "-p", "8085:8000", IMG, "true"]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(
      r.stderr.trim(),
      /^tinyo: Cannot publish 0\.0\.0\.0:8085\/tcp: another container already publishes it$/,
    );
    assert.equal(listDir(`${ROOT}/state/networks/bridge/leases`).length, 1);
    assert.equal(hostLinks().filter((l) => l.startsWith("tv")).length, 1);
    assert.equal(hostRules().split("\n").filter((l) => l.includes("tinyo:")).length, 1);
    // A fixed address that is taken.
    const ip = record(first).network!.ip!;
    const taken = await tinyo(["run", "--network", "bridge", "--ip", ip, IMG, "true"]);
    assert.equal(taken.code, 125);
    assert.match(
      taken.stderr,
      new RegExp(
        `Cannot use --ip ${ip.replaceAll(".", "\\.")}: it is taken by container ${first.slice(0, 12)}`,
      ),
    );
  } finally {
    await tinyo(["rm", "-f", first]);
  }
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test("--ip, --mac-address; network ls and inspect; prune restores the host", opts, async () => {
  const r = await tinyo([
    "run",
    "--network",
    "bridge",
    "--ip",
    "10.210.3.4",
    "--mac-address",
    "02:42:0a:d2:03:04",
    IMG,
    "sh",
    "-c",
    "ip -o -4 addr show eth0; cat /sys/class/net/eth0/address",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /inet 10\.210\.3\.4\/16/);
  assert.match(r.stdout, /^02:42:0a:d2:03:04$/m);
  const ls = await tinyo(["network", "ls"]);
  assert.match(ls.stdout, /^bridge\s+bridge\s+10\.210\.0\.0\/16\s+10\.210\.0\.1\s+tinyo0\s+0$/m);
  const inspect = JSON.parse((await tinyo(["network", "inspect"])).stdout);
  assert.equal(inspect[0].subnet, "10.210.0.0/16");
  assert.equal(inspect[0].exists, true);
  // The test's host namespace started with forwarding off; tinyo turned it on.
  assert.equal(must("nsenter", inNs(HOST_NS, ["cat", "/proc/sys/net/ipv4/ip_forward"]).slice(1)).trim(), "1");
  const prune = await tinyo(["network", "prune"]);
  assert.equal(prune.code, 0, prune.stderr);
  assert.ok(!hostLinks().includes("tinyo0"), hostLinks().join(" "));
  assert.doesNotMatch(hostRules(), /TINYO/);
  assert.equal(must("nsenter", inNs(HOST_NS, ["cat", "/proc/sys/net/ipv4/ip_forward"]).slice(1)).trim(), "0");
  assert.deepEqual(hostLinks().sort(), ["lo", "up0"]);
});

Deno.test("a configured subnet; a bridge with another address is refused", opts, async () => {
  Deno.writeTextFileSync(`${ROOT}/network.json`, JSON.stringify({ subnet: "10.211.8.0/24" }));
  try {
    const r = await tinyo(["run", "--network", "bridge", IMG, "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /inet 10\.211\.8\.2\/24/);
    Deno.writeTextFileSync(`${ROOT}/network.json`, JSON.stringify({ subnet: "10.212.0.0/16" }));
    const clash = await tinyo(["run", "--network", "bridge", IMG, "true"]);
    assert.equal(clash.code, 125);
    assert.match(
      clash.stderr,
      /^tinyo: Cannot use bridge tinyo0: it has 10\.211\.8\.1\/24, the network wants 10\.212\.0\.1\/16/,
    );
    assert.deepEqual(networkLeftovers(), []);
    Deno.writeTextFileSync(`${ROOT}/network.json`, '{"subnet": "10.1.2.3/16"}');
    const bad = await tinyo(["run", "--network", "bridge", IMG, "true"]);
    assert.equal(bad.code, 125);
    assert.match(
      bad.stderr,
      /Invalid network configuration .*network\.json: 10\.1\.2\.3\/16 has host bits set/,
    );
  } finally {
    Deno.removeSync(`${ROOT}/network.json`);
    await tinyo(["network", "prune"]);
  }
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test("another --root can neither use nor prune this root's bridge", opts, async () => {
  const id = await detached(["--network", "bridge", IMG, "sleep", "60"]);
  const other = makeRoot("tinyo-net-other-");
  const inOther = async (args: string[]): Promise<Result> => {
    const out = await new Deno.Command("nsenter", {
      args: inNs(HOST_NS, [Deno.execPath(), ...tinyoArgv(other, args)]).slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  try {
    // Its leases would start at the same first address as ours.
    const run = await inOther(["run", "-q", "--network", "bridge", IMG, "true"]);
    assert.equal(run.code, 125, run.stderr);
    assert.match(
      run.stderr,
      /^tinyo: Cannot use bridge tinyo0: it belongs to the tinyo state in .*tinyo-net-.*\/state \(another --root\)/,
    );
    const prune = await inOther(["network", "prune"]);
    assert.equal(prune.code, 125, prune.stderr);
    assert.ok(hostLinks().includes("tinyo0"));
    assert.equal(hostLinks().filter((l) => l.startsWith("tv")).length, 1);
    assert.deepEqual(leftovers(other), []);
  } finally {
    await tinyo(["rm", "-f", id]);
    Deno.removeSync(other, { recursive: true });
  }
  assert.deepEqual(networkLeftovers(), []);
});

Deno.test("network namespaces of the test are removed", opts, () => {
  removeNamespaces();
  assert.ok(!listDir("/run/netns").includes(HOST_NS));
});

/**
 * `deno task bench [ITERATIONS]`: start-up latency and peak memory of
 * `tinyo run <cached alpine> /bin/true` beside `runc run` and `crun run`
 * on OCI bundles built from the same Alpine tarball, interleaved in one run
 * (tinyo, runc, crun, tinyo, runc, crun, ...), so machine noise hits all
 * three alike. Prints the machine, medians and the ratios tinyo/runc and
 * tinyo/crun, and the peak RSS of the largest process of each runtime (GNU
 * time's %M: the ru_maxrss of the waited-for descendants).
 *
 * tinyo is measured as `deno task install` installs it (the launcher running
 * the bundle of tasks/build.ts, installed into a prefix of the bench's own),
 * or the compiled dist/tinyo when there is one.
 *
 * Needs root, runc, crun and GNU time (apt-get install runc crun time). crun 1.8
 * refuses this machine's hybrid cgroup layout, so it runs through
 * ../shared/oci/crun-hybrid.sh (a private mount namespace without the cgroup2
 * mount; its unshare+sh wrapper adds a few ms, reported separately).
 *
 * Then: unpacking against `tar -xzf`; a timeline of where a run's time goes
 * (TINYO_TIMELINE: both processes' steps); as an OCI runtime, the sequence
 * `create` + `start` + `delete --force` on the same bundle and, with podman
 * installed, `podman run --rm --runtime R IMAGE true` (a private podman
 * configuration and storage in the work directory, the image imported from
 * the tarball, network none), each for tinyo, runc and crun, interleaved; 50
 * containers started at once; the memory a detached container costs beyond
 * itself (its conmon); the bridge network, inside a network namespace the
 * bench makes (tinyo's own set-up and release times, and `tinyo run` with
 * --network none beside --network bridge). Last, the performance issue's
 * targets, each with its measure, met or not.
 */

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SHARED = fileURLToPath(new URL("../../shared/", import.meta.url));
const TARBALL = `${SHARED}rootfs/alpine-minirootfs-3.20.3-x86_64.tar.gz`;
const N = Number(Deno.args[0] ?? 30);
const dec = new TextDecoder();

function which(cmd: string): string | undefined {
  const out = new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`] }).outputSync();
  return out.success ? dec.decode(out.stdout).trim() : undefined;
}

function must(cmd: string, args: string[]): void {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${dec.decode(out.stderr)}`);
}

// GNU time reports the peak RSS (KiB) of the largest waited-for process; it
// forks itself (a tiny C program), so its floor is about 2 MiB for everyone.
function timed(argv: string[]): { ms: number; rssKiB: number } {
  const t0 = performance.now();
  const out = new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", ...argv],
    stdout: "null",
    stderr: "piped",
  })
    .outputSync();
  const ms = performance.now() - t0;
  const err = dec.decode(out.stderr).trim().split("\n");
  if (!out.success) throw new Error(`${argv.join(" ")} exited ${out.code}: ${err.join(" ")}`);
  return { ms, rssKiB: Number(err.at(-1)) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Runs `argv` and returns its wall time (ms); throws on failure. stdout is
 * discarded and stderr goes to a file: an OCI `create` hands its stdio to
 * the container, which holds it until it ends, so a pipe would never close.
 */
function wall(argv: string[], env?: Record<string, string>): number {
  const errFile = Deno.makeTempFileSync({ prefix: "tinyo-bench-err-" });
  try {
    const t0 = performance.now();
    const out = new Deno.Command("/bin/sh", {
      args: ["-c", `exec "$@" 2>'${errFile}'`, "sh", ...argv],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      ...(env ? { env } : {}),
    }).outputSync();
    const ms = performance.now() - t0;
    if (!out.success) {
      throw new Error(`${argv.join(" ")} exited ${out.code}: ${Deno.readTextFileSync(errFile).trim()}`);
    }
    return ms;
  } finally {
    Deno.removeSync(errFile);
  }
}

/** What the summary at the end lists: measure → [tinyo, runc] (ms or MiB). */
const summary = new Map<string, { tinyo: number; runc?: number; worst?: number }>();

/** Ratio lines "tinyo/runc = x, tinyo/crun = y" and a table of medians; `key` files it in the summary. */
function table(title: string, samples: Record<string, number[]>, key?: string): string[] {
  const names = Object.keys(samples);
  const med = (n: string): number => median(samples[n]!);
  if (key !== undefined) {
    summary.set(key, { tinyo: med("tinyo"), ...(samples.runc ? { runc: med("runc") } : {}) });
  }
  return [
    title,
    "",
    "| runtime | median ms | min ms | max ms |",
    "|---|---|---|---|",
    ...names.map((n) =>
      `| ${n} | ${med(n).toFixed(1)} | ${Math.min(...samples[n]!).toFixed(1)} | ${
        Math.max(...samples[n]!).toFixed(1)
      } |`
    ),
    "",
    names.filter((n) => n !== "tinyo").map((n) => `tinyo/${n} = ${(med("tinyo") / med(n)).toFixed(2)}`).join(
      ", ",
    ),
    "",
  ];
}

/**
 * tinyo as an OCI runtime beside runc and crun: create + start + delete on
 * one bundle, and podman run --rm --runtime. Returns the report's lines.
 */
function ociBenchmarks(work: string, bundle: string, tinyo: string, runc?: string, crun?: string): string[] {
  const runtimes: Record<string, string> = { tinyo };
  if (runc !== undefined) runtimes.runc = runc;
  if (crun !== undefined) runtimes.crun = `${SHARED}oci/crun-hybrid.sh`;
  const seq: Record<string, number[]> = {};
  const once = (name: string, bin: string, i: number): number => {
    const id = `seq-${name}-${i}`;
    const root = ["--root", `${work}/oci-${name}`];
    return wall([bin, ...root, "create", "--bundle", bundle, id]) + wall([bin, ...root, "start", id]) +
      wall([bin, ...root, "delete", "--force", id]);
  };
  for (const [name, bin] of Object.entries(runtimes)) once(name, bin, -1); // warm-up
  for (let i = 0; i < N; i++) {
    for (const [name, bin] of Object.entries(runtimes)) (seq[name] ??= []).push(once(name, bin, i));
  }
  const out = table(
    `OCI sequence create + start + delete --force (/bin/true), ${N} interleaved runs`,
    seq,
    "oci",
  );
  if (which("podman") === undefined) return [...out, "podman not installed: podman run not measured"];
  // A private podman: configuration, storage, run and tmp directories in the work directory.
  const d = `${work}/podman`;
  for (const sub of ["storage", "run", "tmp", "cni", "volumes"]) {
    Deno.mkdirSync(`${d}/${sub}`, { recursive: true });
  }
  // podman asks for nofile=1048576, which needs CAP_SYS_RESOURCE (missing in
  // some sandboxes): ask for this process's own hard limit (as podman-smoke.sh).
  const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(Deno.readTextFileSync("/proc/self/limits"))?.[1] ??
    "1024";
  const nofile = hard === "unlimited" ? "1048576" : hard;
  Deno.writeTextFileSync(
    `${d}/containers.conf`,
    `[containers]\nnetns = "none"\nlog_driver = "k8s-file"\n` +
      `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]\n` +
      `[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "${d}/events.log"\n` +
      `tmp_dir = "${d}/tmp"\nvolume_path = "${d}/volumes"\nstatic_dir = "${d}/storage/libpod"\n` +
      `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${d}/cni"\n`,
  );
  Deno.writeTextFileSync(
    `${d}/storage.conf`,
    `[storage]\ndriver = "vfs"\ngraphroot = "${d}/storage"\nrunroot = "${d}/run"\n`,
  );
  Deno.writeTextFileSync(`${d}/registries.conf`, "unqualified-search-registries = []\n");
  const env = {
    ...Deno.env.toObject(),
    CONTAINERS_CONF: `${d}/containers.conf`,
    CONTAINERS_STORAGE_CONF: `${d}/storage.conf`,
    CONTAINERS_REGISTRIES_CONF: `${d}/registries.conf`,
  };
  const image = "localhost/alpine:bench";
  const cgroupParent = `/tinyo-bench.${Deno.pid}`;
  try {
    wall(["podman", "import", "-q", TARBALL, image], env);
    const podman: Record<string, number[]> = {};
    const run = (bin: string): number =>
      wall(["podman", "--runtime", bin, "run", "--rm", "--cgroup-parent", cgroupParent, image, "true"], env);
    for (const bin of Object.values(runtimes)) run(bin); // warm-up
    for (let i = 0; i < N; i++) {
      for (const [name, bin] of Object.entries(runtimes)) (podman[name] ??= []).push(run(bin));
    }
    return [
      ...out,
      ...table(`podman run --rm --runtime R alpine true, ${N} interleaved runs`, podman, "podman"),
    ];
  } finally {
    new Deno.Command("podman", { args: ["rm", "-a", "-f"], env, stdout: "null", stderr: "null" })
      .outputSync();
    new Deno.Command("podman", { args: ["rmi", "-a", "-f"], env, stdout: "null", stderr: "null" })
      .outputSync();
    new Deno.Command("sh", {
      args: [
        "-c",
        `for c in /sys/fs/cgroup/*${cgroupParent} /sys/fs/cgroup/*/${cgroupParent.slice(1)}; do ` +
        `[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \\; ; done; ` +
        `awk '$5 ~ "^${d}" {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l; true`,
      ],
    }).outputSync();
  }
}

/**
 * Where a `tinyo run` goes: N runs with TINYO_TIMELINE (runtime/timeline.ts),
 * each step's median time after the bench started the command, and the
 * step before it (the time a step itself takes is the difference).
 */
function timelineBenchmark(tinyoArgv: string[], work: string): string[] {
  const samples = new Map<string, number[]>();
  const totals: number[] = [];
  for (let i = 0; i < N; i++) {
    const file = `${work}/timeline-${i}.jsonl`;
    const t0 = performance.timeOrigin + performance.now();
    const out = new Deno.Command(tinyoArgv[0]!, {
      args: tinyoArgv.slice(1),
      env: { ...Deno.env.toObject(), TINYO_TIMELINE: file },
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    totals.push(performance.timeOrigin + performance.now() - t0);
    if (!out.success) throw new Error(`timeline run failed: ${dec.decode(out.stderr)}`);
    for (const line of Deno.readTextFileSync(file).trim().split("\n")) {
      const { t, side, step } = JSON.parse(line) as { t: number; side: string; step: string };
      const key = `${side}: ${step}`;
      (samples.get(key) ?? samples.set(key, []).get(key)!).push(t - t0);
    }
  }
  const rows = [...samples].map(([key, xs]) => [key, median(xs)] as const).sort((a, b) => a[1] - b[1]);
  return [
    `Timeline of \`tinyo run --network none <cached alpine> /bin/true\` (TINYO_TIMELINE), medians of ${N}, ` +
    "ms after the bench started the command",
    "",
    "| step | at | since the step before |",
    "|---|---|---|",
    ...rows.map(([key, at], i) =>
      `| ${key} | ${at.toFixed(1)} | ${(at - (i > 0 ? rows[i - 1]![1] : 0)).toFixed(1)} |`
    ),
    `| the command returned | ${median(totals).toFixed(1)} | ${
      (median(totals) - (rows.at(-1)?.[1] ?? 0)).toFixed(1)
    } |`,
    "",
  ];
}

/**
 * The bridge network's cost, in a network namespace the bench makes (never
 * the machine's own): tinyo's own set-up and release timed inside its code
 * (tasks/bench_net.ts), and whole `tinyo run` commands with --network none
 * and bridge, interleaved.
 */
function networkBenchmarks(tinyoArgv: string[]): string[] {
  const ns = `tinyo-bench-${Deno.pid}`;
  const enter = ["nsenter", `--net=/run/netns/${ns}`, "--"];
  try {
    must("ip", ["netns", "add", ns]);
    must("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const inner = new Deno.Command(enter[0]!, {
      args: [
        ...enter.slice(1),
        Deno.execPath(),
        "run",
        "--allow-all",
        `${ROOT}tasks/bench_net.ts`,
        String(N),
      ],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!inner.success) throw new Error(`bench_net.ts failed: ${dec.decode(inner.stderr)}`);
    const m = JSON.parse(dec.decode(inner.stdout)) as Record<string, number>;
    const at = tinyoArgv.indexOf("none");
    const argv = (
      mode: string,
    ): string[] => [...enter, ...tinyoArgv.slice(0, at), mode, ...tinyoArgv.slice(at + 1)];
    const runs: Record<string, number[]> = { none: [], bridge: [] };
    for (const mode of ["none", "bridge"]) timed(argv(mode)); // warm-up (the bridge is made here)
    for (let i = 0; i < N; i++) for (const mode of ["none", "bridge"]) runs[mode]!.push(timed(argv(mode)).ms);
    const none = median(runs.none!);
    const bridge = median(runs.bridge!);
    return [
      `Bridge network (in a network namespace of the bench's own), ${N} runs each`,
      "",
      "| step | median ms |",
      "|---|---|",
      `| set-up of one container's network (namespace pin, lease, veth pair, addresses, route) | ${
        m.attachMs!.toFixed(1)
      } |`,
      `| the same with one published port (iptables-save + iptables-restore) | ${
        m.attachWithPortMs!.toFixed(1)
      } |`,
      `| first container: the bridge, its address and firewall chains too | ${m.firstAttachMs!.toFixed(1)} |`,
      `| release (veth deletion waits for the kernel's RCU grace period) | ${m.releaseMs!.toFixed(1)} |`,
      `| release with a published port | ${m.releaseWithPortMs!.toFixed(1)} |`,
      "",
      `tinyo run /bin/true: --network none ${none.toFixed(1)} ms, --network bridge ${bridge.toFixed(1)} ms ` +
      `(median; bridge − none = ${
        (bridge - none).toFixed(1)
      } ms, set-up and release; budget for set-up: 10 ms)`,
      "",
    ];
  } finally {
    new Deno.Command("ip", { args: ["netns", "del", ns], stdout: "null", stderr: "null" }).outputSync();
  }
}

/**
 * `n` containers started at once, for each runtime in turn (interleaved
 * rounds): the wall time from the first start to the last exit.
 */
async function concurrentBenchmark(
  runners: Record<string, (i: number) => string[]>,
  n: number,
): Promise<string[]> {
  const rounds = 3;
  const samples: Record<string, number[]> = {};
  let round = 0;
  const once = async (name: string): Promise<number> => {
    const base = 1000 * (++round);
    const t0 = performance.now();
    const outs = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const argv = runners[name]!(base + i);
        return new Deno.Command(argv[0]!, {
          args: argv.slice(1),
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        })
          .spawn().output();
      }),
    );
    const ms = performance.now() - t0;
    const failed = outs.find((o) => !o.success);
    if (failed) throw new Error(`${name}: a concurrent start failed: ${dec.decode(failed.stderr)}`);
    return ms;
  };
  for (let r = 0; r < rounds; r++) {
    for (const name of Object.keys(runners)) (samples[name] ??= []).push(await once(name));
  }
  return table(
    `${n} containers started at once (/bin/true), wall time for all, ${rounds} interleaved rounds`,
    samples,
    "concurrent",
  );
}

/**
 * What a detached container costs beyond itself: its monitor (conmon),
 * resident and proportional set size, for a few `run -d` containers.
 */
function detachedBenchmark(tinyo: string, root: string): string[] {
  const rss: number[] = [];
  const pss: number[] = [];
  for (let i = 0; i < 3; i++) {
    const out = new Deno.Command(tinyo, {
      args: ["--root", root, "run", "-d", "--network", "none", TARBALL, "sleep", "60"],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!out.success) throw new Error(`run -d failed: ${dec.decode(out.stderr)}`);
    const id = dec.decode(out.stdout).trim();
    try {
      const pid = [...Deno.readDirSync("/proc")].map((e) => e.name).filter((n) => /^\d+$/.test(n)).find(
        (n) => {
          try {
            const argv = Deno.readTextFileSync(`/proc/${n}/cmdline`).split("\0");
            return argv[0]!.endsWith("conmon") && argv.includes(id);
          } catch {
            return false;
          }
        },
      );
      if (pid === undefined) throw new Error(`no conmon found for ${id}`);
      const kib = (file: string, key: string): number =>
        Number(
          new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(Deno.readTextFileSync(`/proc/${pid}/${file}`))?.[1],
        );
      rss.push(kib("status", "VmRSS"));
      pss.push(kib("smaps_rollup", "Pss"));
    } finally {
      new Deno.Command(tinyo, { args: ["--root", root, "rm", "-f", id], stdout: "null", stderr: "null" })
        .outputSync();
    }
  }
  summary.set("detached", { tinyo: median(rss) / 1024 });
  return [
    `Memory per detached container beyond the container (its conmon, median of ${rss.length}): ` +
    `RSS ${(median(rss) / 1024).toFixed(2)} MiB, PSS ${(median(pss) / 1024).toFixed(2)} MiB`,
    "",
  ];
}

/** One line naming the machine and the versions compared. */
function machineLine(runc?: string, crun?: string): string {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown CPU";
  const memGiB = Number(/^MemTotal:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1] ?? 0) /
    1048576;
  const version = (cmd: string | undefined): string => {
    if (cmd === undefined) return "not installed";
    const out = new Deno.Command(cmd, { args: ["--version"], stdout: "piped", stderr: "null" }).outputSync();
    return dec.decode(out.stdout).split("\n")[0]!.replace(/^\S+ version /, "");
  };
  let cgroups = "v1 (hybrid)";
  try {
    Deno.statSync("/sys/fs/cgroup/cgroup.controllers");
    cgroups = "v2";
  } catch {
    // Not a unified hierarchy at /sys/fs/cgroup.
  }
  return `Machine: ${navigator.hardwareConcurrency} vCPU (${model}), ${
    memGiB.toFixed(1)
  } GiB, Linux ${Deno.osRelease()}, ` +
    `cgroups ${cgroups}; Deno ${Deno.version.deno}, runc ${version(runc)}, crun ${version(crun)}`;
}

/** The issue's table: each measure, its ratio or value, and the target. */
function summaryLines(): string[] {
  const rows: [string, string, string][] = [];
  const ratio = (key: string, what: string, target: number): void => {
    const m = summary.get(key);
    if (m?.runc === undefined) return void rows.push([what, "not measured", `≤ ${target}`]);
    const r = m.tinyo / m.runc;
    rows.push([
      what,
      `${r.toFixed(2)} (${m.tinyo.toFixed(1)} / ${m.runc.toFixed(1)} ms)`,
      `≤ ${target} ${r <= target ? "met" : "not met"}`,
    ]);
  };
  const value = (key: string, what: string, target: number, unit: string): void => {
    const m = summary.get(key);
    if (m === undefined) return void rows.push([what, "not measured", `≤ ${target} ${unit}`]);
    rows.push([
      what,
      `${m.tinyo.toFixed(1)} ${unit}`,
      `≤ ${target} ${unit} ${m.tinyo <= target ? "met" : "not met"}`,
    ]);
  };
  ratio("run", "`tinyo run` cached Alpine /bin/true, ratio to runc", 1.5);
  ratio("oci", "OCI create + start + delete, ratio to runc", 2.0);
  ratio("podman", "podman run --rm, --runtime tinyo / runc", 1.3);
  ratio("concurrent", "50 containers at once, wall time ratio to runc", 1.5);
  value("rss", "peak RSS of the largest tinyo process during run", 40, "MiB");
  value("detached", "memory per detached container beyond the container", 3, "MiB");
  const u = summary.get("unpack");
  if (u !== undefined) {
    rows.push([
      "unpack Alpine, ratio to tar -xzf (median; worst run)",
      `${u.tinyo.toFixed(2)}; worst ${u.worst!.toFixed(2)}`,
      `≤ 1.0 in every run ${u.worst! <= 1 ? "met" : "not met"}`,
    ]);
  }
  return [
    "Summary (the performance issue's targets)",
    "",
    "| measure | tinyo | target |",
    "|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
  ];
}

if (Deno.uid() !== 0) {
  // deno-lint-ignore no-console
  console.error("bench: needs root");
  Deno.exit(1);
}
const work = Deno.makeTempDirSync({ prefix: "tinyo-bench-" });
try {
  // One bundle for runc and crun, from the same tarball tinyo caches.
  const bundle = `${work}/bundle`;
  Deno.mkdirSync(`${bundle}/rootfs`, { recursive: true });
  must("tar", ["-xzf", TARBALL, "-C", `${bundle}/rootfs`]);
  const runc = which("runc");
  const crun = which("crun");
  if (runc !== undefined) {
    must(runc, ["spec", "--bundle", bundle]);
    const spec = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
    spec.process.terminal = false;
    spec.process.args = ["/bin/true"];
    Deno.writeTextFileSync(`${bundle}/config.json`, JSON.stringify(spec, null, 2));
  }
  const tinyoRoot = `${work}/tinyo-root`;
  const compiled = (() => {
    try {
      Deno.statSync(`${ROOT}dist/tinyo`);
      return `${ROOT}dist/tinyo`;
    } catch {
      return undefined;
    }
  })();
  // Otherwise tinyo as `deno task install` installs it (the launcher engines
  // are pointed at, running the bundle of tasks/build.ts), into a prefix of
  // the bench's own.
  if (compiled === undefined) {
    wall([Deno.execPath(), "run", "--allow-all", `${ROOT}tasks/install.ts`, "--prefix", `${work}/bin`]);
  }
  const tinyoBin = compiled ?? `${work}/bin/tinyo`;
  // --network none: runc's and crun's bundles have a network namespace with
  // loopback only (the bridge is measured apart, below).
  const tinyoArgv = [tinyoBin, "--root", tinyoRoot, "run", "--network", "none", TARBALL, "/bin/true"];
  // Cold starts: a fresh cache each time (hash + unpack + run), median of 5.
  const freshRuns: number[] = [];
  for (let i = 0; i < 5; i++) {
    const root = `${work}/fresh-${i}`;
    const argv = tinyoArgv.map((a) => a === tinyoRoot ? root : a);
    freshRuns.push(
      timed([
        ...argv.slice(0, argv.indexOf("run", argv.indexOf("--root"))),
        "run",
        "-q",
        "--network",
        "none",
        TARBALL,
        "/bin/true",
      ]).ms,
    );
    Deno.removeSync(root, { recursive: true });
  }
  timed(tinyoArgv); // fills the image cache of the warm runs
  const runners: Record<string, (i: number) => string[]> = {
    tinyo: () => tinyoArgv,
  };
  if (runc !== undefined) {
    runners.runc = (i) => [runc, "--root", `${work}/runc-root`, "run", "--bundle", bundle, `b${i}`];
  }
  if (crun !== undefined) {
    runners.crun = (
      i,
    ) => [`${SHARED}oci/crun-hybrid.sh`, "--root", `${work}/crun-root`, "run", "--bundle", bundle, `c${i}`];
  }
  runners["unshare+sh (crun wrapper cost)"] =
    () => ["unshare", "-m", "--propagation", "private", "sh", "-c", "true"];
  const times: Record<string, number[]> = {};
  const rss: Record<string, number[]> = {};
  for (const name of Object.keys(runners)) timed(runners[name]!(-1)); // warm-up
  for (let i = 0; i < N; i++) {
    for (const [name, argv] of Object.entries(runners)) {
      const r = timed(argv(i));
      (times[name] ??= []).push(r.ms);
      (rss[name] ??= []).push(r.rssKiB);
    }
  }
  // Unpacking the same tarball: tinyo's extractor vs GNU tar, interleaved.
  const unpack: Record<string, number[]> = { tinyo: [], tar: [] };
  const tinyoBase = [tinyoBin];
  for (let i = 0; i < Math.min(N, 10); i++) {
    const a = `${work}/unpack-tinyo`;
    const b = `${work}/unpack-tar`;
    for (const d of [a, b]) if (i > 0) Deno.removeSync(d, { recursive: true });
    unpack.tinyo!.push(timed([...tinyoBase, "unpack", TARBALL, a]).ms);
    Deno.mkdirSync(b);
    unpack.tar!.push(timed(["tar", "-xzf", TARBALL, "-C", b]).ms);
  }
  const timeline = timelineBenchmark(tinyoArgv, work);
  const oci = ociBenchmarks(work, bundle, tinyoBin, runc, crun);
  const concurrent = await concurrentBenchmark(
    Object.fromEntries(Object.entries(runners).filter(([name]) => !name.startsWith("unshare"))),
    50,
  );
  const detached = detachedBenchmark(tinyoBin, `${work}/detached-root`);
  const net = networkBenchmarks(tinyoArgv);
  const med = (name: string): number => median(times[name] ?? [NaN]);
  if (runc !== undefined) summary.set("run", { tinyo: med("tinyo"), runc: med("runc") });
  summary.set("rss", { tinyo: Math.max(...rss.tinyo!) / 1024 });
  const unpackRatios = unpack.tinyo!.map((t, i) => t / unpack.tar![i]!);
  summary.set("unpack", {
    tinyo: median(unpack.tinyo!) / median(unpack.tar!),
    worst: Math.max(...unpackRatios),
  });
  const lines = [
    machineLine(runc, crun),
    "",
    `tinyo ${
      compiled ? "(compiled dist/tinyo)" : "(the `deno task install` launcher: the bundle)"
    } vs runc vs crun, /bin/true in Alpine 3.20.3, ${N} interleaved runs each`,
    "",
    "| runtime | median ms | min ms | max ms | peak RSS of largest process |",
    "|---|---|---|---|---|",
    ...Object.keys(runners).map((name) => {
      const t = times[name]!;
      return `| ${name} | ${med(name).toFixed(1)} | ${Math.min(...t).toFixed(1)} | ${
        Math.max(...t).toFixed(1)
      } | ${(Math.max(...rss[name]!) / 1024).toFixed(1)} MiB |`;
    }),
    "",
    ...(runc ? [`tinyo/runc = ${(med("tinyo") / med("runc")).toFixed(2)}`] : ["runc not installed"]),
    ...(crun ? [`tinyo/crun = ${(med("tinyo") / med("crun")).toFixed(2)}`] : ["crun not installed"]),
    `tinyo run from a fresh tarball (hash + unpack + run, empty cache): median ${
      median(freshRuns).toFixed(1)
    } ms of 5, ` +
    `vs ${med("tinyo").toFixed(1)} ms from the cached image`,
    `unpack Alpine 3.20.3: tinyo ${median(unpack.tinyo!).toFixed(1)} ms, tar -xzf ${
      median(unpack.tar!).toFixed(1)
    } ms, ` +
    `tinyo/tar = ${(median(unpack.tinyo!) / median(unpack.tar!)).toFixed(2)} (median of ${
      unpack.tar!.length
    }; per run ${unpackRatios.map((r) => r.toFixed(2)).join(" ")})`,
    "",
    ...timeline,
    ...oci,
    ...concurrent,
    ...detached,
    ...net,
    ...summaryLines(),
  ];
  // deno-lint-ignore no-console
  console.log(lines.join("\n"));
} finally {
  new Deno.Command("sh", { args: ["-c", `umount -R ${work}/bundle/rootfs 2>/dev/null; true`] }).outputSync();
  Deno.removeSync(work, { recursive: true });
}

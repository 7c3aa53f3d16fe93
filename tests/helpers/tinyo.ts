/**
 * Helpers for tests that run the real tinyo: the command line, a temporary
 * root per suite, the Alpine tarballs from ../shared/rootfs, and host-side
 * leak checks (mounts, processes, container directories).
 */

import { fileURLToPath } from "node:url";

/** The repository's main.ts. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
/** ../shared/rootfs beside the repository. */
export const SHARED_ROOTFS = fileURLToPath(new URL("../../../shared/rootfs/", import.meta.url));
/** The Alpine tarballs the tests use. */
export const ALPINE_320 = `${SHARED_ROOTFS}alpine-minirootfs-3.20.3-x86_64.tar.gz`;
export const ALPINE_319 = `${SHARED_ROOTFS}alpine-minirootfs-3.19.4-x86_64.tar.gz`;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Why root-only tests cannot run here, or undefined when they can. */
export function rootSkipReason(): string | undefined {
  if (Deno.uid() !== 0) return "needs root";
  if (!exists(ALPINE_320) || !exists(ALPINE_319)) return `Alpine tarballs missing in ${SHARED_ROOTFS}`;
  return undefined;
}

/** `ignore` for root-only tests, with the reason printed once. */
export const IGNORE_ROOT: boolean = (() => {
  const why = rootSkipReason();
  if (why !== undefined) {
    // deno-lint-ignore no-console
    console.error(`SKIPPING root-only tests: ${why}`);
  }
  return why !== undefined;
})();

/** The result of a tinyo run. */
export interface TinyoResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The argv that runs tinyo from this checkout. A `tinyo run` that names no
 * network gets `--network none`: the suites other than the networking one
 * never add links or firewall rules to the namespace they run in (the
 * bridge tests name theirs and run in namespaces they make).
 */
export function tinyoArgv(root: string, args: readonly string[]): string[] {
  const implicitBridge = args[0] === "run" && !args.some((a) => /^--(network|bundle)(=|$)|^-b$/.test(a));
  const withNetwork = implicitBridge ? ["run", "--network", "none", ...args.slice(1)] : args;
  return ["run", "--allow-all", "--no-config", "--quiet", MAIN, "--root", root, ...withNetwork];
}

/** Runs tinyo to completion. */
export async function tinyo(
  root: string,
  args: readonly string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<TinyoResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: tinyoArgv(root, args),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts tinyo and returns the child with piped stdout/stderr for interactive tests. */
export function spawnTinyo(root: string, args: readonly string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: tinyoArgv(root, args),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Collects a stream's text in the background, so a test can wait for some
 * output to appear and later read all of it.
 */
export class Output {
  #text = "";
  readonly done: Promise<string>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of stream) this.#text += dec.decode(chunk, { stream: true });
      return this.#text;
    })();
  }

  /** What has arrived so far. */
  get text(): string {
    return this.#text;
  }

  /** Waits until `needle` has appeared. */
  async waitFor(needle: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    this.done.then(() => ended = true, () => ended = true);
    while (!this.#text.includes(needle)) {
      if (ended) throw new Error(`Output ended before "${needle}"; got ${JSON.stringify(this.#text)}`);
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for "${needle}"; got ${JSON.stringify(this.#text)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * A fresh temporary tinyo root, under TINYO_TEST_TMP (default /tmp). The
 * cgroup v2 VM sets it to its own tmpfs: when the VM shares the host's /tmp
 * over 9p, an overlay's upper layer there is refused (EINVAL).
 */
export function makeRoot(prefix = "tinyo-test-"): string {
  return Deno.makeTempDirSync({ prefix, dir: Deno.env.get("TINYO_TEST_TMP") ?? "/tmp" });
}

/** Mount points on the host that mention `path`. */
export function hostMountsUnder(path: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) => l.includes(path));
}

/** Host processes whose command line or environment mentions `needle`. */
export function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      const environ = Deno.readTextFileSync(`/proc/${e.name}/environ`);
      if (cmdline.includes(needle) || environ.includes(needle)) pids.push(Number(e.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** The cached images (sha256 directories) under a root. */
export function listImages(root: string): string[] {
  return listDir(`${root}/images`).filter((n) => !n.startsWith("."));
}

/** Entries of a directory (empty when missing). */
export function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * Asserts-like check that nothing of containers is left under `root`:
 * no container directories, no records, no host mounts, no processes.
 * Returns a list of problems (empty when clean).
 */
export function leftovers(root: string): string[] {
  const problems: string[] = [];
  const containers = listDir(`${root}/containers`);
  if (containers.length > 0) problems.push(`container dirs left: ${containers.join(", ")}`);
  // Lock files, conmon's exit-file and socket directories persist by design.
  const records = listDir(`${root}/state`).filter((n) =>
    !n.endsWith(".lock") && !["exits", "sockets", "netns", "networks"].includes(n)
  );
  // The bridge network's directories stay (its lock); pins and leases go.
  const pins = listDir(`${root}/state/netns`);
  if (pins.length > 0) problems.push(`network namespace pins left: ${pins.join(", ")}`);
  const leases = listDir(`${root}/state/networks/bridge/leases`);
  if (leases.length > 0) problems.push(`address leases left: ${leases.join(", ")}`);
  const exits = listDir(`${root}/state/exits`);
  if (exits.length > 0) problems.push(`exit files left: ${exits.join(", ")}`);
  if (records.length > 0) problems.push(`state records left: ${records.join(", ")}`);
  const mounts = hostMountsUnder(root);
  if (mounts.length > 0) problems.push(`host mounts left: ${mounts.join(" | ")}`);
  const procs = processesMentioning(root);
  if (procs.length > 0) problems.push(`processes left: ${procs.join(", ")}`);
  const tmp = listDir(`${root}/images`).filter((n) => n.startsWith(".tmp"));
  if (tmp.length > 0) problems.push(`temporary image dirs left: ${tmp.join(", ")}`);
  return problems;
}

/** Polls `check` until it returns true or the time is up. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

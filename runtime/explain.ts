/**
 * `--explain`: one line per system call (or kernel-facing action) of a
 * container's set-up, as it happens, with its real arguments, its result or
 * errno, how long it took, and why, under the part of a container it makes:
 *
 *   namespaces · the mount API and pivot_root · process control ·
 *   directories · the hostname · tmpfs /dev · proc and sys
 *
 * Both sides use it: the runtime (image, cgroup, network, spawn, wait) and
 * the init (everything inside). Nothing of it runs when `--explain` is off:
 * `explainCalls` replaces the methods of the call tables (runtime/syscalls.ts)
 * with explaining ones only when asked, so the normal path makes no extra
 * call and formats nothing.
 *
 * Lines go to one descriptor (tinyo's stderr, or the `--explain=FILE` file),
 * written whole with one write(2) each. On a terminal they end with "\r\n",
 * so they stay readable after `-t` put the terminal in raw mode.
 *
 * @module
 */

import { CLONE, MNT, MS, O, processCalls, SyscallError } from "./syscalls.ts";
import { TinyoError } from "./errors.ts";
import { CAPABILITIES, capsFromMask } from "./model/capabilities.ts";

/**
 * The seven parts every container is made of. Steps are printed as they
 * happen (set-up visits the parts back and forth); the summary at the end
 * lists the parts in this order.
 */
export const PARTS = [
  "namespaces",
  "the mount API and pivot_root",
  "process control",
  "directories",
  "the hostname",
  "tmpfs /dev",
  "proc and sys",
] as const;

/** Explained steps per part: how many, and their time (ms). */
export type Tally = Partial<Record<Part, { calls: number; ms: number }>>;

const tally: Tally = {};

/** This process's tally (the init sends its own to the runtime before exec). */
export function explainTally(): Tally {
  return tally;
}

/** Adds another process's tally (the init's) to this one's. */
export function mergeTally(other: Tally): void {
  for (const part of PARTS) {
    const o = other[part];
    if (o === undefined) continue;
    const t = (tally[part] ??= { calls: 0, ms: 0 });
    t.calls += Number(o.calls) || 0;
    t.ms += Number(o.ms) || 0;
  }
}

/** The summary: the seven parts in order, with their steps and time, both sides together. */
export function explainSummary(): void {
  if (sink === undefined) return;
  const lines = ["── summary: the seven parts of this container (runtime and init) ──"];
  for (const part of PARTS) {
    const t = tally[part] ?? { calls: 0, ms: 0 };
    lines.push(`${part.padEnd(30)} ${String(t.calls).padStart(4)} steps  ${t.ms.toFixed(2).padStart(8)} ms`);
  }
  write(lines.join("\n"));
}

/** One of the seven parts. */
export type Part = typeof PARTS[number];

/** Where explain lines go. */
export interface ExplainSink {
  fd: number;
  /** The descriptor is a terminal: lines end with "\r\n". */
  tty: boolean;
  /** "runtime" or "init": which process wrote a line. */
  side: "runtime" | "init";
}

const encoder = new TextEncoder();
let sink: ExplainSink | undefined;
let lastPart: Part | undefined;

/**
 * Whether explaining is on in this process: a property read, not a call,
 * for the few places that explain a step of their own.
 */
export const explainState = { on: false };

/**
 * `--explain` / `--explain=FILE` of a command line: starts explaining this
 * process (the runtime side) to stderr or to FILE (created, truncated,
 * 0600), and explains the runtime's own calls. Does nothing for undefined.
 */
export function explainTo(file: string | undefined | true, ...tables: object[]): void {
  if (file === undefined) return;
  let fd = 2;
  if (file !== true) {
    try {
      fd = processCalls.open(file, O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC | O.NOFOLLOW, 0o600);
    } catch (err) {
      throw new TinyoError(`Cannot write --explain to "${file}": ${(err as Error).message}`);
    }
  }
  startExplaining({ fd, tty: fd === 2 && Deno.stderr.isTerminal(), side: "runtime" });
  explainCalls(processCalls, ...tables);
}

/** Where this process explains to, when it does. */
export function explainSink(): ExplainSink | undefined {
  return sink;
}

/** Turns explaining on for this process, writing to `to`. */
export function startExplaining(to: ExplainSink): void {
  sink = to;
  explainState.on = true;
}

function write(text: string): void {
  if (sink === undefined) return;
  const eol = sink.tty ? "\r\n" : "\n";
  try {
    processCalls.writeAll(sink.fd, encoder.encode(text.split("\n").join(eol) + eol));
  } catch {
    // Explaining never breaks the container.
  }
}

/**
 * Writes one explained step: `[side] call = result  (ms)  why`, after a
 * heading whenever the part changes.
 */
export function explainLine(
  part: Part,
  call: string,
  result: string,
  ms: number | undefined,
  why: string,
): void {
  if (sink === undefined) return;
  // Names come from the image and the container (paths, argv[0], link
  // targets): no control character of theirs reaches the terminal.
  call = escapeControls(call);
  result = escapeControls(result);
  const heading = part !== lastPart ? `── ${part} ──\n` : "";
  lastPart = part;
  const t = (tally[part] ??= { calls: 0, ms: 0 });
  t.calls++;
  t.ms += ms ?? 0;
  const time = ms === undefined ? "" : `  ${ms < 0.01 ? "<0.01" : ms.toFixed(2)} ms`;
  write(`${heading}[${sink.side}] ${call} = ${result}${time}  # ${why}`);
}

/** Runs `fn` as an explained step: its result or errno, and its duration. */
export function explainStep<T>(
  part: Part,
  call: string,
  why: string,
  fn: () => T,
  show?: (r: T) => string,
): T {
  if (sink === undefined) return fn();
  const t0 = performance.now();
  try {
    const r = fn();
    explainLine(part, call, show ? show(r) : "0", performance.now() - t0, why);
    return r;
  } catch (err) {
    explainLine(part, call, failure(err), performance.now() - t0, why);
    throw err;
  }
}

function failure(err: unknown): string {
  if (err instanceof SyscallError) {
    return `-1 ${err.code} (${err.message.replace(/^.*\): [A-Z0-9]+ \((.*)\)$/, "$1")})`;
  }
  return `error (${err instanceof Error ? err.message : String(err)})`;
}

/** C0, DEL and C1 control characters as \xNN: text that cannot move the cursor, set a title or fake a line. */
export function escapeControls(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Flag names of `value` in `table` (e.g. CLONE_NEWNS|CLONE_NEWUTS), the rest in hex. */
export function flagNames(value: number, table: Readonly<Record<string, number>>, prefix: string): string {
  const names: string[] = [];
  let rest = value;
  for (const [name, bit] of Object.entries(table)) {
    if (bit !== 0 && (value & bit) === bit && (rest & bit) !== 0) {
      names.push(`${prefix}${name}`);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.length === 0 ? "0" : names.join("|");
}

const q = (s: string): string => JSON.stringify(s);

/** What a descriptor or /proc/self/fd/N path points at, for the reader. */
function target(path: string): string {
  const m = /^\/proc\/self\/fd\/(\d+)$/.exec(path);
  if (m === null) return q(path);
  try {
    return `${q(path)} (${Deno.readLinkSync(path)})`;
  } catch {
    return q(path);
  }
}

function fdName(fd: number): string {
  try {
    return `${fd} (${Deno.readLinkSync(`/proc/self/fd/${fd}`)})`;
  } catch {
    return String(fd);
  }
}

/** The part a mount belongs to, by filesystem type and where it lands (a /proc/self/fd/N target resolved). */
function mountPart(fstype: string | undefined, tgt: string): Part {
  let where = tgt;
  if (/^\/proc\/self\/fd\/\d+$/.test(tgt)) {
    try {
      where = Deno.readLinkSync(tgt);
    } catch {
      // Shown as given.
    }
  }
  if (fstype === "proc" || fstype === "sysfs" || /(^|\/rootfs)\/(proc|sys)(\/|$)/.test(where)) {
    return "proc and sys";
  }
  if (fstype === "devpts" || fstype === "mqueue" || /(^|\/rootfs)\/dev(\/|$)/.test(where)) {
    return "tmpfs /dev";
  }
  return "the mount API and pivot_root";
}

/** The part a path resolved inside the root belongs to. */
function pathPart(path: string): Part {
  const p = path.replace(/^\/+/, "");
  if (/^dev(\/|$)/.test(p)) return "tmpfs /dev";
  if (/^(proc|sys)(\/|$)/.test(p)) return "proc and sys";
  return "directories";
}

const WHY_MOUNT: Readonly<Record<string, string>> = {
  proc: "a /proc that shows only the container's processes",
  sysfs: "/sys for the container (read-only unless --privileged)",
  tmpfs: "a memory filesystem: the container's private /dev, /dev/shm, or --tmpfs",
  devpts: "the container's own pseudo-terminals, not the host's",
  mqueue: "POSIX message queues of the container's IPC namespace",
  overlay: "the root filesystem: the image below, the container's own writable layer above",
  cgroup: "the container's own cgroup tree",
  cgroup2: "the container's own cgroup tree",
};

type Fn = (...args: never[]) => unknown;
type Describe = (args: unknown[]) => { part: Part; call: string; why: string; before?: boolean } | undefined;

/** How each call of the call tables is explained (calls not listed are not shown: close, read, ...). */
const DESCRIBE: Readonly<Record<string, Describe>> = {
  unshare: ([flags]) => ({
    part: "namespaces",
    call: `unshare(${flagNames(flags as number, CLONE, "CLONE_")})`,
    why: "new namespaces for this thread: from here on what it sees of those resources is its own",
  }),
  setns: ([fd, type, what]) => ({
    part: "namespaces",
    call: `setns(${fdName(fd as number)}, ${flagNames(type as number, CLONE, "CLONE_")})`,
    why: `join ${what ?? "a namespace"}`,
  }),
  setnsFd: ([fd, type, what]) => DESCRIBE.setns!([fd, type, what]),
  mount: ([source, tgt, opts]) => {
    const o = (opts ?? {}) as { fstype?: string; flags?: number; data?: string };
    const flags = flagNames(o.flags ?? 0, MS, "MS_");
    const why = o.fstype !== undefined
      ? WHY_MOUNT[o.fstype] ?? `a ${o.fstype} filesystem`
      : (o.flags ?? 0) & MS.BIND
      ? ((o.flags ?? 0) & MS.REMOUNT
        ? "make a bind mount read-only or change its flags"
        : "bind a file or directory into the container")
      : "change propagation: nothing mounted here is seen by the host";
    return {
      part: mountPart(o.fstype, tgt as string),
      call: `mount(${q(source as string)}, ${target(tgt as string)}, ${q(o.fstype ?? "")}, ${flags}${
        o.data ? `, ${q(o.data)}` : ""
      })`,
      why,
    };
  },
  umount2: ([tgt, flags]) => ({
    part: "the mount API and pivot_root",
    call: `umount2(${target(tgt as string)}, ${flagNames((flags as number) ?? 0, MNT, "MNT_")})`,
    why: "detach the host's old root: the container can no longer reach it",
  }),
  mountSetattr: ([fd, set]) => ({
    part: "the mount API and pivot_root",
    call: `mount_setattr(${fdName(fd as number)}, AT_RECURSIVE, set=0x${(set as number).toString(16)})`,
    why: "read-only for a mount and everything under it",
  }),
  pivotRoot: ([newRoot, putOld]) => ({
    part: "the mount API and pivot_root",
    call: `pivot_root(${q(newRoot as string)}, ${q(putOld as string)})`,
    why: "the rootfs becomes / ; the old root is stacked underneath, detached next",
  }),
  chdir: ([path]) => ({ part: "directories", call: `chdir(${q(path as string)})`, why: "enter a directory" }),
  fchdir: ([fd]) => ({
    part: "directories",
    call: `fchdir(${fdName(fd as number)})`,
    why: "enter the directory by descriptor (resolved inside the root, no symlink out)",
  }),
  mkdirat: ([dirFd, name, mode]) => ({
    part: "directories",
    call: `mkdirat(${fdName(dirFd as number)}, ${q(name as string)}, 0${(mode as number).toString(8)})`,
    why: "a directory the container needs (mount point, working directory)",
  }),
  openat2: ([dirFd, path]) => ({
    part: pathPart(path as string),
    call: `openat2(${fdName(dirFd as number)}, ${q(path as string)}, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`,
    why: "resolve a path inside the container's root: a symlink cannot lead out",
  }),
  mknodat: ([dirFd, name, mode, major, minor]) => ({
    part: "tmpfs /dev",
    call: `mknodat(${fdName(dirFd as number)}, ${q(name as string)}, 0${
      (mode as number).toString(8)
    }, ${major}:${minor})`,
    why: "one of the safe device nodes (null, zero, full, random, urandom, tty)",
  }),
  mknod: ([path, mode, major, minor]) => ({
    part: "tmpfs /dev",
    call: `mknod(${q(path as string)}, 0${(mode as number).toString(8)}, ${major}:${minor})`,
    why: "a device node of the private /dev (the device cgroup allows only these)",
  }),
  symlinkat: ([tgt, dirFd, name]) => ({
    part: "tmpfs /dev",
    call: `symlinkat(${q(tgt as string)}, ${fdName(dirFd as number)}, ${q(name as string)})`,
    why: "the standard /dev links (fd, stdin, stdout, stderr, ptmx)",
  }),
  sethostname: ([name]) => ({
    part: "the hostname",
    call: `sethostname(${q(name as string)})`,
    why: "the container's own host name, in its UTS namespace",
  }),
  linkUp: ([name]) => ({
    part: "namespaces",
    call: `ioctl(SIOCSIFFLAGS, ${q(name as string)}, IFF_UP)`,
    why: "loopback up in the new network namespace",
  }),
  setrlimit: ([res, soft, hard]) => ({
    part: "process control",
    call: `setrlimit(${res}, ${soft}, ${hard})`,
    why: "a resource limit of the container's processes",
  }),
  setgroups: ([gids]) => ({
    part: "process control",
    call: `setgroups([${(gids as number[]).join(", ")}])`,
    why: "the supplementary groups of the user",
  }),
  setgid: ([gid]) => ({
    part: "process control",
    call: `setgid(${gid})`,
    why: "the group the command runs as",
  }),
  setuid: ([uid]) => ({
    part: "process control",
    call: `setuid(${uid})`,
    why: "the user the command runs as",
  }),
  prctl: ([opt, arg]) => ({
    part: "process control",
    call: `prctl(${PRCTL_NAMES[opt as number] ?? opt}, ${
      opt === 24 ? `CAP_${CAPABILITIES[arg as number] ?? arg}` : arg
    })`,
    why: PRCTL_WHY[opt as number] ?? "a process attribute",
  }),
  capset: ([eff, perm, inh]) => ({
    part: "process control",
    call: `capset(effective=[${capsOf(eff)}], permitted=[${capsOf(perm)}], inheritable=[${capsOf(inh)}])`,
    why: "the capabilities the command keeps; everything else of root's power is gone",
  }),
  installSeccompFilter: ([program]) => ({
    part: "process control",
    call: `seccomp(SECCOMP_SET_MODE_FILTER, ${(program as Uint8Array).length / 8} instructions)`,
    why: "the system-call filter: calls outside the allow-list fail with EPERM",
  }),
  setsid: () => ({
    part: "process control",
    call: "setsid()",
    why: "a new session: no controlling terminal of the caller's",
  }),
  execveFd: ([fd, argv, , what]) => ({
    part: "process control",
    call: `execveat(${fd}, "", [${(argv as string[]).map(q).join(", ")}], AT_EMPTY_PATH) /* ${what} */`,
    why: "the init becomes the command: from here on the container runs",
    before: true,
  }),
};

const PRCTL_NAMES: Readonly<Record<number, string>> = {
  1: "PR_SET_PDEATHSIG",
  4: "PR_SET_DUMPABLE",
  8: "PR_SET_KEEPCAPS",
  24: "PR_CAPBSET_DROP",
  38: "PR_SET_NO_NEW_PRIVS",
  47: "PR_CAP_AMBIENT",
};

const PRCTL_WHY: Readonly<Record<number, string>> = {
  1: "die with the runtime: a SIGKILLed tinyo takes the container with it",
  4: "nobody may ptrace this process or read its memory through /proc",
  8: "keep capabilities across the change of user",
  24: "drop a capability from the bounding set: it can never come back",
  38: "no_new_privs: setuid binaries cannot raise privileges",
  47: "the ambient capability set",
};

function capsOf(mask: unknown): string {
  const [lo, hi] = mask as [number, number];
  const hex = ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16);
  return capsFromMask(hex).map((c) => c.replace(/^CAP_/, "")).join(",");
}

/**
 * Replaces, in place, the methods of `tables` (runtime/syscalls.ts call
 * tables) that DESCRIBE knows with explaining ones. Only when explaining.
 */
export function explainCalls(...tables: object[]): void {
  if (sink === undefined) return;
  for (const table of tables) {
    const t = table as Record<string, Fn>;
    for (const [name, fn] of Object.entries(t)) {
      const describe = DESCRIBE[name];
      if (describe === undefined || typeof fn !== "function") continue;
      t[name] = ((...args: never[]) => {
        const d = describe(args);
        if (d === undefined) return fn(...args);
        if (d.before) explainLine(d.part, d.call, "(does not return on success)", undefined, d.why);
        const t0 = performance.now();
        try {
          const r = fn(...args);
          if (!d.before) {
            explainLine(
              d.part,
              d.call,
              typeof r === "number" ? String(r) : "0",
              performance.now() - t0,
              d.why,
            );
          }
          return r;
        } catch (err) {
          // An errno that is part of the plan (a path that does not exist
          // yet, then made) shows like any other.
          explainLine(d.part, d.call, failure(err), performance.now() - t0, d.why);
          throw err;
        }
      }) as Fn;
    }
  }
}

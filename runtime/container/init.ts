/**
 * The container's init: tinyo re-executed as PID 1 of the new PID namespace
 * (see runtime/spawn.ts for how it gets there). It sets the container up on
 * its main thread with synchronous calls only, then execs the command, which
 * replaces it: only the main thread survives exec, so its per-thread
 * namespaces become the whole process's.
 *
 * Keep this module's imports small: it runs on every container start.
 *
 * Before anything else the init makes itself non-dumpable (a container
 * process may not ptrace it, read its memory, environment or descriptors
 * through /proc, nor reach the roots of Deno's other threads) and closes
 * every descriptor its caller leaked to it (CVE-2024-21626's class).
 *
 * The steps, in order (each ordering constraint explained where it matters):
 *  1. parent-death signal, so the container dies with a SIGKILLed runtime
 *     (and if the runtime already died, stop here); join the container's
 *     cgroup
 *  2. namespaces (join, then create; the mount namespace of a new container
 *     was created by the runtime, so all of the init's threads are in it)
 *  3. hostname, loopback up, sysctls
 *  4. host mounts private, rootfs mount (overlay or bind)
 *  5. spec mounts under the rootfs, device nodes in /dev
 *  6. pivot_root into the rootfs, old root detached
 *  7. masked and read-only paths, working directory, read-only root
 *  8. rlimits, capability bounding set, groups, gid, uid, capabilities,
 *     no_new_privs
 *  9. resolve the command in the container's PATH, reset signals, mark every
 *     descriptor but stdio close-on-exec, install the seccomp filter, execve
 *
 * @module
 */

import type { Spec } from "../model/spec.ts";
import { loadSpec } from "../model/spec.ts";
import { applyNamespaces } from "./namespaces.ts";
import { planNamespaces } from "../model/namespaces.ts";
import { applyMount, maskPath, mountRootfs, readonlyPath } from "./mounts.ts";
import { type InitBootstrap, mapBootstrapFds } from "../model/bootstrap.ts";
import { createDevices } from "./devices.ts";
import { pivotInto } from "./pivot.ts";
import { envValue, execError, resolveCommand } from "./exec_path.ts";
import { ConfigError, exitCodeOf } from "../errors.ts";
import {
  CLONE,
  fsCalls,
  isErrno,
  linuxSyscalls,
  MS,
  O,
  pidCalls,
  POLL,
  PR,
  processCalls,
  RLIMIT,
  SIGNALS,
  type Syscalls,
} from "../syscalls.ts";
import { awaitRuntimeHooks, sendToRuntime } from "./channel.ts";
import { runHooks } from "../hooks.ts";
import { type ContainerStatus, hooksOf, type HookState, hookState } from "../model/hooks.ts";
import { createConsole } from "./console.ts";
import { fdPath, mkdirAllInRoot, openInRoot } from "../inroot.ts";
import { CAPABILITIES, capMask, capNumber } from "../model/capabilities.ts";
import { compileSeccomp, seccompFilterFlags } from "../model/seccomp/compile.ts";
import { applyIoPriority, applyOomScoreAdj, applyPersonality, applyUmask } from "./process_attrs.ts";
import { applySecurityLabels } from "./labels.ts";
import { explainCalls, explainLine, explainState, explainTally, startExplaining } from "../explain.ts";
import { mark, startTimeline, timelineState } from "../timeline.ts";

/** What to execute once the container is set up. */
export interface ExecPlan {
  /** The command's path in the container (for messages). */
  path: string;
  /** A descriptor of it, resolved inside the root: what is executed. */
  fd: number;
  argv: string[];
  env: string[];
  /** The compiled seccomp filter, installed right before execve. */
  seccomp?: Uint8Array<ArrayBuffer>;
  /** Its seccomp(2) filter flags (SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW). */
  seccompFlags?: number;
  /** process.apparmorProfile and selinuxLabel, applied at execve. */
  labels?: { apparmorProfile?: string; selinuxLabel?: string };
}

/**
 * The highest capability number the kernel knows, read from the host's /proc
 * before anything changes (after pivot_root /proc is the container's, which
 * must not decide what the init drops). A missing or nonsensical value is an
 * error: guessing low would leave capabilities in the bounding set.
 */
export function readLastCap(path = "/proc/sys/kernel/cap_last_cap"): number {
  let text: string;
  try {
    text = Deno.readTextFileSync(path).trim();
  } catch (err) {
    throw new ConfigError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < CAPABILITIES.length - 1 || n > 63) {
    throw new ConfigError(
      `Cannot trust ${path}: ${JSON.stringify(text.slice(0, 20))} is not a capability number`,
    );
  }
  return n;
}

/** Resolves `root.path` against the bundle, as the spec says. */
export function rootfsPath(spec: Spec, bundle: string): string {
  const p = spec.root!.path;
  return p.startsWith("/") ? p : `${bundle}/${p}`;
}

/**
 * Steps 4–7: everything that builds the container's filesystem view.
 * `beforePivot` runs once the mounts exist, right before pivot_root: the
 * hooks of create (runtime/hooks.ts).
 */
export function setupFilesystem(
  sys: Syscalls,
  spec: Spec,
  boot: InitBootstrap,
  beforePivot: () => void = () => {},
): void {
  const rootfs = rootfsPath(spec, boot.bundle);
  const propagation = spec.linux?.rootfsPropagation ?? "rprivate";
  // 4. Make every host mount private (or slave) in our namespace first, so
  // nothing we mount or unmount from here on propagates back to the host.
  // (A shared root is made shared only after pivot_root, below.)
  sys.mount("", "/", { flags: MS.REC | (propagation.includes("slave") ? MS.SLAVE : MS.PRIVATE) });
  mountRootfs(sys, rootfs, boot.rootfs);

  // 5. The spec's mounts, in order, each destination opened inside the new
  // root (runtime/inroot.ts); /dev gets device nodes when it is a tmpfs.
  const rootFd = sys.openRoot(rootfs);
  // The descriptor that crosses pivot_root: /dev/null for masking.
  let nullFd = -1;
  try {
    let devIsTmpfs = false;
    const cgroupns = spec.linux?.namespaces?.some((n) => n.type === "cgroup") ?? false;
    for (const m of spec.mounts ?? []) {
      applyMount(sys, rootFd, m, { cgroupns });
      if (m.destination.replace(/\/+$/, "") === "/dev" && m.type === "tmpfs") devIsTmpfs = true;
    }
    if (devIsTmpfs) createDevices(sys, rootFd, spec.linux?.devices);
    // The file masked paths are covered with: our own /dev/null, checked to
    // be the null device, held by descriptor (CVE-2025-31133's lesson).
    if ((spec.linux?.maskedPaths ?? []).length > 0) {
      nullFd = sys.openDevice(rootFd, "/dev/null", O.PATH, [1, 3]);
    }
    // The working directory must exist before the root may turn read-only.
    const cwd = spec.process?.cwd ?? "/";
    try {
      fsCalls.close(mkdirAllInRoot(rootFd, cwd));
    } catch (err) {
      throw new ConfigError(`Cannot create working directory "${cwd}": ${(err as Error).message}`, {
        cause: err,
      });
    }

    beforePivot();
    // 6. pivot_root; from here on paths are the container's.
    pivotInto(sys, rootfs);
    // A terminal (-t, OCI --console-socket): a pty of the container's own
    // devpts, bound on /dev/console; its master goes back to the caller.
    if (boot.consoleSocket !== undefined) createConsole(sys, boot.consoleSocket, true);
    if (propagation.includes("shared")) sys.mount("", "/", { flags: MS.SHARED | MS.REC });

    // 7. Masked and read-only paths, then the read-only root, then the
    // working directory.
    const newRoot = sys.openRoot("/");
    try {
      for (const p of spec.linux?.maskedPaths ?? []) maskPath(sys, newRoot, p, fdPath(nullFd));
      for (const p of spec.linux?.readonlyPaths ?? []) readonlyPath(sys, newRoot, p);
      if (spec.root?.readonly) sys.mount("", "/", { flags: MS.BIND | MS.REMOUNT | MS.RDONLY | MS.REC });
      enterWorkdir(sys, newRoot, spec.process?.cwd ?? "/");
    } finally {
      fsCalls.close(newRoot);
    }
  } finally {
    fsCalls.close(rootFd);
    if (nullFd >= 0) fsCalls.close(nullFd);
  }
}

/**
 * Enters the working directory, resolved inside the container's root by the
 * kernel (RESOLVE_IN_ROOT|NO_MAGICLINKS): an image or a container that
 * plants `/app -> /proc/self/task/N/root/...` (a thread whose root is still
 * the host's) gets an error, not a host working directory (CVE-2024-21626).
 */
export function enterWorkdir(sys: Syscalls, rootFd: number, cwd: string): void {
  let fd: number;
  try {
    fd = openInRoot(rootFd, cwd, O.DIRECTORY);
  } catch (err) {
    throw new ConfigError(`Cannot enter working directory "${cwd}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    sys.fchdir(fd);
  } finally {
    fsCalls.close(fd);
  }
}

/**
 * Sets the spec's sysctls (validated to belong to namespaces the container
 * creates: runtime/spec.ts). Written through the host's /proc before
 * pivot_root: a namespaced sysctl file acts on the namespace of whoever
 * opens it, and the init's main thread is in the new ones by now.
 */
export function applySysctls(sysctl: Record<string, string>): void {
  for (const [key, value] of Object.entries(sysctl)) {
    const path = `/proc/sys/${key.replaceAll(".", "/")}`;
    try {
      Deno.writeTextFileSync(path, value);
    } catch (err) {
      throw new ConfigError(`Cannot set sysctl ${key}=${JSON.stringify(value)}: ${(err as Error).message}`);
    }
  }
}

const RLIMIT_NAMES = RLIMIT as Readonly<Record<string, number>>;

/**
 * Step 8: resource limits, the capability bounding set, the user identity
 * (groups before ids), the other capability sets, then no_new_privs.
 *
 * The bounding set is trimmed while still root with every capability; with
 * a non-root uid, PR_SET_KEEPCAPS keeps the permitted set across setuid, and
 * capset() then sets exactly what the spec asks for (runc's order).
 */
export function applyIdentity(sys: Syscalls, spec: Spec, maxCap: number): void {
  for (const r of spec.process?.rlimits ?? []) {
    const res = RLIMIT_NAMES[r.type.replace(/^RLIMIT_/, "")];
    if (res === undefined) {
      throw new ConfigError(`Invalid container configuration: unknown rlimit "${r.type}"`);
    }
    sys.setrlimit(res, r.soft, r.hard);
  }
  const user = spec.process?.user ?? { uid: 0, gid: 0 };
  const caps = spec.process?.capabilities;
  if (caps !== undefined) {
    const bounding = new Set((caps.bounding ?? []).map(capNumber));
    for (let c = 0; c <= maxCap; c++) if (!bounding.has(c)) sys.prctl(PR.CAPBSET_DROP, c);
    if (user.uid !== 0) sys.prctl(PR.SET_KEEPCAPS, 1);
  }
  sys.setgroups(user.additionalGids ?? []);
  sys.setgid(user.gid);
  sys.setuid(user.uid);
  if (caps !== undefined) {
    sys.capset(capMask(caps.effective ?? []), capMask(caps.permitted ?? []), capMask(caps.inheritable ?? []));
    sys.prctl(PR.CAP_AMBIENT, PR.CAP_AMBIENT_CLEAR_ALL);
    // The kernel raises an ambient capability only if it is permitted and
    // inheritable; others are skipped, as runc does (`runc spec` lists
    // ambient capabilities and no inheritable ones).
    const raisable = new Set(caps.inheritable ?? []);
    for (const a of caps.ambient ?? []) {
      if (raisable.has(a) && (caps.permitted ?? []).includes(a)) {
        sys.prctl(PR.CAP_AMBIENT, PR.CAP_AMBIENT_RAISE, capNumber(a));
      }
    }
  }
  if (spec.process?.noNewPrivileges) sys.prctl(PR.SET_NO_NEW_PRIVS, 1);
}

/**
 * Builds the exec plan: the command resolved in the container's PATH,
 * inside the root behind `rootFd` (exec_path.ts resolveCommand).
 */
export function planExec(spec: Spec, rootFd: number): ExecPlan {
  const args = spec.process!.args;
  const env = spec.process!.env ?? [];
  const { path, fd } = resolveCommand(rootFd, args[0]!, envValue(env, "PATH"), spec.process!.cwd);
  return { path, fd, argv: args, env };
}

/**
 * Makes sure the calling process is in the cgroup of `procs`. The runtime
 * usually moved us already, while this process was starting (on cgroup v1
 * the first move costs an RCU grace period, 10–15 ms here, which that hides);
 * cgroup.procs lists pids as our PID namespace sees them, so we look for our
 * own, and only write "0" (ourselves) if it is not there.
 */
export function joinCgroup(procs: string): void {
  try {
    const me = String(processCalls.getpid());
    if (Deno.readTextFileSync(procs).split("\n").includes(me)) {
      if (explainState.on) {
        explainLine(
          "process control",
          `read(${JSON.stringify(procs)})`,
          `lists ${me}`,
          undefined,
          "already in the container's cgroup (the runtime moved it while it started): its limits apply",
        );
      }
      return;
    }
    Deno.writeTextFileSync(procs, "0");
    if (explainState.on) {
      explainLine(
        "process control",
        `write(${JSON.stringify(procs)}, "0")`,
        "0",
        undefined,
        "join the container's cgroup: its limits apply from here on",
      );
    }
  } catch (err) {
    throw new ConfigError(
      `Cannot join cgroup ${procs.slice(0, -"/cgroup.procs".length)}: ${(err as Error).message}`,
    );
  }
}

/** The state hooks run in the container read: its own pid (1 in a new PID namespace). */
function initState(spec: Spec, boot: InitBootstrap, status: ContainerStatus): HookState {
  return hookState({
    id: boot.id ?? "",
    bundle: boot.bundle,
    status,
    pid: processCalls.getpid(),
    annotations: spec.annotations,
  });
}

/** process.oomScoreAdj, ioPriority, user.umask and linux.personality. */
export function applyProcessAttributes(spec: Spec): void {
  const p = spec.process;
  if (p?.oomScoreAdj !== undefined) applyOomScoreAdj(p.oomScoreAdj);
  if (p?.ioPriority !== undefined) applyIoPriority(p.ioPriority);
  if (p?.user.umask !== undefined) applyUmask(p.user.umask);
  if (spec.linux?.personality !== undefined) applyPersonality(spec.linux.personality);
}

/** Steps 1–8 in order; returns what step 9 executes. */
export function setupContainer(
  sys: Syscalls,
  spec: Spec,
  boot: InitBootstrap,
  options: {
    installSeccomp?: (program: Uint8Array<ArrayBuffer>, flags: number) => void;
    /** From readLastCap(), read before anything changed. */
    lastCap?: number;
    /** The sync pipe's write end: its reader gone means the runtime died. */
    syncFd?: number;
  } = {},
): ExecPlan {
  const installSeccomp = options.installSeccomp ?? processCalls.installSeccompFilter;
  const lastCap = options.lastCap ?? readLastCap();
  if (spec.process === undefined) throw new ConfigError("Invalid container configuration: process: missing");
  // 1. If the runtime is SIGKILLed, the kernel kills us, and with PID 1 gone
  // the whole PID namespace (survives execve; see prctl(2)). Not for a
  // created container: `tinyo create` exits and its monitor takes over.
  const dieWithRuntime = (): void => {
    if (boot.execFifo !== undefined || boot.detached) return;
    sys.prctl(PR.SET_PDEATHSIG, SIGNALS.SIGKILL);
    // The runtime may have died before that took effect (a parent-death
    // signal is not sent retroactively): then the read end of the sync pipe
    // is closed, and poll(2) on our write end says so (POLLERR).
    if (options.syncFd !== undefined && options.syncFd >= 0) {
      if ((pidCalls.pollOne(options.syncFd, 0) & POLL.ERR) !== 0) {
        throw new ConfigError("The runtime that started this container is gone");
      }
    }
  };
  dieWithRuntime();
  // Join the container's cgroup before any namespace: the cgroup namespace
  // created next is rooted where the init stands, and limits apply from here.
  for (const procs of boot.cgroupProcs ?? []) joinCgroup(procs);
  // 2. Namespaces of running containers, through pidfds the runtime checked
  // (no /proc/PID path that a reused pid could redirect), then the rest.
  let joined = 0;
  for (const j of boot.joinPidfds ?? []) {
    // setns into a mount namespace needs a private fs_struct (root, cwd).
    if ((j.flags & CLONE.NEWNS) !== 0) sys.unshare(CLONE.FS);
    sys.setnsFd(j.fd, j.flags, "a container's namespaces");
    processCalls.close(j.fd);
    joined |= j.flags;
  }
  const nsPlan = planNamespaces(spec);
  nsPlan.join = nsPlan.join.filter((ns) => (ns.flag & joined) === 0);
  if (boot.mountNamespaceCreated) nsPlan.unshareFlags &= ~CLONE.NEWNS;
  applyNamespaces(sys, nsPlan);
  if (timelineState.on) mark("namespaces");
  const creates = (type: string): boolean =>
    spec.linux?.namespaces?.some((n) => n.type === type && n.path === undefined) ?? false;
  if (boot.exec) {
    // Joining a running container: its mount namespace put us in its root;
    // nothing is mounted, only the working directory is entered (resolved
    // inside that root: the container may have planted symlinks).
    const root = sys.openRoot("/");
    try {
      enterWorkdir(sys, root, spec.process.cwd);
    } catch (err) {
      throw new ConfigError(`Cannot exec in the container: ${(err as Error).message}`);
    } finally {
      fsCalls.close(root);
    }
    if (boot.consoleSocket !== undefined) createConsole(sys, boot.consoleSocket, false);
  } else {
    // 3.
    if (spec.hostname !== undefined && creates("uts")) sys.sethostname(spec.hostname);
    if (creates("network")) sys.linkUp("lo");
    if (spec.linux?.sysctl !== undefined) applySysctls(spec.linux.sysctl);
    // 4–7, with the hooks of create between the mounts and pivot_root:
    // the runtime's (prestart, createRuntime) then the container's own
    // (createContainer, run here: its namespaces, the host's root still
    // visible, so the path resolves in the runtime's mount namespace).
    if (timelineState.on) mark("hostname, loopback, sysctls");
    setupFilesystem(sys, spec, boot, () => {
      if (boot.hooksFd !== undefined && options.syncFd !== undefined) {
        awaitRuntimeHooks(options.syncFd, boot.hooksFd);
      }
      runHooks("createContainer", hooksOf(spec, "createContainer"), initState(spec, boot, "creating"));
    });
  }
  if (timelineState.on) mark("filesystem (mounts, /dev, pivot_root)");
  // The command is looked up while still root: PATH directories may be
  // unreadable for the target user, exactly as with runc.
  const root = sys.openRoot("/");
  let plan: ExecPlan;
  try {
    plan = planExec(spec, root);
  } finally {
    fsCalls.close(root);
  }
  const { apparmorProfile, selinuxLabel } = spec.process;
  if (apparmorProfile || selinuxLabel) {
    plan.labels = {
      ...(apparmorProfile ? { apparmorProfile } : {}),
      ...(selinuxLabel ? { selinuxLabel } : {}),
    };
  }
  // Compiled now, installed last: the filter may forbid what set-up needs.
  if (spec.linux?.seccomp !== undefined) {
    plan.seccompFlags = seccompFilterFlags(spec.linux.seccomp);
    plan.seccomp = compileSeccomp(spec.linux.seccomp, {
      capabilities: spec.process.capabilities?.effective ?? [],
    });
  }
  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which the
  // identity step drops: then the filter goes in first (runc does the same),
  // and the rest of set-up runs under it.
  if (plan.seccomp !== undefined && !spec.process.noNewPrivileges) {
    installSeccomp(plan.seccomp, plan.seccompFlags ?? 0);
    delete plan.seccomp;
  }
  // The process's attributes, while still privileged (a lower OOM score
  // and the real-time I/O class need capabilities the identity drops);
  // I/O priority and personality are per thread: this one execs.
  applyProcessAttributes(spec);
  if (timelineState.on) mark("command resolved, seccomp compiled");
  // 8.
  applyIdentity(sys, spec, lastCap);
  if (timelineState.on) mark("identity (capabilities, uid)");
  // Changing the uid or gid cleared the parent-death signal (commit_creds):
  // set it again, and check again that the runtime is there (runc's
  // pdeath.Restore). A hostile PID 1 may still clear it for itself later.
  dieWithRuntime();
  return plan;
}

/**
 * Closes every descriptor above stderr that is not close-on-exec, except
 * `keep`: whatever the caller of tinyo leaked (an `exec 9</etc` in its shell
 * would otherwise hand the host's /etc to the container). Deno's own
 * descriptors are all close-on-exec and stay.
 */
export function closeLeakedFds(keep: readonly number[]): void {
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (fd <= 2 || keep.includes(fd)) continue;
    // undefined: not open any more (the directory's own descriptor). A
    // failure is asked again once (errno is read after the call, and the
    // runtime may have failed a call of its own in between).
    let cloexec: boolean | undefined;
    try {
      cloexec = processCalls.isCloexec(fd);
    } catch {
      cloexec = processCalls.isCloexec(fd);
    }
    if (cloexec === undefined) continue;
    if (!cloexec) processCalls.close(fd);
  }
}

/** Step 9: hands the process over to the command. Never returns. */
function execCommand(plan: ExecPlan, syncFd: number, firstClosed: number): never {
  // Ignored signals and the signal mask survive execve (handled ones are
  // reset by it): the command must not inherit Deno's.
  processCalls.unblockAllSignals();
  processCalls.resetIgnoredSignals();
  // AppArmor profile, SELinux label: they take effect at execve.
  applySecurityLabels(plan.labels);
  if (syncFd >= 0 && explainState.on) sendToRuntime(syncFd, { type: "explain", tally: explainTally() });
  if (timelineState.on) mark("execve");
  if (syncFd >= 0) sendToRuntime(syncFd, { type: "exec" });
  // Nothing but stdio (and the descriptors --preserve-fds asked for)
  // crosses execve: whatever set-up left open, and any descriptor a library
  // opened without O_CLOEXEC.
  pidCalls.cloexecFrom(firstClosed);
  // Seccomp as close to exec as possible (runc's standard_init_linux.go).
  if (plan.seccomp !== undefined) processCalls.installSeccompFilter(plan.seccomp, plan.seccompFlags ?? 0);
  // By descriptor: the file chosen is the file executed, and no path is
  // resolved again while threads with the host's root still exist.
  const shown = plan.argv[0]!.includes("/") ? plan.path : plan.argv[0]!;
  try {
    return processCalls.execveFd(plan.fd, plan.argv, plan.env, shown);
  } catch (err) {
    // A #! script: the interpreter opens it as /dev/fd/N, which must survive.
    if (!isErrno(err, "ENOENT")) throw execError(shown, err);
  }
  processCalls.setCloexec(plan.fd, false);
  try {
    return processCalls.execveFd(plan.fd, plan.argv, plan.env, shown);
  } catch (err) {
    throw execError(shown, err);
  }
}

/**
 * An early init (runtime/host/early.ts) receives its bootstrap, and the
 * descriptors it names by index, in one message on the socket in
 * TINYO_INIT_FD, sent once the runtime has prepared the container. End of
 * file instead: the runtime gave up on this init (an error, or a container
 * it does not fit) and kills it; exit quietly meanwhile.
 */
function receiveLateBootstrap(): InitBootstrap | undefined {
  const sock = Number(Deno.env.get("TINYO_INIT_FD") ?? "-1");
  if (!Number.isInteger(sock) || sock < 3) return undefined;
  let message: { fds: number[]; data: string };
  try {
    message = processCalls.recvFds(sock, 1 << 20);
  } finally {
    processCalls.close(sock);
  }
  if (message.data === "") Deno.exit(0);
  const boot = JSON.parse(message.data) as InitBootstrap;
  return mapBootstrapFds(boot, (i) => {
    const fd = message.fds[i];
    if (fd === undefined) {
      throw new ConfigError(`tinyo init: the bootstrap names descriptor ${i} of ${message.fds.length}`);
    }
    return fd;
  });
}

/** The init's entry point (`tinyo init`). Exits the process on failure. */
export function initMain(): never {
  const loadedAt = performance.now();
  // First of all: nobody but root with CAP_SYS_PTRACE may look inside this
  // process until execve (which resets it for the command).
  processCalls.prctl(PR.SET_DUMPABLE, 0);
  const syncFd = Number(Deno.env.get("TINYO_SYNC_FD") ?? "-1");
  try {
    // The sync pipe must close when the command starts (that is the signal).
    if (syncFd >= 0) processCalls.setCloexec(syncFd, true);
    const raw = Deno.env.get("TINYO_INIT");
    const boot = raw === undefined ? receiveLateBootstrap() : JSON.parse(raw) as InitBootstrap;
    if (boot === undefined) {
      throw new ConfigError("tinyo init is internal: it runs only as a container's first process");
    }
    if (boot.timeline !== undefined) {
      startTimeline(boot.timeline, "init");
      mark("main.ts", (globalThis as { tinyoMainAt?: number }).tinyoMainAt);
      mark("init module loaded", loadedAt);
      mark("bootstrap read");
    }
    if (boot.explainFd !== undefined) {
      processCalls.setCloexec(boot.explainFd, true);
      startExplaining({ fd: boot.explainFd, tty: boot.explainTty ?? false, side: "init" });
      // From here on every call of the tables is explained (runtime/explain.ts).
      explainCalls(linuxSyscalls, fsCalls, processCalls);
      explainLine(
        "process control",
        'execve("/proc/self/exe", ["tinyo", "init"])',
        "0",
        undefined,
        "the init runs: tinyo again, PID 1 of the container's PID namespace, set up from TINYO_INIT",
      );
    }
    const preserved = Array.from({ length: boot.preserveFds ?? 0 }, (_, i) => 3 + i);
    closeLeakedFds([
      syncFd,
      ...(boot.joinPidfds ?? []).map((j) => j.fd),
      ...(boot.consoleSocket !== undefined ? [boot.consoleSocket] : []),
      ...(boot.hooksFd !== undefined ? [boot.hooksFd] : []),
      ...(boot.explainFd !== undefined ? [boot.explainFd] : []),
      ...preserved,
    ]);
    const lastCap = readLastCap();
    // A new session always: without one the container would keep the
    // caller's terminal as its controlling terminal, and could push input
    // into the caller's shell with TIOCSTI. With a terminal, the session
    // gets the container's own pty later (console.ts).
    processCalls.setsid();
    const spec = loadSpec(boot.config ?? `${boot.bundle}/config.json`);
    // The exec FIFO lives on the host: hold it by an O_PATH descriptor, which
    // survives pivot_root, and reopen it through /proc/self/fd later (runc).
    const fifoFd = boot.execFifo === undefined ? -1 : processCalls.open(boot.execFifo, O.PATH | O.CLOEXEC);
    // Every libc function the init needs inside the container, bound while
    // the host's files are still the filesystem (ffi/syscalls.ts).
    processCalls.bindContainerCalls({
      hooks: hooksOf(spec, "startContainer").length > 0,
      terminal: boot.consoleSocket !== undefined,
      attributes: spec.process?.user.umask !== undefined || spec.linux?.personality !== undefined ||
        spec.process?.ioPriority !== undefined,
    });
    if (timelineState.on) mark("spec loaded");
    const plan = setupContainer(linuxSyscalls, spec, boot, { lastCap, syncFd });
    // Changing the uid or dropping capabilities reset "dumpable" to the
    // host's fs.suid_dumpable: not traceable again before execve (a created
    // container's init waits here holding the sync pipe's end).
    processCalls.prctl(PR.SET_DUMPABLE, 0);
    if (timelineState.on) mark("set up");
    if (fifoFd >= 0) {
      if (syncFd >= 0 && explainState.on) sendToRuntime(syncFd, { type: "explain", tally: explainTally() });
      if (syncFd >= 0) sendToRuntime(syncFd, { type: "created" });
      // Blocks until `tinyo start` opens the FIFO for reading.
      Deno.writeTextFileSync(`/proc/self/fd/${fifoFd}`, "0");
      processCalls.close(fifoFd);
      // startContainer: in the container, as its user, right before the command.
      runHooks("startContainer", hooksOf(spec, "startContainer"), initState(spec, boot, "created"));
    }
    execCommand(plan, syncFd, 3 + (boot.preserveFds ?? 0));
  } catch (err) {
    const exitCode = exitCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    if (syncFd >= 0) sendToRuntime(syncFd, { type: "error", message, exitCode });
    else {
      // deno-lint-ignore no-console
      console.error(`tinyo: ${message}`);
    }
    Deno.exit(exitCode);
  }
}

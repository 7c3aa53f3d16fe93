/**
 * The contract between the runtime and its init: what the runtime hands the
 * init (TINYO_INIT, JSON), and the messages the init sends back on the sync
 * pipe. Both sides import this; neither imports the other.
 *
 * @module
 */

/** Where the rootfs comes from, prepared by the init inside its mount namespace. */
export interface RootfsSource {
  /** Read-only image layers (lowest last), or a directory to bind when `upper` is absent. */
  lower: string[];
  /** The container's writable layer; absent to bind `lower[0]` itself. */
  upper?: string;
  /** overlayfs work directory, on the same filesystem as `upper`. */
  work?: string;
}

/**
 * What the runtime hands the init, as JSON in TINYO_INIT (or on an early
 * init's socket). A field holding a descriptor number must also be mapped in
 * `mapBootstrapFds`: an early init gets its descriptors by index.
 */
export interface InitBootstrap {
  /** The bundle directory holding config.json. */
  bundle: string;
  /** The container's id (for the state hooks read). */
  id?: string;
  /** The host path of config.json (defaults to `<bundle>/config.json`). */
  config?: string;
  /** How to build the root mount; absent to bind `root.path` onto itself. */
  rootfs?: RootfsSource;
  /** cgroup.procs files to join (write "0") before anything else. */
  cgroupProcs?: string[];
  /** Join a running container (`tinyo exec`) instead of setting one up. */
  exec?: boolean;
  /**
   * OCI create/start: after set-up, report "created" and wait until `tinyo
   * start` opens this FIFO before exec'ing. The init then has no parent-death
   * signal: its monitor (conmon) outlives the `tinyo create` that spawned it.
   */
  execFifo?: string;
  /**
   * The runtime spawned the init inside a new mount namespace already (so
   * every thread of the init is in it and pivot_root moves them all): the
   * init must not unshare another one.
   */
  mountNamespaceCreated?: boolean;
  /**
   * Namespaces to join through pidfds the runtime checked and passed down
   * (exec, `--network container:NAME`, ...): each descriptor's `flags` in one
   * setns(2). Namespace entries of the spec with those types are not joined
   * again by path.
   */
  joinPidfds?: { fd: number; flags: number }[];
  /**
   * An inherited, connected `--console-socket`: the init makes a pty in the
   * container's own devpts, makes it the command's terminal and sends the
   * master over this socket (SCM_RIGHTS).
   */
  consoleSocket?: number;
  /** OCI `--preserve-fds N`: descriptors 3 .. 3+N-1 reach the command. */
  preserveFds?: number;
  /**
   * The process outlives its runtime (OCI `exec --detach`): no parent-death
   * signal, as for a created container.
   */
  detached?: boolean;
  /**
   * The spec has prestart or createRuntime hooks, which the runtime runs in
   * its own namespaces: once its mounts are made, before createContainer
   * hooks and pivot_root, the init sends "hooks" and waits for one byte on
   * this pipe (the read end): the runtime ran them. End of file instead
   * means they failed, or the runtime is gone: the init stops.
   */
  hooksFd?: number;
  /**
   * `--explain`: an inherited descriptor to write explained steps to
   * (runtime/explain.ts), and whether it is a terminal. Close-on-exec in the
   * init: the command never gets it.
   */
  explainFd?: number;
  explainTty?: boolean;
  /** TINYO_TIMELINE: the file the init appends its steps to (runtime/timeline.ts). */
  timeline?: string;
}

/**
 * The bootstrap with every descriptor number passed through `map`: an early
 * init (runtime/host/early.ts) receives its descriptors over a socket, and
 * the runtime, which cannot know the numbers they get there, writes each
 * one's index in the message instead.
 */
export function mapBootstrapFds(boot: InitBootstrap, map: (n: number) => number): InitBootstrap {
  return {
    ...boot,
    ...(boot.joinPidfds ? { joinPidfds: boot.joinPidfds.map((j) => ({ ...j, fd: map(j.fd) })) } : {}),
    ...(boot.consoleSocket !== undefined ? { consoleSocket: map(boot.consoleSocket) } : {}),
    ...(boot.hooksFd !== undefined ? { hooksFd: map(boot.hooksFd) } : {}),
    ...(boot.explainFd !== undefined ? { explainFd: map(boot.explainFd) } : {}),
  };
}

/** A message the init sends to the runtime. */
export type InitMessage =
  | { type: "created" }
  | { type: "hooks" }
  | { type: "exec" }
  /** `--explain`: the init's steps per part, sent right before "exec" or "created". */
  | { type: "explain"; tally: Record<string, { calls: number; ms: number }> }
  | { type: "error"; message: string; exitCode: number };

/** What the runtime learnt from the init. */
export interface InitOutcome {
  /** The init reached execve. */
  execed: boolean;
  /** The init is set up and waits for `start` (create mode). */
  created?: boolean;
  /** The init failed (set-up or execve), with the exit code to end with. */
  error?: { message: string; exitCode: number };
}

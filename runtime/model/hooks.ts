/**
 * OCI hooks, the pure part: where each kind runs and what its failure means,
 * the state a hook reads on its stdin, and the pieces the runner uses
 * (argv, environment, the one-line failure message). The runner is
 * runtime/hooks.ts, shared by the runtime (prestart, createRuntime,
 * poststart, poststop) and the init (createContainer, startContainer).
 *
 * From config.md ("POSIX-platform Hooks") and runtime.md ("Lifecycle",
 * "State") of the runtime-spec:
 * - hooks of one kind run in the listed order, each with the container's
 *   state as JSON on its stdin;
 * - `args` has execv's argv semantics (argv[0] included), `env` environ's
 *   (the whole environment), `timeout` is in seconds and greater than zero;
 * - a failing prestart, createRuntime, createContainer or startContainer
 *   hook makes the runtime "generate an error, stop the container, and
 *   continue the lifecycle at step 12" (destroy it); a failing poststart
 *   or poststop hook only makes it "log a warning", and "the remaining hooks
 *   and lifecycle continue as if the hook had succeeded".
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config.md#posix-platform-hooks
 * @see https://github.com/opencontainers/runtime-spec/blob/main/runtime.md#lifecycle
 * @module
 */

import { type Hook, HOOK_KINDS, type HookKind, type Hooks, OCI_VERSION } from "./spec.ts";

export { HOOK_KINDS };
export type { Hook, HookKind, Hooks };

/** The values of the state's `status` (runtime.md, "State"). */
export type ContainerStatus = "creating" | "created" | "running" | "stopped";

/**
 * Where a hook's process runs (config.md): the runtime namespace is the one
 * tinyo itself runs in; the container namespace is the container's (the
 * init's, before it execs the command).
 */
export type HookNamespace = "runtime" | "container";

/** What the spec says of one hook kind. */
export interface HookRule {
  /** The operation that runs it. */
  operation: "create" | "start" | "delete";
  /** The namespaces its process runs in. */
  runsIn: HookNamespace;
  /**
   * The mount namespace its `path` resolves in. Only createContainer
   * differs from `runsIn`: resolved on the host, run in the container.
   */
  pathResolvesIn: HookNamespace;
  /**
   * A failure fails the operation and the container must be destroyed
   * (true), or is only a warning and the next hook still runs (false).
   */
  fatal: boolean;
  /** The `status` of the state it is given (runc's choice where the spec is silent). */
  status: ContainerStatus;
}

/**
 * The six kinds, in lifecycle order (runtime.md "Lifecycle", steps 3, 4, 5,
 * 7, 9 and 13).
 *
 * - prestart (deprecated): create, after the environment is set up and
 *   before pivot_root, before createRuntime (config.md "Prestart"; its
 *   summary table still says "after start", but runtime.md and runc run it
 *   during create).
 * - createRuntime: create, after the namespaces and mounts exist, before
 *   pivot_root; runtime namespace.
 * - createContainer: create, after createRuntime, before pivot_root; path
 *   resolved in the runtime namespace, run in the container's.
 * - startContainer: start, before the user's program is executed; path
 *   resolved and run in the container namespace.
 * - poststart: start, after the user's program is executed, before start
 *   returns; runtime namespace; a failure only warns.
 * - poststop: delete, after the container is destroyed, before delete
 *   returns; runtime namespace; a failure only warns.
 *
 * The statuses follow runc (libcontainer): "creating" up to createContainer,
 * "created" for startContainer, "running" for poststart, "stopped" for
 * poststop.
 */
export const HOOK_RULES: Readonly<Record<HookKind, Readonly<HookRule>>> = {
  prestart: {
    operation: "create",
    runsIn: "runtime",
    pathResolvesIn: "runtime",
    fatal: true,
    status: "creating",
  },
  createRuntime: {
    operation: "create",
    runsIn: "runtime",
    pathResolvesIn: "runtime",
    fatal: true,
    status: "creating",
  },
  createContainer: {
    operation: "create",
    runsIn: "container",
    pathResolvesIn: "runtime",
    fatal: true,
    status: "creating",
  },
  startContainer: {
    operation: "start",
    runsIn: "container",
    pathResolvesIn: "container",
    fatal: true,
    status: "created",
  },
  poststart: {
    operation: "start",
    runsIn: "runtime",
    pathResolvesIn: "runtime",
    fatal: false,
    status: "running",
  },
  poststop: {
    operation: "delete",
    runsIn: "runtime",
    pathResolvesIn: "runtime",
    fatal: false,
    status: "stopped",
  },
};

/** The hooks of one kind in `spec` (none when absent). */
export function hooksOf(spec: { hooks?: Hooks }, kind: HookKind): readonly Hook[] {
  return spec.hooks?.[kind] ?? [];
}

/** The state of a container (runtime.md, "State"), as hooks read it on stdin. */
export interface HookState {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /**
   * The container process: as the runtime sees it for hooks run in the
   * runtime namespace, as the container sees it (the init's own getpid(),
   * 1 in a new PID namespace) for hooks run in the container namespace.
   */
  pid?: number;
  /** Absolute path of the bundle directory. */
  bundle: string;
  annotations?: Record<string, string>;
}

/** What `hookState` builds the state from. */
export interface HookStateFields {
  id: string;
  bundle: string;
  status: ContainerStatus;
  pid?: number | undefined;
  /** config.json's annotations. */
  annotations?: Record<string, string> | undefined;
}

/**
 * The state object of runtime.md ("State") for a hook's stdin: fields in
 * the spec's order, `annotations` only when the config has some.
 *
 * @throws {TypeError} when the bundle is not absolute, or a created or
 *   running container has no pid (the spec requires one on Linux).
 */
export function hookState(fields: HookStateFields): HookState {
  if (!fields.bundle.startsWith("/")) {
    throw new TypeError(
      `Cannot build the state of container "${fields.id}": bundle "${fields.bundle}" is not absolute`,
    );
  }
  if (fields.pid === undefined && (fields.status === "created" || fields.status === "running")) {
    throw new TypeError(
      `Cannot build the state of container "${fields.id}": a ${fields.status} container needs a pid`,
    );
  }
  return {
    ociVersion: OCI_VERSION,
    id: fields.id,
    status: fields.status,
    ...(fields.pid === undefined ? {} : { pid: fields.pid }),
    bundle: fields.bundle,
    ...(fields.annotations === undefined ? {} : { annotations: fields.annotations }),
  };
}

/**
 * The program's argv[0] and the arguments after it. The spec's `args` is
 * execv's argv, argv[0] included (config.md's example: `"args":
 * ["fix-mounts", "arg1", "arg2"]`); without `args` argv is `[path]`.
 */
export function hookArgv(hook: Hook): { argv0: string; args: string[] } {
  const argv = hook.args ?? [hook.path];
  return { argv0: argv[0] ?? hook.path, args: argv.slice(1) };
}

/**
 * The hook's whole environment (environ semantics: nothing of the
 * runtime's own environment). A name given twice keeps its first value,
 * the one getenv(3) would find.
 */
export function hookEnv(hook: Hook): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of hook.env ?? []) {
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq);
    if (eq > 0 && !(name in env)) env[name] = entry.slice(eq + 1);
  }
  return env;
}

/**
 * The hook's timeout in milliseconds, or undefined for none. Capped at
 * what a timer can wait (2^31-1 ms, about 24 days): a longer value would
 * make setTimeout fire at once.
 */
export function hookTimeoutMs(hook: Hook): number | undefined {
  return hook.timeout === undefined ? undefined : Math.min(hook.timeout * 1000, 2 ** 31 - 1);
}

/** The last non-empty line of a program's output, trimmed and shortened to 200 characters. */
export function lastLine(output: string): string {
  const lines = output.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const last = lines.at(-1) ?? "";
  return last.length > 200 ? `${last.slice(0, 199)}…` : last;
}

/**
 * The one-line message for a hook that failed, e.g. `Cannot run the
 * createRuntime hook "/usr/bin/x": exit status 3: <last line of stderr>`.
 *
 * @param problem What went wrong: `exit status 3`, `killed by signal
 *   SIGSEGV`, `timed out after 5 s`, `no such file`.
 * @param stderr The hook's error output, whose last line is appended.
 */
export function hookFailureMessage(kind: HookKind, hook: Hook, problem: string, stderr = ""): string {
  const detail = lastLine(stderr);
  return `Cannot run the ${kind} hook "${hook.path}": ${problem}${detail === "" ? "" : `: ${detail}`}`;
}

/**
 * Whether a command line is a `tinyo run` (or OCI `create`) whose init can
 * be spawned before anything else (runtime/host/early.ts): read from the raw arguments, before
 * the CLI's modules are loaded, so it only looks for what rules it out. The
 * real decision is made later on the parsed options (launchInit): a wrong
 * "yes" costs one killed init, never a wrong container.
 *
 * @module
 */

/** Global options that take a separate value (runtime/cli/main.ts). */
const GLOBAL_VALUES = new Set(["--root", "--log", "--log-format", "--rootless", "--criu"]);

/**
 * `run` options whose container needs something at spawn time (a terminal,
 * a monitor, another PID namespace, --explain's descriptor) or is no
 * container at all (help, the OCI `run --bundle`).
 */
const RUN_RULED_OUT = /^(--(detach|tty|explain|pid|help|bundle)(=.*)?|-b)$/;

/** OCI `create` options likewise: a console socket gives the init no stdio. */
const CREATE_RULED_OUT = /^--(console-socket|explain|help)(=.*)?$/;

/**
 * True when `argv` (tinyo's own arguments) is a plain foreground `run`, or
 * an OCI `create` without a console socket (the PID namespace is in the
 * bundle's config.json, read later: most containers have a new one).
 */
export function earlyInitWanted(argv: readonly string[]): boolean {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith("-")) i += GLOBAL_VALUES.has(argv[i]!) ? 2 : 1;
  const rest = argv.slice(i + 1);
  if (argv[i] === "create") return rest.every((a) => !CREATE_RULED_OUT.test(a));
  if (argv[i] !== "run") return false;
  // Every later word is looked at, the command's own too: `run alpine ls -t`
  // spawns the init the usual way, which is only slower.
  return rest.every((a) => !RUN_RULED_OUT.test(a) && !/^-[a-zA-Z]*[dt]/.test(a) && !a.includes("container:"));
}

/**
 * `deno task install [--prefix DIR] [--force]`: writes `DIR/tinyo` (default
 * /usr/local/bin), a launcher that runs this checkout's tinyo with this
 * checkout's Deno, so that OCI clients (podman through conmon, containerd's
 * runc shim) can use tinyo as their runtime binary. It runs a bundle of the
 * checkout made at install time (tasks/build.ts, in dist/launcher-<digest>;
 * main.ts if bundling fails): like an installed binary, it does not change
 * when the checkout does, until the next install. The bundle is made as root
 * with the pinned esbuild only (no network, the launcher's own DENO_DIR,
 * nothing of the caller's environment) in a private directory, and every
 * file of it is checked like the code (below) before the launcher points at
 * it. `--prefetch` only fetches and checks that esbuild.
 * `deno task install --uninstall [--prefix DIR]` removes it again.
 *
 * The clients call the runtime with a minimal environment (podman's
 * `delete --force` gets neither PATH nor HOME) from any working directory,
 * pass descriptors beyond stdio (`--preserve-fds`), pick some flags by the
 * runtime's basename and parse its output. So the launcher is a /bin/sh
 * script that:
 * - names every path absolutely (Deno, main.ts, the Deno cache), so it needs
 *   no PATH, HOME or working directory;
 * - `exec`s Deno: the runtime keeps the launcher's pid, argv ("$@" untouched),
 *   stdio and every inherited descriptor (the shell's own descriptor of the
 *   script is close-on-exec);
 * - prints nothing itself and adds nothing to the runtime's output;
 * - runs `deno run --no-config`: Deno 2 looks for a deno.json beside the
 *   script, not in the working directory, so without it every call would load
 *   the checkout's deno.json and package.json (and a half-edited one would
 *   break the runtime); the init is started with the same flags
 *   (runtime/host/spawn.ts);
 * - sets DENO_DIR to a cache in the checkout, filled here by `deno cache` and
 *   one `tinyo --version`, so the first call neither fetches nor transpiles.
 *   It lives in node_modules/.cache/deno: node_modules holds the Deno it
 *   belongs to, and is already outside git, `deno fmt` and `deno lint`. The
 *   init inherits DENO_DIR (spawn.ts passes it on);
 * - sets DENO_DISABLE_NODE_SHIM=1: when PATH has no `node` (or no PATH at
 *   all, as podman's delete gets), Deno 2.9 otherwise puts
 *   DENO_DIR/node_compat_bin in front of PATH, so tinyo and everything it
 *   starts would see a PATH of that one directory; and
 *   DENO_NO_UPDATE_CHECK=1, so that Deno never looks for a newer release.
 *
 * The launcher is written to a temporary file beside the target, checked by
 * running `tinyo --version` through it with an empty environment from `/`,
 * then renamed over the target, so a client never sees a partial or broken
 * launcher. A target that is not a tinyo launcher is left alone unless
 * `--force`; `--uninstall` removes only a tinyo launcher. Prints one line.
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildBundle, bundleDigest, provideEsbuild } from "./build.ts";

const CHECKOUT = Deno.realPathSync(fileURLToPath(new URL("..", import.meta.url)));
/** npm's stable name for the Deno that `npm ci` installs (a symlink to the binary). */
const DENO = `${CHECKOUT}/node_modules/.bin/deno`;
const MAIN = `${CHECKOUT}/main.ts`;
const DENO_DIR = `${CHECKOUT}/node_modules/.cache/deno`;
/**
 * Where the launcher's bundles go (tasks/build.ts): dist/, which `npm ci`
 * leaves alone, each in `launcher-<digest>`, never replaced in place (a
 * running tinyo loads its chunks lazily; another install, by the tests or
 * the bench, must not change what an installed launcher runs).
 */
const DIST = `${CHECKOUT}/dist`;
const NAME = "tinyo";
/** The second line of every launcher: how a tinyo launcher is recognised. */
const MARKER = "# tinyo launcher:";

const USAGE = "Usage: deno task install [--prefix DIR] [--force] | --uninstall [--prefix DIR] | --prefetch";

/** A refusal: printed as one line, exit status 1. */
class InstallError extends Error {
  override name = "InstallError";
}

/** `s` quoted for /bin/sh. */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The launcher's text; it runs `entry` (the bundle's main.js, or main.ts). */
function launcherScript(entry: string): string {
  return [
    "#!/bin/sh",
    `${MARKER} runs the tinyo checkout in ${CHECKOUT}.`,
    "# Written by `deno task install` there; remove it with `deno task install --uninstall`.",
    "# Needs no PATH, HOME or working directory; argv, stdio and other descriptors",
    "# reach tinyo unchanged (exec); prints nothing itself.",
    `DENO_DIR=${shellQuote(DENO_DIR)}`,
    "DENO_DISABLE_NODE_SHIM=1",
    "DENO_NO_UPDATE_CHECK=1",
    "export DENO_DIR DENO_DISABLE_NODE_SHIM DENO_NO_UPDATE_CHECK",
    "# Deno cannot start in a deleted working directory (runc can): use / then.",
    '[ . -ef "$PWD" ] || cd /',
    `exec ${shellQuote(DENO)} run --allow-all --no-config --no-prompt --quiet ${shellQuote(entry)} "$@"`,
    "",
  ].join("\n");
}

/** The path of `name` in the directory `prefix`. */
function inPrefix(prefix: string, name = NAME): string {
  return `${prefix === "/" ? "" : prefix}/${name}`;
}

/** What is at `path`: nothing, a tinyo launcher (and its checkout), or something else. */
function inspectTarget(path: string): { kind: "none" } | { kind: "launcher"; checkout: string } | {
  kind: "other";
  what: string;
} {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kind: "none" };
    throw err;
  }
  if (info.isDirectory) return { kind: "other", what: "a directory" };
  if (info.isSymlink) return { kind: "other", what: "a symbolic link" };
  if (!info.isFile) return { kind: "other", what: "not a regular file" };
  // A launcher is a few hundred bytes: read the head only.
  const head = new Uint8Array(4096);
  const file = Deno.openSync(path, { read: true });
  let n: number;
  try {
    n = file.readSync(head) ?? 0;
  } finally {
    file.close();
  }
  const lines = new TextDecoder().decode(head.subarray(0, n)).split("\n");
  if (lines[0] !== "#!/bin/sh" || !lines[1]?.startsWith(MARKER)) {
    return { kind: "other", what: "not a tinyo launcher" };
  }
  const checkout = /runs the tinyo checkout in (.*)\.$/.exec(lines[1])?.[1] ?? "an unknown checkout";
  return { kind: "launcher", checkout };
}

/** Whether `path` exists (without following a final symlink). */
function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `dir` and every file and directory below it. */
function filesUnder(dir: string): string[] {
  const out = [dir];
  for (const e of Deno.readDirSync(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** Runs a command with a clean environment; returns its exit code and output. */
function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): { code: number; stdout: string; stderr: string } {
  const out = new Deno.Command(cmd, { args, env, clearEnv: true, cwd: "/", stdin: "null" }).outputSync();
  // Deno colours its errors even into a pipe; the message here is one plain line.
  // deno-lint-ignore no-control-regex
  const text = (b: Uint8Array): string => new TextDecoder().decode(b).replace(/\x1b\[[0-9;]*m/g, "").trim();
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** This checkout's Deno, checked to be the native binary (not npm's JavaScript stub). */
function checkDeno(): void {
  let real: string;
  try {
    real = Deno.realPathSync(DENO);
  } catch {
    throw new InstallError(`Cannot find this checkout's Deno at "${DENO}": run npm ci in ${CHECKOUT}`);
  }
  const head = new Uint8Array(4);
  const file = Deno.openSync(real, { read: true });
  try {
    file.readSync(head);
  } finally {
    file.close();
  }
  if (head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) {
    throw new InstallError(`Cannot use "${real}" as Deno: it is not an ELF executable (run npm ci again)`);
  }
}

/** Fills the launcher's Deno cache with every module of main.ts (the init's too). */
function warmCache(): void {
  Deno.mkdirSync(DENO_DIR, { recursive: true });
  const r = run(DENO, ["cache", "--no-config", "--quiet", MAIN], { DENO_DIR, DENO_DISABLE_NODE_SHIM: "1" });
  if (r.code !== 0) {
    throw new InstallError(`Cannot fill the Deno cache "${DENO_DIR}": ${r.stderr.split("\n")[0] ?? ""}`);
  }
}

/**
 * Everything the launcher runs as root (this checkout's code, its Deno, the
 * cache) must be writable by root alone, or whoever can write it becomes
 * root the next time podman calls tinyo. Checks each path and every
 * directory above it: owned by root, not writable by group or others
 * (a sticky world-writable directory such as /tmp is fine above it: only
 * root may replace root's entries there). Returns the first problem.
 */
function unsafeOwnership(paths: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const start of paths) {
    let path = start;
    for (;;) {
      if (!seen.has(path)) {
        seen.add(path);
        const st = Deno.lstatSync(path);
        const mode = st.mode ?? 0;
        const sticky = (mode & 0o1000) !== 0 && st.isDirectory && path !== start;
        if (st.uid !== 0) return `${path} is owned by uid ${st.uid}, not root`;
        if ((mode & 0o022) !== 0 && !sticky) return `${path} is writable by group or others`;
      }
      if (path === "/") break;
      path = path.slice(0, path.lastIndexOf("/")) || "/";
    }
  }
  return undefined;
}

async function install(prefix: string, force: boolean): Promise<string> {
  const target = inPrefix(prefix);
  const code = [
    CHECKOUT,
    MAIN,
    `${CHECKOUT}/runtime`,
    `${CHECKOUT}/ffi`,
    `${CHECKOUT}/rootfs`,
    `${CHECKOUT}/tasks`,
    Deno.realPathSync(DENO),
    ...[DENO_DIR, DIST].filter(exists),
  ];
  const unsafe = Deno.uid() === 0 ? unsafeOwnership(code) : undefined;
  if (unsafe !== undefined && !force) {
    throw new InstallError(
      `Cannot install: the launcher would run this checkout as root, but ${unsafe} (--force installs anyway)`,
    );
  }
  const found = inspectTarget(target);
  if (found.kind === "other" && (!force || found.what === "a directory")) {
    throw new InstallError(
      `Cannot write "${target}": it is ${found.what}${
        found.what === "a directory" ? "" : " (--force replaces it)"
      }`,
    );
  }
  checkDeno();
  warmCache();
  // The bundle is what makes a start fast; without it (no pinned esbuild,
  // which needs the network once) the launcher runs main.ts, which works the same.
  const bundle = await launcherBundle();
  if ("error" in bundle) {
    // deno-lint-ignore no-console
    console.error(`install: warning: running main.ts unbundled (${bundle.error})`);
  }
  const entry = "dir" in bundle ? `${bundle.dir}/main.js` : MAIN;
  const unsafeBundle = Deno.uid() === 0 && "dir" in bundle
    ? unsafeOwnership(filesUnder(bundle.dir))
    : undefined;
  if (unsafeBundle !== undefined && !force) {
    throw new InstallError(`Cannot install: the launcher would run the bundle as root, but ${unsafeBundle}`);
  }
  Deno.mkdirSync(prefix, { recursive: true });
  const text = launcherScript(entry);
  const tmp = inPrefix(prefix, `.${NAME}.install-${Deno.pid}.tmp`);
  try {
    const file = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o755 });
    try {
      file.writeSync(new TextEncoder().encode(text));
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.chmodSync(tmp, 0o755); // the mode above is reduced by the umask
    // Check it the way a client will call it (and fill the code cache): no
    // environment, `/` as working directory, nothing on stdin.
    const check = run(tmp, ["--version"], {});
    if (check.code !== 0 || !check.stdout.startsWith("tinyo") || check.stderr !== "") {
      throw new InstallError(
        `Cannot install: "tinyo --version" through the new launcher exited ${check.code}` +
          `: ${(check.stderr || check.stdout).split("\n")[0]}`,
      );
    }
    Deno.renameSync(tmp, target);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // Not created, or already renamed.
    }
    throw err;
  }
  const was = found.kind === "none"
    ? ""
    : found.kind === "other"
    ? ` (--force: it was ${found.what})`
    : found.checkout === CHECKOUT
    ? " (again)"
    : ` (it was the launcher of ${found.checkout})`;
  const version = run(DENO, ["--version"], {}).stdout.split(" ").slice(0, 2).join(" ");
  return `tinyo: installed ${target}${was} -> ${entry} (${version} at ${
    Deno.realPathSync(DENO)
  }, DENO_DIR ${DENO_DIR})`;
}

/**
 * Bundles the checkout for the launcher: the pinned esbuild fetched into
 * the launcher's DENO_DIR if it is not there (provideEsbuild), the bundle
 * made with only that cache and no network (buildBundle), then kept as
 * dist/launcher-<digest> (an identical one already there is reused).
 */
async function launcherBundle(): Promise<{ dir: string } | { error: string }> {
  try {
    await provideEsbuild(DENO_DIR);
  } catch (err) {
    return { error: (err as Error).message };
  }
  const built = await buildBundle(DIST, DENO, DENO_DIR);
  if ("error" in built) return built;
  const dir = `${DIST}/launcher-${(await bundleDigest(built.dir)).slice(0, 16)}`;
  if (exists(dir)) Deno.removeSync(built.dir, { recursive: true });
  else Deno.renameSync(built.dir, dir);
  return { dir };
}

/**
 * `--prefetch`: puts the pinned esbuild into the launcher's Deno cache, so
 * that a later install needs no network. The test gate runs it before the
 * suite, which runs without a network.
 */
async function prefetch(): Promise<string> {
  try {
    await provideEsbuild(DENO_DIR);
  } catch (err) {
    throw new InstallError(`Cannot fetch the bundler: ${(err as Error).message}`);
  }
  return `tinyo: the launcher's Deno cache holds the pinned esbuild (${DENO_DIR})`;
}

function uninstall(prefix: string): string {
  const target = inPrefix(prefix);
  const found = inspectTarget(target);
  if (found.kind === "none") return `tinyo: nothing to remove at ${target}`;
  if (found.kind === "other") throw new InstallError(`Cannot remove "${target}": it is ${found.what}`);
  Deno.removeSync(target);
  return `tinyo: removed ${target} (the launcher of ${found.checkout})`;
}

async function main(): Promise<number> {
  let values: { prefix?: string; force?: boolean; uninstall?: boolean; prefetch?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        prefix: { type: "string" },
        force: { type: "boolean" },
        uninstall: { type: "boolean" },
        prefetch: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new InstallError(`${err instanceof Error ? err.message : String(err)}. ${USAGE}`);
  }
  if (values.help) {
    // deno-lint-ignore no-console
    console.log(USAGE);
    return 0;
  }
  if (values.prefix === "") throw new InstallError("Cannot install into an empty --prefix");
  // `deno task` runs in the checkout; a relative --prefix means the caller's directory.
  const base = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  const raw = values.prefix ?? "/usr/local/bin";
  const prefix = (raw.startsWith("/") ? raw : `${base}/${raw}`).replace(/\/+$/, "") || "/";
  for (const path of [prefix, CHECKOUT]) {
    if (path.includes("\n")) {
      throw new InstallError(`Cannot use a path with a newline: ${JSON.stringify(path)}`);
    }
  }
  const line = values.prefetch
    ? await prefetch()
    : values.uninstall
    ? uninstall(prefix)
    : await install(prefix, values.force ?? false);
  // deno-lint-ignore no-console
  console.log(line);
  return 0;
}

try {
  Deno.exit(await main());
} catch (err) {
  const message = err instanceof InstallError
    ? err.message
    : err instanceof Deno.errors.PermissionDenied
    ? `Permission denied: ${err.message} (run as root, or choose a --prefix you can write)`
    : err instanceof Error
    ? err.message
    : String(err);
  // deno-lint-ignore no-console
  console.error(`install: ${message}`);
  Deno.exit(1);
}

/**
 * `deno task build [OUTDIR]`: bundles tinyo into OUTDIR (default
 * dist/bundle): `main.js` and the chunks it loads, made by `deno bundle
 * --code-splitting` (esbuild, which Deno fetches once from npm, pinned by
 * the Deno version).
 *
 * Why: every container start runs two Deno processes (the runtime and the
 * container's init), and each one loaded about 150 TypeScript modules from
 * the checkout; bundled, each loads a handful of JavaScript files, and a
 * process loads only the chunks of what it does (the init never parses the
 * image or OCI code). Measured with `deno task bench`: README, "Performance".
 * `deno task install` runs tinyo from such a bundle; `deno task run` and the
 * tests run main.ts, so they always see the checkout as it is.
 *
 * The bundle is made in a temporary directory, checked (`main.js version`),
 * then moved into place, so OUTDIR is always a whole, working bundle.
 */

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Bundles main.ts into `outdir`; returns the error's first line, or
 * undefined when it worked. With `env`, Deno runs with exactly that
 * environment (what `deno task install` passes as root: its own DENO_DIR,
 * nothing of the caller's); the checkout's deno.json is never read.
 */
export function buildBundle(
  outdir: string,
  deno = Deno.execPath(),
  env?: Record<string, string>,
): string | undefined {
  const parent = outdir.slice(0, outdir.lastIndexOf("/")) || "/";
  const name = outdir.slice(outdir.lastIndexOf("/") + 1);
  Deno.mkdirSync(parent, { recursive: true });
  // A fresh, private directory (random name, mode 0700): nobody can plant
  // anything where the bundle is made and first run.
  const tmp = Deno.makeTempDirSync({ dir: parent, prefix: `.${name}.build-` });
  const old = `${parent}/.${name}.old-${Deno.pid}`;
  const run = (args: string[]): { ok: boolean; out: string } => {
    const r = new Deno.Command(deno, {
      args,
      cwd: ROOT,
      stdin: "null",
      ...(env ? { env, clearEnv: true } : { env: { DENO_NO_UPDATE_CHECK: "1" } }),
    }).outputSync();
    const text = new TextDecoder().decode(r.success ? r.stdout : r.stderr);
    // deno-lint-ignore no-control-regex
    return { ok: r.success, out: text.replace(/\x1b\[[0-9;]*m/g, "").trim() };
  };
  try {
    const bundled = run([
      "bundle",
      "--quiet",
      "--no-config",
      "--code-splitting",
      "--outdir",
      tmp,
      `${ROOT}main.ts`,
    ]);
    if (!bundled.ok) return `deno bundle failed: ${bundled.out.split("\n")[0]}`;
    const check = run(["run", "--allow-all", "--no-config", "--quiet", `${tmp}/main.js`, "version"]);
    if (!check.ok || !check.out.startsWith("tinyo")) {
      return `the bundle does not run: ${check.out.split("\n")[0]}`;
    }
    Deno.chmodSync(tmp, 0o755);
    let replaced = false;
    try {
      Deno.renameSync(outdir, old);
      replaced = true;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    Deno.renameSync(tmp, outdir);
    if (replaced) Deno.removeSync(old, { recursive: true });
    return undefined;
  } finally {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch {
      // Moved into place.
    }
  }
}

if (import.meta.main) {
  const outdir = Deno.args[0] ?? `${ROOT}dist/bundle`;
  const error = buildBundle(
    outdir.startsWith("/") ? outdir : `${Deno.env.get("INIT_CWD") ?? Deno.cwd()}/${outdir}`,
  );
  // deno-lint-ignore no-console
  if (error !== undefined) console.error(`build: ${error}`);
  // deno-lint-ignore no-console
  else console.log(`build: ${outdir}/main.js`);
  Deno.exit(error === undefined ? 0 : 1);
}

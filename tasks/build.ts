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
 * The esbuild that `deno bundle` of this Deno (2.9.6) runs, pinned: npm's
 * @esbuild/linux-x64 0.25.5, its tarball's integrity as npm publishes it,
 * the binary's SHA-512, and where Deno looks for it in DENO_DIR. Deno would
 * otherwise fetch it from the registry on first use, checked only against
 * what that same registry says, and run it (as root, for the install
 * launcher).
 */
export const ESBUILD = {
  tarball: "https://registry.npmjs.org/@esbuild/linux-x64/-/linux-x64-0.25.5.tgz",
  integrity:
    "sha512-uhj8N2obKTE6pSZ+aMUbqq+1nXxNjZIIjCjGLfsWvVpy7gKCOL6rsY1MhRh9zLtUtAI7vpgLMK6DxjO8Qm9lJw==",
  binarySha512:
    "fc23e4570ebb4245b3b78a336651f2a35632550dcda33916ed96cea4bdb4be57f4efe757c73743d494fff1fcc21dcb311875bc6f028bb6743f2a59bc4fad1450",
  inDenoDir: "dl/esbuild-0.25.5-1/esbuild-linux-x64",
} as const;

async function sha512(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-512", bytes));
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `denoDir` holds the pinned esbuild binary (and nothing else in its place). */
export async function hasPinnedEsbuild(denoDir: string): Promise<boolean> {
  try {
    return hex(await sha512(Deno.readFileSync(`${denoDir}/${ESBUILD.inDenoDir}`))) === ESBUILD.binarySha512;
  } catch {
    return false;
  }
}

/**
 * Puts the pinned esbuild where `deno bundle` finds it in `denoDir`:
 * downloads the tarball (the caller's proxy and certificate settings
 * apply), checks its integrity, unpacks it in a private directory and checks
 * the binary before moving it into place. A binary already there that is not
 * the pinned one is replaced. Throws with a one-line reason.
 */
export async function provideEsbuild(denoDir: string): Promise<void> {
  if (await hasPinnedEsbuild(denoDir)) return;
  const response = await fetch(ESBUILD.tarball);
  if (!response.ok) throw new Error(`Cannot fetch ${ESBUILD.tarball}: HTTP ${response.status}`);
  const tgz = new Uint8Array(await response.arrayBuffer());
  const integrity = `sha512-${btoa(String.fromCharCode(...await sha512(tgz)))}`;
  if (integrity !== ESBUILD.integrity) {
    throw new Error(`${ESBUILD.tarball} is not the pinned esbuild (integrity)`);
  }
  const target = `${denoDir}/${ESBUILD.inDenoDir}`;
  const dir = target.slice(0, target.lastIndexOf("/"));
  Deno.mkdirSync(dir, { recursive: true });
  const tmp = Deno.makeTempDirSync({ dir, prefix: ".esbuild-" });
  try {
    Deno.writeFileSync(`${tmp}/package.tgz`, tgz);
    const tar = new Deno.Command("tar", {
      args: ["-xzf", `${tmp}/package.tgz`, "-C", tmp, "package/bin/esbuild"],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!tar.success) {
      throw new Error(`Cannot unpack esbuild: ${new TextDecoder().decode(tar.stderr).trim()}`);
    }
    const binary = Deno.readFileSync(`${tmp}/package/bin/esbuild`);
    if (hex(await sha512(binary)) !== ESBUILD.binarySha512) {
      throw new Error("esbuild's binary is not the pinned one");
    }
    Deno.chmodSync(`${tmp}/package/bin/esbuild`, 0o755);
    Deno.renameSync(`${tmp}/package/bin/esbuild`, target);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
}

/** A proxy nobody listens on: with it, `deno bundle` can fetch nothing, and runs only the esbuild it has. */
const NO_NETWORK = { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", NO_PROXY: "" };

/**
 * Bundles main.ts into a new private directory (random name, mode 0700,
 * under `parent`): nobody can plant anything where the bundle is made and
 * first run. Returns that directory, checked (`main.js version` runs), or
 * the error's first line. With `denoDir` (what `deno task install` passes as
 * root), Deno runs with only that cache, no network and nothing of the
 * caller's environment, so the only esbuild it can run is the pinned one
 * (provideEsbuild); the checkout's deno.json is never read.
 */
export async function buildBundle(
  parent: string,
  deno = Deno.execPath(),
  denoDir?: string,
): Promise<{ dir: string } | { error: string }> {
  if (denoDir !== undefined && !(await hasPinnedEsbuild(denoDir))) {
    return { error: `the pinned esbuild is not in ${denoDir} (deno task install --prefetch fetches it)` };
  }
  Deno.mkdirSync(parent, { recursive: true });
  const tmp = Deno.makeTempDirSync({ dir: parent, prefix: ".bundle-" });
  const env = denoDir === undefined ? { env: { DENO_NO_UPDATE_CHECK: "1" } } : {
    env: { ...NO_NETWORK, DENO_DIR: denoDir, DENO_DISABLE_NODE_SHIM: "1", DENO_NO_UPDATE_CHECK: "1" },
    clearEnv: true,
  };
  const run = (args: string[]): { ok: boolean; out: string } => {
    const r = new Deno.Command(deno, { args, cwd: ROOT, stdin: "null", ...env }).outputSync();
    const text = new TextDecoder().decode(r.success ? r.stdout : r.stderr);
    // deno-lint-ignore no-control-regex
    return { ok: r.success, out: text.replace(/\x1b\[[0-9;]*m/g, "").trim() };
  };
  const bundled = run([
    "bundle",
    "--quiet",
    "--no-config",
    "--code-splitting",
    "--outdir",
    tmp,
    `${ROOT}main.ts`,
  ]);
  const check = bundled.ok
    ? run(["run", "--allow-all", "--no-config", "--quiet", `${tmp}/main.js`, "version"])
    : undefined;
  if (!bundled.ok || !check!.ok || !check!.out.startsWith("tinyo")) {
    Deno.removeSync(tmp, { recursive: true });
    return {
      error: bundled.ok
        ? `the bundle does not run: ${check!.out.split("\n")[0]}`
        : `deno bundle failed: ${bundled.out.split("\n")[0]}`,
    };
  }
  Deno.chmodSync(tmp, 0o755);
  return { dir: tmp };
}

/** The hex SHA-256 of a bundle's main.js (it names every chunk by a hash of its content). */
export async function bundleDigest(dir: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", Deno.readFileSync(`${dir}/main.js`))));
}

if (import.meta.main) {
  const arg = Deno.args[0] ?? `${ROOT}dist/bundle`;
  const outdir = arg.startsWith("/") ? arg : `${Deno.env.get("INIT_CWD") ?? Deno.cwd()}/${arg}`;
  const built = await buildBundle(outdir.slice(0, outdir.lastIndexOf("/")) || "/");
  if ("error" in built) {
    // deno-lint-ignore no-console
    console.error(`build: ${built.error}`);
    Deno.exit(1);
  }
  // Replaces OUTDIR (what a developer asks for); the install launcher's
  // bundles are never replaced (tasks/install.ts).
  try {
    Deno.removeSync(outdir, { recursive: true });
  } catch {
    // None yet.
  }
  Deno.renameSync(built.dir, outdir);
  // deno-lint-ignore no-console
  console.log(`build: ${arg}/main.js`);
}

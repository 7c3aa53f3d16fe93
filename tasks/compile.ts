/**
 * `deno task compile`: builds the single `dist/tinyo` executable.
 *
 * `deno compile` downloads its `denort` base binary on first use; offline,
 * point DENORT_BIN at a denort binary of the same Deno version (the full
 * `deno` binary does not work as one). See README, "Building one binary".
 */

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const output = Deno.args[0] ?? `${ROOT}dist/tinyo`;
const args = ["compile", "--allow-all", "--no-config", "--output", output, `${ROOT}main.ts`];
// deno-lint-ignore no-console
console.log(
  `deno ${args.join(" ")}${Deno.env.get("DENORT_BIN") ? ` (DENORT_BIN=${Deno.env.get("DENORT_BIN")})` : ""}`,
);
const status = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT }).spawn().status;
if (!status.success) {
  // deno-lint-ignore no-console
  console.error(
    "tinyo: deno compile failed. Without internet access it cannot download denort: set DENORT_BIN to a denort binary.",
  );
}
Deno.exit(status.code);

/**
 * `deno task test`: the whole gate CI runs. Formatting, lint, type check,
 * module boundaries, then the test suite (root-only suites need root and
 * ../shared/rootfs). Ends with a plain `N passed, N failed` line.
 *
 * Arguments are passed to `deno test` (e.g. a path or `--filter`).
 */

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const deno = Deno.execPath();

async function step(name: string, args: string[]): Promise<void> {
  // deno-lint-ignore no-console
  console.log(`\n== ${name}: deno ${args.join(" ")}`);
  const status = await new Deno.Command(deno, { args, cwd: ROOT, stdin: "null" }).spawn().status;
  if (!status.success) {
    // deno-lint-ignore no-console
    console.log(`\n${name} failed\n0 passed, 1 failed`);
    Deno.exit(1);
  }
}

await step("format", ["fmt", "--check"]);
await step("lint", ["lint"]);
await step("type check", ["check", "main.ts", "tasks/", "tests/"]);
await step("module boundaries", ["run", "--allow-read", "tasks/check_boundaries.ts"]);

const testArgs = Deno.args.length > 0 ? Deno.args : ["tests/"];
// deno-lint-ignore no-console
console.log(`\n== tests: deno test --allow-all ${testArgs.join(" ")}`);
const child = new Deno.Command(deno, {
  args: ["test", "--allow-all", ...testArgs],
  cwd: ROOT,
  stdin: "null",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
let tail = "";
const dec = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + dec.decode(chunk, { stream: true })).slice(-4000);
}
const status = await child.status;
// deno prints e.g. "ok | 80 passed (24 steps) | 0 failed | 2 ignored (12s)".
// deno-lint-ignore no-control-regex
const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
const m = /(\d+) passed.*?\| (\d+) failed(?:.*?\| (\d+) ignored)?/.exec(
  plain.split("\n").reverse().find((l) => / passed /.test(l)) ?? "",
);
const passed = Number(m?.[1] ?? 0);
const failed = Number(m?.[2] ?? (status.success ? 0 : 1));
const ignored = Number(m?.[3] ?? 0);
// deno-lint-ignore no-console
console.log(`\n${passed} passed, ${failed} failed${ignored > 0 ? `, ${ignored} skipped` : ""}`);
Deno.exit(status.success && failed === 0 && passed > 0 ? 0 : 1);

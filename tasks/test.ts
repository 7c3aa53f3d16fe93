/**
 * `deno task test`: the whole gate CI runs. Formatting, lint, type check,
 * module boundaries, then the test suite (root-only suites need root and
 * ../shared/rootfs), then the cgroup suites again inside a pure cgroup v2 VM
 * (../shared/vm/run-in-vm.sh). Ends with a plain `N passed, N failed` line.
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
{
  // The suite runs without a network (below); `deno task install` bundles
  // tinyo for its launcher with a pinned esbuild from npm (tasks/build.ts):
  // fetch and check it now. Offline, the install tests will say so.
  const args = ["run", "--allow-all", "tasks/install.ts", "--prefetch"];
  // deno-lint-ignore no-console
  console.log(`\n== the bundler for the install launcher: deno ${args.join(" ")}`);
  const status = await new Deno.Command(deno, { args, cwd: ROOT, stdin: "null" }).spawn().status;
  if (!status.success) {
    // deno-lint-ignore no-console
    console.log("warning: could not fetch the bundler; the install tests will fail");
  }
}

const testArgs = Deno.args.length > 0 ? Deno.args : ["tests/"];
// As root, the suite runs in a network namespace of its own (loopback up,
// nothing else): whatever a test does, no link, address or firewall rule is
// added to the machine's own namespace, and nothing leaves the machine. The
// networking tests make further namespaces inside it.
const privateNet = Deno.uid() === 0
  ? ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
  : [];
// deno-lint-ignore no-console
console.log(
  `\n== tests: ${privateNet.length > 0 ? "unshare --net: " : ""}deno test --allow-all ${testArgs.join(" ")}`,
);
const child = new Deno.Command(privateNet[0] ?? deno, {
  args: [
    ...privateNet.slice(1),
    ...(privateNet.length > 0 ? [deno] : []),
    "test",
    "--allow-all",
    ...testArgs,
  ],
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

/** Parses deno test's summary line: passed, failed, ignored. */
function summary(text: string, ok: boolean): [number, number, number] {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  const line = plain.split("\n").reverse().find((l) => / passed /.test(l)) ?? "";
  const m = /(\d+) passed.*?\| (\d+) failed(?:.*?\| (\d+) ignored)?/.exec(line);
  return [Number(m?.[1] ?? 0), Number(m?.[2] ?? (ok ? 0 : 1)), Number(m?.[3] ?? 0)];
}

let [passed, failed, ignored] = summary(tail, status.success);

// cgroup v2: the host may be hybrid (v1), so the cgroup suites also run in a
// throw-away VM whose only hierarchy is cgroup v2 (../shared/vm). Set
// TINYO_SKIP_VM=1 to skip it (it is then reported as skipped, not passed).
const vm = `${ROOT}../shared/vm/run-in-vm.sh`;
const vmWanted = Deno.args.length === 0;
let vmRan = false;
if (vmWanted && Deno.env.get("TINYO_SKIP_VM") !== "1" && Deno.uid() === 0) {
  try {
    Deno.statSync(vm);
    vmRan = true;
  } catch {
    // deno-lint-ignore no-console
    console.log(`\n== cgroup v2 VM: ${vm} not found, skipped`);
  }
}
if (vmRan) {
  // The VM shares the directory holding the checkout and ../shared; test
  // roots go to the guest's own tmpfs (TINYO_TEST_TMP), never to that share.
  const parent = new URL("..", `file://${ROOT}`).pathname.replace(/\/$/, "");
  const inner =
    `cd '${ROOT}' && NO_COLOR=1 TINYO_TEST_TMP=/dev/shm ./node_modules/.bin/deno test --allow-all --no-check ` +
    "tests/integration/cgroups_test.ts tests/runtime/host/cgroups_test.ts tests/integration/devices_bpf_test.ts";
  // deno-lint-ignore no-console
  console.log(`\n== cgroup v2 tests in a VM: ${vm} '${inner}' ${parent}`);
  const vmChild = new Deno.Command(vm, {
    args: [inner, parent],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  })
    .spawn();
  let vmOut = "";
  for await (const chunk of vmChild.stdout) {
    await Deno.stdout.write(chunk);
    vmOut = (vmOut + dec.decode(chunk, { stream: true })).slice(-4000);
  }
  const vmStatus = await vmChild.status;
  if (!/cgroup layout: v2/.test(vmOut) && vmStatus.success) {
    // deno-lint-ignore no-console
    console.log("The VM did not report a cgroup v2 layout");
    failed++;
  }
  const [p, f, i] = summary(vmOut, vmStatus.success);
  passed += p;
  failed += f;
  ignored += i;
} else if (vmWanted) ignored++;

// deno-lint-ignore no-console
console.log(`\n${passed} passed, ${failed} failed${ignored > 0 ? `, ${ignored} skipped` : ""}`);
Deno.exit(status.success && failed === 0 && passed > 0 ? 0 : 1);

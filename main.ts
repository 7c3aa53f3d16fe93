/**
 * tinyo's entry point. `tinyo init` (the container's first process, see
 * runtime/init.ts) is dispatched before anything else is loaded, to keep the
 * path every container start runs short. Everything else goes to the CLI.
 *
 * This is the only place that turns errors into exit codes and prints them:
 * one line on stderr, `tinyo: <message>`.
 *
 * @module
 */

// When main.ts began: Deno's own start-up ends here (TINYO_TIMELINE, runtime/timeline.ts).
(globalThis as { tinyoMainAt?: number }).tinyoMainAt = performance.now();
// The file the init re-executes: this one, or the bundle's main.js it was built into (tasks/build.ts).
(globalThis as { tinyoEntry?: string }).tinyoEntry = import.meta.url;

if (Deno.args[0] === "init") {
  const { initMain } = await import("./runtime/container/init.ts");
  initMain();
}

const timeline = Deno.env.get("TINYO_TIMELINE");
if (timeline !== undefined && timeline !== "") {
  const { mark, startTimeline } = await import("./runtime/timeline.ts");
  // Absolute: the init opens it too, from another working directory.
  startTimeline(timeline.startsWith("/") ? timeline : `${Deno.cwd()}/${timeline}`, "runtime");
  mark("main.ts", (globalThis as { tinyoMainAt?: number }).tinyoMainAt);
}
// A plain `tinyo run` (or OCI `create`): its container's init starts now, so
// that its Deno start-up overlaps with everything the runtime does before it
// needs it (runtime/host/early.ts).
const early = Deno.uid() === 0 && (await import("./runtime/cli/early.ts")).earlyInitWanted(Deno.args)
  ? await import("./runtime/host/early.ts")
  : undefined;
try {
  early?.startEarlyInit();
} catch {
  // The init is spawned later as usual, which reports a failure that lasts
  // (a failed return to the runtime's own namespaces has ended the process).
}
const { cliMain } = await import("./runtime/cli/main.ts");
const { exitCodeOf } = await import("./runtime/errors.ts");
let code: number;
try {
  code = await cliMain(Deno.args);
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  // deno-lint-ignore no-console
  console.error(message.startsWith("tinyo") ? message : `tinyo: ${message}`);
  code = exitCodeOf(err);
}
// An early init nobody took (the command failed before it): killed, reaped.
await early?.discardEarlyInit();
Deno.exit(code);

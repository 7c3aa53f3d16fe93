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
Deno.exit(code);

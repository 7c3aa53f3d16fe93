/**
 * Fails when the module boundaries are crossed (shared/docs/STYLE.md):
 * `Deno.dlopen` only in ffi/_libc.ts and ffi/_zlib.ts; `Unsafe*` and pointers
 * only in ffi/; the symbol tables are imported only inside ffi/;
 * ffi/ imports nothing of the project; runtime/ reaches ffi/ only through
 * runtime/syscalls.ts (the model may read ffi/constants.ts, plain data);
 * rootfs/ may use ffi/ but not runtime/; nothing in the product imports
 * tests/ or tasks/.
 *
 * runtime/ is laid out by the process that runs the code:
 * - runtime/model/: pure (spec, validation, docker flags to spec, the
 *   runtime–init contract); imports only model/, errors.ts and constants;
 * - runtime/container/: the init, in the container; never imports host/,
 *   cli/ or rootfs/;
 * - runtime/host/: the runtime side, one module per concern; never imports
 *   container/ (the init is another process) nor cli/;
 * - runtime/cli/: the two front ends (docker-style and OCI);
 * - runtime/syscalls.ts, errors.ts, inroot.ts: shared by both sides.
 */

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const problems: string[] = [];

function* walk(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(rel);
    else if (e.name.endsWith(".ts")) yield rel;
  }
}

/** The files that may call `Deno.dlopen`, and that only ffi/ may import. */
const SYMBOL_TABLES = ["ffi/_libc.ts", "ffi/_zlib.ts"];

const files = ["main.ts", ...walk("ffi"), ...walk("runtime"), ...walk("rootfs")].map((f) =>
  f.replace(/^\//, "")
);
for (const file of files) {
  const text = Deno.readTextFileSync(`${ROOT}${file}`);
  const imports = [...text.matchAll(/(?:from|import\()\s*"([^"]+)"/g)].map((m) => m[1]!);
  const top = file.split("/")[0]!;
  if (/Deno\.dlopen\(/.test(text) && !SYMBOL_TABLES.includes(file)) {
    problems.push(`${file}: Deno.dlopen outside ${SYMBOL_TABLES.join(" and ")}`);
  }
  if (/\bUnsafe(Pointer|PointerView|Callback|FnPointer)\b|PointerValue/.test(text) && top !== "ffi") {
    problems.push(`${file}: raw pointers outside ffi/`);
  }
  for (const spec of imports) {
    if (!spec.startsWith(".")) continue;
    const target = new URL(spec, `file:///${file}`).pathname.slice(1);
    const targetTop = target.split("/")[0]!;
    if (targetTop === "tests" || targetTop === "tasks") problems.push(`${file}: imports ${target}`);
    if (top === "ffi" && targetTop !== "ffi") problems.push(`${file}: ffi/ imports ${target}`);
    const constants = target === "ffi/constants.ts" && file.startsWith("runtime/model/");
    if (top === "runtime" && targetTop === "ffi" && file !== "runtime/syscalls.ts" && !constants) {
      problems.push(`${file}: runtime/ imports ${target} (go through runtime/syscalls.ts)`);
    }
    const side = file.split("/")[1];
    const targetSide = target.startsWith("runtime/") ? target.split("/")[1] : targetTop;
    if (side === "model" && !["model", "errors.ts"].includes(targetSide!) && !constants) {
      problems.push(`${file}: the model imports ${target} (it must stay pure)`);
    }
    if (side === "container" && ["host", "cli", "rootfs"].includes(targetSide!)) {
      problems.push(`${file}: the container side imports ${target}`);
    }
    if (side === "host" && ["container", "cli"].includes(targetSide!)) {
      problems.push(`${file}: the host side imports ${target}`);
    }
    if (top === "rootfs" && targetTop === "runtime") problems.push(`${file}: rootfs/ imports ${target}`);
    if (top !== "ffi" && SYMBOL_TABLES.includes(target)) {
      problems.push(`${file}: imports the private symbol table ${target}`);
    }
  }
}
if (problems.length > 0) {
  // deno-lint-ignore no-console
  console.error(`Module boundaries crossed:\n  ${problems.join("\n  ")}`);
  Deno.exit(1);
}
// deno-lint-ignore no-console
console.log(`Module boundaries ok (${files.length} files)`);

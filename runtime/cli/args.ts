/**
 * A small table-driven option parser with docker's conventions: options come
 * before the first positional argument (everything after it belongs to the
 * container's command), `--` ends options, `--opt=value` and `--opt value`,
 * `-o value` and `-ovalue`, combined short flags (`-it`). Unknown options are
 * errors that name the option.
 *
 * With `interleaved` (the OCI verbs, as runc takes them), options and
 * positional arguments may come in any order: `create ID --bundle B`.
 *
 * node:util parseArgs cannot stop at the first positional argument, which
 * `run IMAGE COMMAND --flags-of-the-command` needs; hence this file.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/** One option of a command. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `"env"`. */
  long: string;
  /** Short letter, e.g. `"e"`. */
  short?: string;
  /** Takes a value (otherwise a boolean flag). */
  value?: boolean;
  /**
   * A flag that may carry a value only as `--name=VALUE` (`--explain`,
   * `--explain=FILE`): recorded as a flag, and its value when given.
   */
  optionalValue?: boolean;
  /** The value's placeholder in help, e.g. `"KEY=VALUE"`. */
  arg?: string;
  /** One line of help. */
  help: string;
}

/** Parsed options: values by long name (repeatable values collected in order). */
export interface ParsedArgs {
  flags: Set<string>;
  values: Map<string, string[]>;
  /** Positional arguments: the first one and everything after it. */
  rest: string[];
}

/**
 * Parses `argv` against `specs`.
 *
 * @param command The command name, for error messages.
 * @throws {UsageError} on an unknown option or a missing value.
 */
export function parseArgs(
  argv: readonly string[],
  specs: readonly OptionSpec[],
  command: string,
  options: { interleaved?: boolean } = {},
): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short!, s]));
  const out: ParsedArgs = { flags: new Set(), values: new Map(), rest: [] };
  const hint = `see 'tinyo ${command} --help'`;
  const set = (spec: OptionSpec, value: string | undefined, shown: string): void => {
    if (spec.value) {
      if (value === undefined) {
        throw new UsageError(`tinyo ${command}: option "${shown}" needs a value (${hint})`);
      }
      const list = out.values.get(spec.long) ?? [];
      list.push(value);
      out.values.set(spec.long, list);
    } else {
      if (value !== undefined) {
        throw new UsageError(`tinyo ${command}: option "${shown}" takes no value (${hint})`);
      }
      out.flags.add(spec.long);
    }
  };
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.rest = [...out.rest, ...argv.slice(i + 1)];
      return out;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (spec === undefined) throw new UsageError(`tinyo ${command}: unknown option "--${name}" (${hint})`);
      let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
      if (spec.optionalValue) {
        out.flags.add(spec.long);
        if (value !== undefined) out.values.set(spec.long, [...(out.values.get(spec.long) ?? []), value]);
        i++;
        continue;
      }
      if (spec.value && value === undefined) value = argv[++i];
      set(spec, value, `--${name}`);
      i++;
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const spec = byShort.get(letter);
        if (spec === undefined) {
          throw new UsageError(`tinyo ${command}: unknown option "-${letter}" (${hint})`);
        }
        if (spec.value) {
          const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
          set(spec, value, `-${letter}`);
          break;
        }
        set(spec, undefined, `-${letter}`);
      }
      i++;
      continue;
    }
    if (options.interleaved) {
      out.rest.push(arg);
      i++;
      continue;
    }
    out.rest = argv.slice(i);
    return out;
  }
  return out;
}

/** Help text lines for a list of options. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const names = `${s.short !== undefined ? `-${s.short}, ` : "    "}--${s.long}${
      s.value ? ` ${s.arg ?? "VALUE"}` : s.optionalValue ? `[=${s.arg ?? "VALUE"}]` : ""
    }`;
    return [names, s.help] as const;
  });
  const width = Math.max(...rows.map(([n]) => n.length)) + 2;
  return rows.map(([n, h]) => `  ${n.padEnd(width)}${h}`).join("\n");
}

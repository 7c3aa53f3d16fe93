/**
 * Sizes on the command line (`64m`, `1.5g`, `512k`, `1048576`) and their
 * display (`64 MiB`).
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/** Parses a size such as `512m` or `8g` (binary units) into bytes. */
export function parseSize(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)i?b?$/i.exec(value.trim());
  if (m === null) {
    throw new UsageError(
      `tinyo: invalid ${what} "${value}": expected a number with an optional k, m, g or t suffix`,
    );
  }
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k"]!;
  return Math.floor(Number(m[1]) * unit);
}

/** `n` bytes in the largest binary unit below it: `{ value: 1.5, unit: "KiB" }` for 1536. */
export function binaryScale(n: number): { value: number; unit: string } {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return { value, unit: units[i]! };
}

/** Bytes as the largest whole binary unit that fits exactly, else MiB with one decimal. */
export function formatLimit(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return bytes >= 1024 ** 2 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${bytes} bytes`;
}

/**
 * Download and unpack progress on stderr: a redrawn bar with bytes, rate and
 * ETA on a terminal, a few plain lines otherwise, nothing with `-q`.
 *
 * @module
 */

import type { PullProgress } from "../../rootfs/mod.ts";
import { binaryScale } from "../model/units.ts";

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  const { value, unit } = binaryScale(n);
  return unit === "B" ? `${value} B` : `${value.toFixed(1)} ${unit}`;
}

/** Seconds → `4s`, `2m05s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** One line of the terminal bar. */
export function progressLine(p: PullProgress, elapsedMs: number, width = 24): string {
  const verb = p.phase === "download" ? "Downloading" : "Unpacking";
  const rate = elapsedMs > 0 ? (p.done / elapsedMs) * 1000 : 0;
  if (p.total === undefined || p.total <= 0) {
    return `${verb} ${p.what}  ${formatBytes(p.done)}  ${formatBytes(rate)}/s`;
  }
  const frac = Math.min(1, p.done / p.total);
  const filled = Math.round(frac * width);
  const eta = rate > 0 ? (p.total - p.done) / rate : Infinity;
  return `${verb} ${p.what}  [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${
    String(Math.floor(frac * 100)).padStart(3)
  }%  ${formatBytes(p.done)} / ${formatBytes(p.total)}  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`;
}

/** Returns a progress callback writing to stderr, or undefined when quiet. */
export function progressReporter(options: { quiet: boolean }): ((p: PullProgress) => void) | undefined {
  if (options.quiet) return undefined;
  const enc = new TextEncoder();
  const write = (s: string): void => void Deno.stderr.writeSync(enc.encode(s));
  const tty = Deno.stderr.isTerminal();
  let phase = "";
  let started = 0;
  let lastDraw = 0;
  let nextQuarter = 0;
  return (p) => {
    const now = performance.now();
    if (p.phase !== phase) {
      phase = p.phase;
      started = now;
      lastDraw = 0;
      nextQuarter = 25;
      // Without a terminal, unpacking reports only its last line, so that an
      // error while unpacking stays the only line.
      if (!tty && p.phase === "download") {
        write(`Downloading ${p.what}${p.total ? ` (${formatBytes(p.total)})` : ""}\n`);
      }
    }
    const elapsed = now - started;
    if (tty) {
      if (p.finished || now - lastDraw > 100) {
        lastDraw = now;
        write(`\r\x1b[K${progressLine(p, elapsed)}${p.finished ? "\n" : ""}`);
      }
      return;
    }
    if (p.finished) {
      write(
        p.phase === "download"
          ? `Downloaded ${formatBytes(p.done)} in ${(elapsed / 1000).toFixed(1)}s\n`
          : `Unpacked ${p.what} (${formatBytes(p.done)}) in ${(elapsed / 1000).toFixed(1)}s\n`,
      );
    } else if (
      p.total && p.phase === "download" && (p.done / p.total) * 100 >= nextQuarter && nextQuarter < 100
    ) {
      write(`  ${nextQuarter}% ${formatBytes(p.done)}\n`);
      nextQuarter += 25;
    }
  };
}

import assert from "node:assert/strict";
import { cpuPercent, parseFlatKeyed, parseMemoryLimit, parseStat } from "../../../runtime/host/stats.ts";
import { humanBytes } from "../../../runtime/cli/stats.ts";

Deno.test("parseStat() reads ppid and CPU ticks after a command name with spaces and parentheses", () => {
  const line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 123 0 0";
  assert.deepEqual(parseStat(line), { ppid: 1, ticks: 300 });
  assert.equal(parseStat("garbage"), undefined);
});

Deno.test("parseMemoryLimit(): bytes, or none for v2's max and v1's huge number", () => {
  assert.equal(parseMemoryLimit("67108864"), 64 * 1024 * 1024);
  assert.equal(parseMemoryLimit("max"), undefined);
  assert.equal(parseMemoryLimit("9223372036854771712"), undefined);
  assert.equal(parseMemoryLimit(undefined), undefined);
});

Deno.test("parseFlatKeyed() and cpuPercent(): cpu.stat usage over an interval", () => {
  const stat = parseFlatKeyed("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
  assert.equal(stat.get("usage_usec"), 1500000);
  const before = { cpuNs: 1e9, memory: 0, pids: 1 };
  const after = { cpuNs: 1.5e9, memory: 0, pids: 1 };
  assert.equal(cpuPercent(before, after, 1000), 50);
  assert.equal(cpuPercent(before, after, 0), 0);
  assert.equal(cpuPercent(after, before, 1000), 0);
});

Deno.test("humanBytes() prints docker's way", () => {
  assert.equal(humanBytes(512), "512B");
  assert.equal(humanBytes(64 * 1024 * 1024), "64.0MiB");
  assert.equal(humanBytes(1536 * 1024), "1.50MiB");
  assert.equal(humanBytes(3 * 1024 ** 3), "3.00GiB");
});

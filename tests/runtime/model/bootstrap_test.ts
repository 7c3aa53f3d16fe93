import assert from "node:assert/strict";
import { mapBootstrapFds } from "../../../runtime/model/bootstrap.ts";

Deno.test("mapBootstrapFds() maps every descriptor field and nothing else", () => {
  const boot = {
    bundle: "/b",
    cgroupProcs: ["/sys/fs/cgroup/pids/tinyo/x/cgroup.procs"],
    joinPidfds: [{ fd: 0, flags: 0x40000000 }, { fd: 1, flags: 0x20000000 }],
    consoleSocket: 2,
    hooksFd: 3,
    explainFd: 4,
    explainTty: true,
    preserveFds: 2,
  };
  const mapped = mapBootstrapFds(boot, (i) => 100 + i);
  assert.deepEqual(mapped, {
    ...boot,
    joinPidfds: [{ fd: 100, flags: 0x40000000 }, { fd: 101, flags: 0x20000000 }],
    consoleSocket: 102,
    hooksFd: 103,
    explainFd: 104,
  });
  assert.deepEqual(mapBootstrapFds({ bundle: "/b" }, () => assert.fail("no descriptors to map")), {
    bundle: "/b",
  });
});

/**
 * The cost of a bridged container's network, measured inside tinyo's own
 * code (run by `deno task bench` inside a network namespace it made, never
 * in the machine's own): `attachBridge` (pin a namespace, lease, veth pair,
 * addresses, route) and `releaseNetwork` for N fresh ids, without and with
 * a published port (which adds iptables-save and iptables-restore). The
 * first attach, which makes the bridge and its rules, is reported apart.
 *
 * Prints one JSON object: medians in ms.
 *
 * @module
 */

import { attachBridge, type NetworkRecord, pruneNetwork, releaseNetwork } from "../runtime/host/network.ts";
import { resolveLayout } from "../runtime/host/records.ts";
import { newContainerId } from "../runtime/host/run.ts";

const N = Number(Deno.args[0] ?? 20);
const work = Deno.makeTempDirSync({ prefix: "tinyo-bench-net-" });
const layout = resolveLayout(work);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function once(port: boolean): { attach: number; release: number } {
  const id = newContainerId();
  const t0 = performance.now();
  const rec: NetworkRecord = attachBridge(
    layout,
    id,
    { ports: port ? [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }] : [] },
    () => [],
    () => {},
  );
  const t1 = performance.now();
  releaseNetwork(layout, id, rec);
  return { attach: t1 - t0, release: performance.now() - t1 };
}

try {
  const first = once(false);
  const plain = Array.from({ length: N }, () => once(false));
  const published = Array.from({ length: N }, () => once(true));
  // deno-lint-ignore no-console
  console.log(JSON.stringify({
    firstAttachMs: first.attach,
    attachMs: median(plain.map((r) => r.attach)),
    releaseMs: median(plain.map((r) => r.release)),
    attachWithPortMs: median(published.map((r) => r.attach)),
    releaseWithPortMs: median(published.map((r) => r.release)),
  }));
} finally {
  // The bridge belongs to this temporary state: gone with it.
  pruneNetwork(layout, () => false);
  Deno.removeSync(work, { recursive: true });
}

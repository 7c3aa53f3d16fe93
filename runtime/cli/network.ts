/**
 * `tinyo network ls|inspect|prune` and `tinyo port CONTAINER`: the bridge
 * network (runtime/host/network.ts) as docker shows its own.
 *
 * @module
 */

import { parseArgs } from "./args.ts";
import { UsageError } from "../errors.ts";
import { type Layout, listRecords, readRecord } from "../host/records.ts";
import { networkInfo, pruneNetwork } from "../host/network.ts";
import { findContainer, statusOf } from "../host/status.ts";
import { formatPort, NETWORK_NAME } from "../model/network.ts";
import { requireRoot } from "../host/run.ts";

function say(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

const NETWORK_HELP = `Usage: tinyo network ls
       tinyo network inspect [bridge]
       tinyo network prune

The bridge network every container joins by default (--network bridge):
the bridge tinyo0 with the gateway address, outbound NAT, published ports.
Its subnet is set in network.json beside tinyo's state (/etc/tinyo/network.json,
or DIR/network.json with --root DIR): {"subnet": "10.210.0.0/16"}.

  ls       The network: name, driver, subnet, gateway, bridge, containers
  inspect  The same as JSON, with each container's address and ports
  prune    Remove the bridge, tinyo's firewall chains and the forwarding
           setting tinyo turned on (refused while a container uses it)`;

/** `tinyo network SUBCOMMAND`. */
export function networkCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, [{ long: "help", help: "Show this help" }], "network");
  const [sub, ...rest] = p.rest;
  if (p.flags.has("help") || sub === undefined) {
    if (sub === undefined && !p.flags.has("help")) {
      throw new UsageError("tinyo network: expected ls, inspect or prune (see 'tinyo network --help')");
    }
    say(NETWORK_HELP);
    return 0;
  }
  requireRoot(`network ${sub}`);
  const users = (): { id: string; name: string; ip: string; ports: string[] }[] =>
    listRecords(layout).flatMap((rec) => {
      const { status } = statusOf(layout, rec);
      if (rec.network?.ip === undefined || status === "stopped") return [];
      return [{
        id: rec.id,
        name: rec.name ?? "",
        ip: rec.network.ip,
        ports: (rec.network.ports ?? []).map((port) => formatPort(port)),
      }];
    });
  switch (sub) {
    case "ls": {
      if (rest.length > 0) throw new UsageError("tinyo network ls: takes no arguments");
      const info = networkInfo(layout);
      const rows = [
        ["NAME", "DRIVER", "SUBNET", "GATEWAY", "BRIDGE", "CONTAINERS"],
        [
          info.name,
          info.driver,
          info.subnet,
          info.gateway,
          info.exists ? info.bridge : `${info.bridge} (not made yet)`,
          String(users().length),
        ],
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) say(r.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd());
      return 0;
    }
    case "inspect": {
      for (const name of rest) {
        if (name !== NETWORK_NAME) {
          throw new UsageError(`tinyo network inspect: no network "${name}" (there is "${NETWORK_NAME}")`);
        }
      }
      const { leases: _leases, ...info } = networkInfo(layout);
      say(JSON.stringify([{ ...info, containers: users() }], null, 2));
      return 0;
    }
    case "prune": {
      if (rest.length > 0) throw new UsageError("tinyo network prune: takes no arguments");
      const removed = pruneNetwork(layout, (id) => readRecord(layout, id) !== undefined);
      for (const what of removed) say(`removed ${what}`);
      return 0;
    }
    default:
      throw new UsageError(`tinyo network: unknown subcommand "${sub}" (use ls, inspect or prune)`);
  }
}

/** `tinyo port CONTAINER [CTRPORT[/PROTO]]`: its published ports, as docker prints them. */
export function portCommand(layout: Layout, argv: readonly string[]): number {
  const p = parseArgs(argv, [{ long: "help", help: "Show this help" }], "port");
  if (p.flags.has("help")) {
    say(
      "Usage: tinyo port CONTAINER [PORT[/PROTO]]\n\nList a container's published ports (CTR/PROTO -> HOSTIP:HOSTPORT).",
    );
    return 0;
  }
  const [ref, filter, ...extra] = p.rest;
  if (ref === undefined || extra.length > 0) {
    throw new UsageError("tinyo port: expected CONTAINER [PORT[/PROTO]]");
  }
  const rec = findContainer(layout, ref);
  const { status } = statusOf(layout, rec);
  const ports = status === "stopped" ? [] : rec.network?.ports ?? [];
  const want = filter === undefined ? undefined : /^(\d+)(?:\/(tcp|udp))?$/.exec(filter);
  if (filter !== undefined && want === null) {
    throw new UsageError(`tinyo port: invalid port "${filter}" (use PORT or PORT/PROTO)`);
  }
  const shown = ports.filter((port) =>
    want === undefined || want === null ||
    (port.containerPort === Number(want[1]) && port.protocol === (want[2] ?? "tcp"))
  );
  if (filter !== undefined && shown.length === 0) {
    throw new UsageError(`tinyo port: container "${ref}" does not publish ${filter}`);
  }
  for (const port of shown) {
    const host = `${port.hostIp ?? "0.0.0.0"}:${port.hostPort}`;
    say(filter === undefined ? `${port.containerPort}/${port.protocol} -> ${host}` : host);
  }
  return 0;
}

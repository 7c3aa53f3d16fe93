/**
 * Bridge networking for `tinyo run` (docker's and rootful podman's default):
 * a bridge `tinyo0` holding the network's gateway address, one veth pair per
 * container (the host end on the bridge, the other end `eth0` in the
 * container's network namespace), an address leased from the subnet, a
 * default route through the bridge, outbound masquerade, and published ports
 * as DNAT rules.
 *
 * Everything is made by the runtime before the init exists, the way podman
 * hands a ready namespace to its OCI runtime: the runtime's main thread
 * unshares a new network namespace, pins it with a bind mount on
 * `<state>/netns/<id>` (as `ip netns add` does), makes a netlink socket in it
 * and goes back home; the container's spec then joins that namespace by
 * path. So `run` and `run -d` (whose init conmon starts) take one path, and
 * the command never sees a half-made network. Links, addresses and routes
 * are rtnetlink messages (runtime/model/netlink.ts), no `ip` process.
 *
 * Firewall rules go through `iptables-restore --noflush`, one batch per
 * change, into chains tinyo owns (TINYO-DNAT, TINYO-POSTROUTING,
 * TINYO-FORWARD: runtime/model/network.ts), never flushing anyone else's.
 * The network-level rules are made with the bridge and stay with it; a
 * container's own rules (its published ports) carry its id in a comment and
 * are deleted by that id.
 *
 * What names each resource exists before the resource (records.ts's rule):
 * the record names the namespace pin and the veth (both follow from the id)
 * before they are made; a lease is a symlink `<leases>/<ip> -> <id>`, made
 * with O_EXCL semantics (symlink(2) fails when it exists), so twenty
 * concurrent starts get twenty addresses (handed out round robin, so a
 * released address is not reused at once), and garbage collection finds the
 * leases of containers that have no record; ports are in the record before
 * their rules exist. `releaseNetwork` undoes all of it, each step tolerating
 * what is already gone.
 *
 * @module
 */

import { Netlink } from "./netlink.ts";
import {
  AF_INET,
  delLink,
  encodeMessage,
  getLink,
  newAddr,
  newBridge,
  newRoute,
  newVeth,
  NLM_F,
  parseAddr,
  parseLink,
  RTM,
  setLink,
} from "../model/netlink.ts";
import {
  BRIDGE,
  bridgeRulesBatch,
  DEFAULT_SUBNET,
  deleteRulesBatch,
  formatIPv4,
  formatSubnet,
  gatewayOf,
  inSubnet,
  loopbackGuarded,
  NETWORK_NAME,
  ownedRuleIds,
  parseIPv4,
  parseSubnet,
  type PortMapping,
  portRulesBatch,
  portsConflict,
  type Subnet,
  teardownBatch,
  usableRange,
  vethName,
} from "../model/network.ts";
import { CLONE, isErrno, MNT, MS, netCalls, O } from "../syscalls.ts";
import { ConfigError, TinyoError } from "../errors.ts";
import { type Layout, listDir, withLockFile } from "./records.ts";
import { HookError, runProgram } from "../hooks.ts";

/** A published port with its host port chosen. */
export type PublishedPort = PortMapping & { hostPort: number };

/** What a container's record says about its bridge network. */
export interface NetworkRecord {
  mode: "bridge";
  /** The pinned network namespace (a bind mount of an nsfs file). */
  netns: string;
  /** The host end of the veth pair. */
  veth: string;
  /** Its address, gateway and subnet, once leased. */
  ip?: string;
  gateway?: string;
  subnet?: string;
  mac?: string;
  /** Published ports, recorded before their rules exist. */
  ports?: PublishedPort[];
  /** Everything above is gone (a detached container that ended; its record stays until rm). */
  released?: boolean;
}

/** What `tinyo run` asks of the bridge. */
export interface BridgeRequest {
  /** `--ip`: a fixed address inside the subnet. */
  ip?: string;
  /** `--mac-address`. */
  mac?: Uint8Array;
  /** `-p`. */
  ports: PortMapping[];
}

/** The network's files: `<state>/networks/bridge/` (lock, leases, what tinyo changed). */
export function networkDir(layout: Layout): string {
  return `${layout.stateDir}/networks/${NETWORK_NAME}`;
}

function leasesDir(layout: Layout): string {
  return `${networkDir(layout)}/leases`;
}

/** Where a container's network namespace is pinned. */
export function netnsPath(layout: Layout, id: string): string {
  return `${layout.stateDir}/netns/${id}`;
}

/** The network configuration file: `<root>/network.json`, or /etc/tinyo/network.json. */
export function networkConfigPath(layout: Layout): string {
  return layout.root !== undefined ? `${layout.root}/network.json` : "/etc/tinyo/network.json";
}

/** The network's settings: the subnet (`{"subnet": "10.210.0.0/16"}` in the config file). */
export function networkConfig(layout: Layout): { subnet: Subnet; file: string } {
  const file = networkConfigPath(layout);
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { subnet: parseSubnet(DEFAULT_SUBNET), file };
    throw new ConfigError(`Cannot read the network configuration ${file}: ${(err as Error).message}`);
  }
  let subnet: Subnet;
  try {
    const json = JSON.parse(text) as { subnet?: unknown };
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not an object");
    const unknown = Object.keys(json).filter((k) => k !== "subnet");
    if (unknown.length > 0) throw new Error(`unknown setting "${unknown[0]}" (known: subnet)`);
    if (json.subnet !== undefined && typeof json.subnet !== "string") {
      throw new Error("subnet must be a string");
    }
    subnet = parseSubnet(json.subnet ?? DEFAULT_SUBNET);
  } catch (err) {
    throw new ConfigError(`Invalid network configuration ${file}: ${(err as Error).message}`);
  }
  return { subnet, file };
}

/** The record's network fields before anything exists (both follow from the id). */
export function plannedNetwork(layout: Layout, id: string): NetworkRecord {
  return { mode: "bridge", netns: netnsPath(layout, id), veth: vethName(id) };
}

/** Runs `fn` holding the network's lock (bridge creation, port reservations). */
function withNetworkLock<T>(layout: Layout, fn: () => T): T {
  Deno.mkdirSync(leasesDir(layout), { recursive: true, mode: 0o700 });
  return withLockFile(networkDir(layout), "lock", fn);
}

/**
 * Connects a new container to the bridge: pins a new network namespace,
 * makes sure the bridge exists, leases an address, reserves its ports (and
 * calls `onReserved` with them before any rule exists, for the record), adds
 * the port rules, then the veth pair, and configures `lo` and `eth0` inside.
 * On failure the caller runs `releaseNetwork` (everything is named by `id`).
 *
 * @param publishedElsewhere The ports other live containers publish.
 */
export function attachBridge(
  layout: Layout,
  id: string,
  request: BridgeRequest,
  publishedElsewhere: () => PublishedPort[],
  onReserved: (rec: NetworkRecord) => void,
  hasRecord: (id: string) => boolean = () => true,
): NetworkRecord {
  const { subnet } = networkConfig(layout);
  const [first, last] = usableRange(subnet);
  let fixed: number | undefined;
  if (request.ip !== undefined) {
    fixed = parseIPv4(request.ip);
    if (!inSubnet(subnet, fixed) || fixed < first || fixed > last) {
      throw new ConfigError(
        `Invalid --ip ${request.ip}: not a container address of the network's subnet ${
          formatSubnet(subnet)
        } ` +
          `(${formatIPv4(first)}-${formatIPv4(last)})`,
      );
    }
  }
  const rec = plannedNetwork(layout, id);
  using inner = pinNetns(rec.netns);
  using host = Netlink.open();
  const gateway = gatewayOf(subnet);
  let bridgeIndex = 0;
  withNetworkLock(layout, () => {
    bridgeIndex = ensureBridge(layout, host, subnet);
    const ip = lease(layout, id, subnet, fixed);
    const ports = reservePorts(request.ports, publishedElsewhere());
    rec.ip = formatIPv4(ip);
    rec.gateway = formatIPv4(gateway);
    rec.subnet = formatSubnet(subnet);
    if (ports.length > 0) rec.ports = ports;
    onReserved(rec);
    if (ports.length > 0) {
      // With the rules at hand: those of containers that have no record any
      // more (an iptables-restore that outlived a SIGKILLed tinyo) go in the
      // same batch, so a stale rule never shadows this container's port.
      const save = iptablesSave();
      const stale = ownedRuleIds(save).filter((owner) => owner !== id && !hasRecord(owner));
      iptablesRestore(
        bridgeRulesBatch(BRIDGE, subnet, save) + stale.map((owner) =>
          deleteRulesBatch(save, owner)
        ).join("") +
          portRulesBatch(id, rec.ip, ports),
      );
    }
  });
  // The pair, its far end created directly inside the container's namespace.
  const nsFd = netCalls.open(rec.netns, O.RDONLY | O.CLOEXEC);
  try {
    host.request(newVeth(rec.veth, "eth0", nsFd, host.next()), `veth ${rec.veth} (peer eth0)`);
  } finally {
    netCalls.close(nsFd);
  }
  const vethIndex = linkIndex(host, rec.veth);
  host.request(
    setLink(vethIndex, { master: bridgeIndex, up: true }, host.next()),
    `${rec.veth} master ${BRIDGE} up`,
  );
  // Inside: loopback (always index 1 in a new namespace), then eth0.
  inner.request(setLink(1, { up: true }, inner.next()), "lo up");
  const eth0 = linkIndex(inner, "eth0");
  if (request.mac !== undefined) {
    inner.request(setLink(eth0, { address: request.mac }, inner.next()), "eth0 address");
  }
  inner.request(
    newAddr(eth0, parseIPv4(rec.ip!), subnet.prefix, inner.next()),
    `eth0 ${rec.ip}/${subnet.prefix}`,
  );
  inner.request(setLink(eth0, { up: true }, inner.next()), "eth0 up");
  inner.request(newRoute({ gateway, oif: eth0 }, inner.next()), `default via ${rec.gateway}`);
  const link = parseLink(inner.request(getLink("eth0", inner.next()), "eth0")[0]!.payload);
  if (link.address !== undefined) rec.mac = link.address;
  return rec;
}

/**
 * A new network namespace, pinned on `path`, and a netlink socket inside it.
 * Only the calling (main) thread moves, and it always moves back.
 */
function pinNetns(path: string): Netlink {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  Deno.writeFileSync(path, new Uint8Array(), { createNew: true, mode: 0o400 });
  const home = netCalls.open("/proc/thread-self/ns/net", O.RDONLY | O.CLOEXEC);
  try {
    netCalls.unshare(CLONE.NEWNET);
    try {
      netCalls.mount("/proc/thread-self/ns/net", path, { flags: MS.BIND });
      // Links made from now on in this namespace (eth0) get no IPv6: the
      // bridge is IPv4 only, and a neighbour's router advertisements are not
      // listened to. /proc/sys/net is the opener's namespace: this thread's.
      writeSysctl("net/ipv6/conf/default/disable_ipv6", "1", true);
      return Netlink.open();
    } finally {
      goHome(home);
    }
  } finally {
    netCalls.close(home);
  }
}

/**
 * Moves the main thread back to the runtime's network namespace. If that
 * fails nothing tinyo does next may run (it would act on the container's
 * namespace): the process ends at once; the record names everything made,
 * and the next tinyo command removes it.
 */
function goHome(home: number): void {
  try {
    netCalls.setns(home, CLONE.NEWNET, "the runtime's own network namespace");
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(`tinyo: ${(err as Error).message}`);
    Deno.exit(125);
  }
}

/** The index, kind and alias of link `name`, or undefined when there is none. */
function findLink(nl: Netlink, name: string): { index: number; kind?: string; alias?: string } | undefined {
  try {
    const link = parseLink(nl.request(getLink(name, nl.next()), name)[0]!.payload);
    return {
      index: link.index,
      ...(link.kind !== undefined ? { kind: link.kind } : {}),
      ...(link.alias !== undefined ? { alias: link.alias } : {}),
    };
  } catch (err) {
    if (isErrno(err, "ENODEV")) return undefined;
    throw err;
  }
}

function linkIndex(nl: Netlink, name: string): number {
  const link = findLink(nl, name);
  if (link === undefined) throw new TinyoError(`Cannot find network interface ${name} right after making it`);
  return link.index;
}

/** IPv4 addresses of link `index` (an RTM_GETADDR dump). */
function addressesOf(nl: Netlink, index: number): { address: number; prefixLen: number }[] {
  const body = new Uint8Array(8);
  body[0] = AF_INET;
  const msg = encodeMessage(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP, nl.next(), body);
  return nl.request(msg, "addresses").filter((m) => m.type === RTM.NEWADDR).map((m) => parseAddr(m.payload))
    .filter((a) => a.index === index && a.family === AF_INET && a.address !== undefined)
    .map((a) => ({ address: a.address!, prefixLen: a.prefixLen }));
}

/**
 * The bridge's index; made first (with its gateway address, up, the
 * network's firewall rules, and IP forwarding on) when it does not exist.
 * A bridge with another address (the subnet changed) is refused.
 */
function ensureBridge(layout: Layout, nl: Netlink, subnet: Subnet): number {
  const gateway = gatewayOf(subnet);
  let link = findLink(nl, BRIDGE);
  if (link !== undefined) checkOwner(layout, nl, link);
  if (link === undefined) {
    nl.request(newBridge(BRIDGE, nl.next()), `bridge ${BRIDGE}`);
    link = { index: linkIndex(nl, BRIDGE) };
    // Whose it is, first of all (the kernel takes no alias at creation).
    nl.request(setLink(link.index, { alias: ownerAlias(layout) }, nl.next()), `${BRIDGE} alias`);
    // No IPv6 on the bridge: a container with NET_RAW could otherwise send
    // router advertisements and become the host's IPv6 router (CVE-2020-13401).
    writeSysctl(`net/ipv6/conf/${BRIDGE}/disable_ipv6`, "1", true);
    nl.request(newAddr(link.index, gateway, subnet.prefix, nl.next()), `${BRIDGE} ${formatIPv4(gateway)}`);
    nl.request(setLink(link.index, { up: true }, nl.next()), `${BRIDGE} up`);
    // The rules first: TINYO-INPUT must guard the loopback before
    // route_localnet opens it. DNAT of connections to 127.0.0.1 sends
    // loopback-sourced packets out of the bridge: allowed only with
    // route_localnet on it (docker does the same without its proxy).
    iptablesRestore(bridgeRulesBatch(BRIDGE, subnet, iptablesSave()));
    writeSysctl(`net/ipv4/conf/${BRIDGE}/route_localnet`, "1");
  } else {
    // The loopback guard must be there whenever route_localnet is on: a
    // firewall reload may have removed it (one iptables-save of the raw
    // table per start; everything is made again when it is missing).
    if (!loopbackGuarded(iptables("iptables-save", ["-t", "raw"]), BRIDGE)) {
      iptablesRestore(bridgeRulesBatch(BRIDGE, subnet, iptablesSave()));
    }
    const addrs = addressesOf(nl, link.index);
    if (!addrs.some((a) => a.address === gateway && a.prefixLen === subnet.prefix)) {
      const has = addrs.map((a) => `${formatIPv4(a.address)}/${a.prefixLen}`).join(", ") || "no address";
      throw new TinyoError(
        `Cannot use bridge ${BRIDGE}: it has ${has}, the network wants ${
          formatIPv4(gateway)
        }/${subnet.prefix} ` +
          `(${networkConfigPath(layout)} changed? stop its containers and run 'tinyo network prune')`,
      );
    }
  }
  enableForwarding(layout);
  return link.index;
}

/**
 * The bridge's alias names the tinyo state that manages it: leases, port
 * reservations and the garbage collection live there, so one bridge has one
 * (another `--root` on the same host would lease the same addresses).
 */
function ownerAlias(layout: Layout): string {
  // The real path: `--root r` from two directories is two states, and
  // `/var//lib/x` the same one as `/var/lib/x`.
  return `tinyo ${Deno.realPathSync(layout.stateDir)}`;
}

/**
 * Refuses a `tinyo0` that is not this state's bridge: not a bridge, or
 * another tinyo state's (its alias), or somebody's with addresses and no
 * alias. A bare bridge without alias or address is one a tinyo that died
 * right after making it left: adopted.
 */
function checkOwner(
  layout: Layout,
  nl: Netlink,
  link: { index: number; kind?: string; alias?: string },
): void {
  if (link.kind !== "bridge") {
    throw new TinyoError(`Cannot use network interface ${BRIDGE}: it exists and is not a bridge`);
  }
  if (link.alias === ownerAlias(layout)) return;
  if (link.alias === undefined && addressesOf(nl, link.index).length === 0) {
    nl.request(setLink(link.index, { alias: ownerAlias(layout) }, nl.next()), `${BRIDGE} alias`);
    return;
  }
  const owner = link.alias?.startsWith("tinyo ")
    ? `the tinyo state in ${link.alias.slice(6)} (another --root)`
    : "another program";
  throw new TinyoError(
    `Cannot use bridge ${BRIDGE}: it belongs to ${owner}; use that, or remove its containers and its bridge ` +
      "('tinyo network prune' there)",
  );
}

function writeSysctl(key: string, value: string, optional = false): void {
  try {
    Deno.writeTextFileSync(`/proc/sys/${key}`, value);
  } catch (err) {
    // IPv6 settings on a kernel without IPv6.
    if (optional && err instanceof Deno.errors.NotFound) return;
    throw new TinyoError(`Cannot set sysctl ${key.replaceAll("/", ".")}=${value}: ${(err as Error).message}`);
  }
}

/**
 * Turns IPv4 forwarding on (the host routes between the bridge and its
 * other interfaces), remembering that it was off so that `tinyo network
 * prune` can turn it off again.
 */
function enableForwarding(layout: Layout): void {
  const key = "net/ipv4/ip_forward";
  if (Deno.readTextFileSync(`/proc/sys/${key}`).trim() === "1") return;
  const was = `${networkDir(layout)}/ip_forward.was`;
  try {
    Deno.writeTextFileSync(was, "0\n", { createNew: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
  writeSysctl(key, "1");
}

/** The leases: address → container id. */
export function listLeases(layout: Layout): Map<string, string> {
  const out = new Map<string, string>();
  for (const ip of listDir(leasesDir(layout))) {
    const owner = readLease(layout, ip); // undefined: released meanwhile
    if (owner !== undefined) out.set(ip, owner);
  }
  return out;
}

/** Leases an address for `id`: the fixed one, or the lowest free one. */
function lease(layout: Layout, id: string, subnet: Subnet, fixed: number | undefined): number {
  const take = (ip: number): boolean => {
    try {
      Deno.symlinkSync(id, `${leasesDir(layout)}/${formatIPv4(ip)}`);
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) return false;
      throw err;
    }
  };
  if (fixed !== undefined) {
    if (take(fixed)) return fixed;
    const owner = listLeases(layout).get(formatIPv4(fixed)) ?? "another container";
    throw new ConfigError(
      `Cannot use --ip ${formatIPv4(fixed)}: it is taken by container ${owner.slice(0, 12)}`,
    );
  }
  // Round robin from the address handed out last (held under the network
  // lock): a released address is not given again at once, so flows the
  // kernel still tracks for it (a UDP client of a published port) do not
  // reach the next container.
  const taken = new Set([...listLeases(layout).keys()]);
  const [first, last] = usableRange(subnet);
  const lastFile = `${networkDir(layout)}/last-lease`;
  let previous = first - 1;
  try {
    const n = parseIPv4(Deno.readTextFileSync(lastFile).trim());
    if (n >= first && n <= last) previous = n;
  } catch {
    // None yet, or unreadable: from the start.
  }
  const size = last - first + 1;
  for (let i = 1; i <= size; i++) {
    const ip = first + ((previous - first + i) % size + size) % size;
    if (!taken.has(formatIPv4(ip)) && take(ip)) {
      Deno.writeTextFileSync(lastFile, `${formatIPv4(ip)}\n`);
      return ip;
    }
  }
  throw new TinyoError(`Cannot start the container: every address of ${formatSubnet(subnet)} is taken`);
}

/** Chooses host ports for `-p CTRPORT` and refuses ports in use. */
function reservePorts(wanted: PortMapping[], elsewhere: PublishedPort[]): PublishedPort[] {
  const out: PublishedPort[] = [];
  const conflict = (p: PublishedPort): PublishedPort | undefined =>
    [...elsewhere, ...out].find((o) => portsConflict(o, p));
  for (const w of wanted) {
    const what = (p: PublishedPort): string => `${p.hostIp ?? "0.0.0.0"}:${p.hostPort}/${p.protocol}`;
    if (w.hostPort !== undefined) {
      const p = { ...w, hostPort: w.hostPort };
      if (conflict(p) !== undefined) {
        throw new ConfigError(`Cannot publish ${what(p)}: another container already publishes it`);
      }
      if (!hostPortFree(p)) throw new ConfigError(`Cannot publish ${what(p)}: the host port is in use`);
      out.push(p);
      continue;
    }
    let chosen: PublishedPort | undefined;
    for (let tries = 0; tries < 100 && chosen === undefined; tries++) {
      const listener = Deno.listen({ hostname: w.hostIp ?? "0.0.0.0", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const p = { ...w, hostPort: port };
      if (conflict(p) === undefined && (p.protocol === "tcp" || hostPortFree(p))) chosen = p;
    }
    if (chosen === undefined) throw new TinyoError("Cannot find a free host port to publish on");
    out.push(chosen);
  }
  return out;
}

/**
 * Whether something on the host holds the port (a TCP listener, a bound UDP
 * socket, on the address or on all of them): its traffic would silently go
 * to the container instead, the host's own DNS stub on 127.0.0.53:53 too.
 * Checked once, at start; a service that binds the port later loses
 * connections to the container's rule, as with docker's
 * `--userland-proxy=false`.
 */
function hostPortFree(p: PublishedPort): boolean {
  const hostIp = p.hostIp ?? "0.0.0.0";
  try {
    if (p.protocol === "udp") return netCalls.udpPortFree(parseIPv4(hostIp), p.hostPort);
    Deno.listen({ hostname: hostIp, port: p.hostPort }).close();
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) return false;
    throw new ConfigError(`Cannot publish port ${p.hostPort} on ${hostIp}: ${(err as Error).message}`);
  }
}

const IPTABLES_DIRS = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
const IPTABLES_OUTPUT_LIMIT = 64 << 20;

/** The path of an iptables program, or a clear error naming the fix. */
function iptablesProgram(name: string): string {
  for (const dir of IPTABLES_DIRS) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch {
      // Not there.
    }
  }
  throw new TinyoError(
    `The bridge network needs ${name}, which is not installed (Debian: apt-get install iptables); ` +
      "or run with --network none or --network host",
  );
}

/**
 * Runs an iptables program from this thread (so in its network namespace),
 * with `input` on stdin; returns its stdout. (iptables-nft-restore 1.8.9
 * ignores a file named on its command line: the batch goes on stdin.)
 */
function iptables(name: string, args: string[], input = ""): string {
  const path = iptablesProgram(name);
  try {
    const { stdout } = runProgram(
      { path, args: [name, ...args], env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 60 },
      input,
      { outputLimit: IPTABLES_OUTPUT_LIMIT },
    );
    // Only the end is kept beyond the limit: a cut rule dump must not be
    // mistaken for the whole (it would redeclare chains, miss rules).
    if (new TextEncoder().encode(stdout).length >= IPTABLES_OUTPUT_LIMIT) {
      throw new TinyoError(`Cannot read the firewall rules: ${name} printed more than 64 MiB`);
    }
    return stdout;
  } catch (err) {
    if (!(err instanceof HookError)) throw err;
    const why = err.stderr.trim().split("\n").at(-1) ?? "";
    throw new TinyoError(`Cannot change the firewall (${name} failed${why === "" ? "" : `: ${why}`})`, {
      cause: err,
    });
  }
}

/** The current rules of every table (`iptables-save`). */
export function iptablesSave(): string {
  return iptables("iptables-save", []);
}

/** Applies one batch, atomically per table (`iptables-restore --noflush`). */
export function iptablesRestore(batch: string): void {
  if (batch !== "") iptables("iptables-restore", ["--noflush", "--wait"], batch);
}

/**
 * Removes everything of container `id`'s network, whatever exists of it:
 * its port rules, the host end of its veth pair (which takes the other end
 * with it), the namespace pin, its lease. Call once its processes are gone.
 */
export function releaseNetwork(layout: Layout, id: string, rec?: NetworkRecord): void {
  // Under the lock: a start adding its rules meanwhile cannot interleave.
  if ((rec?.ports ?? []).length > 0) {
    withNetworkLock(layout, () => iptablesRestore(deleteRulesBatch(iptablesSave(), id)));
  }
  try {
    using nl = Netlink.open();
    nl.request(delLink(vethName(id), nl.next()), vethName(id));
  } catch (err) {
    if (!isErrno(err, "ENODEV")) throw err;
  }
  const pin = netnsPath(layout, id);
  try {
    // Never through a link planted in its place.
    if (!Deno.lstatSync(pin).isSymlink) netCalls.umount2(pin, MNT.DETACH | MNT.NOFOLLOW);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound) && !isErrno(err, "EINVAL") && !isErrno(err, "ENOENT")) {
      throw err;
    }
  }
  try {
    Deno.removeSync(pin);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  // Under the lock, each lease looked at again right before it goes: another
  // collector may have released it and a new container taken the address.
  if (!listDir(leasesDir(layout)).some((ip) => readLease(layout, ip) === id)) return;
  withNetworkLock(layout, () => {
    for (const ip of listDir(leasesDir(layout))) {
      if (readLease(layout, ip) !== id) continue;
      try {
        Deno.removeSync(`${leasesDir(layout)}/${ip}`);
      } catch {
        // Released meanwhile.
      }
    }
  });
}

function readLease(layout: Layout, ip: string): string | undefined {
  try {
    return Deno.readLinkSync(`${leasesDir(layout)}/${ip}`);
  } catch {
    return undefined;
  }
}

/** The ids of containers `tinyo run` makes (the only ones on the bridge): 64 hex digits. */
const RUN_ID = /^[0-9a-f]{64}$/;

/**
 * Garbage collection: the namespace pins and leases of containers that
 * have no record (`hasRecord` false) are released.
 */
export function sweepNetwork(layout: Layout, hasRecord: (id: string) => boolean): string[] {
  const orphans = new Set<string>();
  // Names on disk are checked before they become paths: only container ids.
  for (const name of listDir(`${layout.stateDir}/netns`)) {
    if (RUN_ID.test(name) && !hasRecord(name)) orphans.add(name);
  }
  for (const [ip, owner] of listLeases(layout)) {
    if (!RUN_ID.test(owner)) {
      try {
        Deno.removeSync(`${leasesDir(layout)}/${ip}`);
      } catch {
        // Gone meanwhile.
      }
    } else if (!hasRecord(owner)) orphans.add(owner);
  }
  const released: string[] = [];
  for (const id of orphans) {
    // One that cannot go yet must not stop every tinyo command: next time.
    try {
      releaseNetwork(layout, id);
      released.push(id);
    } catch {
      // Tried again by the next command.
    }
  }
  return released;
}

/** What `tinyo network inspect` shows. */
export interface NetworkInfo {
  name: string;
  driver: "bridge";
  bridge: string;
  subnet: string;
  gateway: string;
  /** Whether the bridge exists now. */
  exists: boolean;
  config: string;
  /** Leased addresses: address → container id. */
  leases: Record<string, string>;
}

/** The bridge network as it is now. */
export function networkInfo(layout: Layout): NetworkInfo {
  const { subnet, file } = networkConfig(layout);
  using nl = Netlink.open();
  return {
    name: NETWORK_NAME,
    driver: "bridge",
    bridge: BRIDGE,
    subnet: formatSubnet(subnet),
    gateway: formatIPv4(gatewayOf(subnet)),
    exists: findLink(nl, BRIDGE) !== undefined,
    config: file,
    leases: Object.fromEntries(listLeases(layout)),
  };
}

/**
 * `tinyo network prune`: with no container left on it, removes the bridge,
 * every firewall rule and chain tinyo made (port rules of containers that
 * have no record included), and turns IP forwarding off again if tinyo
 * turned it on. Returns what it removed.
 */
export function pruneNetwork(layout: Layout, hasRecord: (id: string) => boolean): string[] {
  sweepNetwork(layout, hasRecord);
  return withNetworkLock(layout, () => {
    const leases = listLeases(layout);
    if (leases.size > 0) {
      throw new TinyoError(
        `Cannot prune network ${NETWORK_NAME}: ${leases.size} container(s) still use it (remove them first)`,
      );
    }
    const removed: string[] = [];
    using nl = Netlink.open();
    const link = findLink(nl, BRIDGE);
    if (link !== undefined) {
      checkOwner(layout, nl, link);
      nl.request(delLink(BRIDGE, nl.next()), BRIDGE);
      removed.push(`bridge ${BRIDGE}`);
    }
    let save: string | undefined;
    try {
      save = iptablesSave();
    } catch {
      // No iptables: tinyo cannot have made rules.
    }
    if (save !== undefined) {
      const stray = ownedRuleIds(save);
      const batch = teardownBatch(save);
      if (batch !== "") {
        iptablesRestore(batch);
        removed.push(
          `firewall chains TINYO-*${stray.length > 0 ? ` (rules of ${stray.length} gone containers)` : ""}`,
        );
      }
    }
    const was = `${networkDir(layout)}/ip_forward.was`;
    try {
      const value = Deno.readTextFileSync(was).trim();
      writeSysctl("net/ipv4/ip_forward", value);
      Deno.removeSync(was);
      removed.push(`net.ipv4.ip_forward=${value} (as before tinyo)`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return removed;
  });
}

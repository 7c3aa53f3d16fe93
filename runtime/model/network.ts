/**
 * Docker-style bridge networking, the pure part: IPv4 and subnet arithmetic,
 * the network flags of `tinyo run` (`-p`, `--add-host`, `--mac-address`,
 * `--dns`), the container's /etc/resolv.conf and /etc/hosts, and the
 * iptables rules as `iptables-restore --noflush` batches.
 *
 * The layout is docker's: one bridge (`tinyo0`) holding the gateway address
 * (the subnet's first address); each container gets a veth pair with one end
 * on the bridge and an address from the rest of the subnet. tinyo's rules live
 * in three chains of its own, reached by one jump each from a built-in chain:
 *
 * - nat `TINYO-DNAT`: one DNAT rule per published port, each tagged with the
 *   comment `tinyo:<container id>` so it can be found and deleted again;
 * - nat `TINYO-POSTROUTING`: masquerading (outbound, host to published port,
 *   hairpin);
 * - filter `TINYO-FORWARD`: lets traffic from and back to the bridge through
 *   when the FORWARD policy is DROP (as docker sets it), and nothing else
 *   into the bridge: a neighbour that routes the subnet through the host
 *   reaches published ports only;
 * - raw `TINYO-PREROUTING`, first of all (before connection tracking and
 *   NAT): from the bridge, only the subnet's own source addresses and never
 *   a destination in 127.0.0.0/8 (route_localnet, needed to publish on
 *   127.0.0.1, would otherwise let a container reach the host's
 *   loopback-only services: CVE-2020-8558); from anywhere else, nothing
 *   addressed to the subnet (docker 28's direct-routing protection).
 *
 * With `--noflush`, iptables-restore keeps what it is not told about, but a
 * chain declaration line (`:NAME - [0:0]`) flushes that chain if it exists.
 * So only the network-level batch declares chains, and it declares
 * `TINYO-DNAT` only when it is missing; per-container batches only add (`-A`)
 * or delete (`-D`) rules.
 *
 * Only IPv4 is supported.
 *
 * @see https://docs.docker.com/engine/network/drivers/bridge/
 * @see https://docs.docker.com/engine/network/packet-filtering-firewalls/
 * @see iptables-restore(8), iptables-extensions(8) (addrtype, conntrack, comment)
 * @see resolv.conf(5), hosts(5)
 * @module
 */

import { UsageError } from "../errors.ts";

/** The subnet of the default bridge network. */
export const DEFAULT_SUBNET = "10.210.0.0/16";
/** The name of the bridge device on the host. */
export const BRIDGE = "tinyo0";
/** The name of the network, as `docker network ls` would show it. */
export const NETWORK_NAME = "bridge";
/**
 * Nameservers used when the host has only local resolvers (docker uses the
 * same fallback): a local address means nothing inside the container's
 * network namespace.
 */
export const FALLBACK_DNS: readonly string[] = Object.freeze(["8.8.8.8", "8.8.4.4"]);

// --- IPv4 and subnets -------------------------------------------------------

/** One octet: 0-255 in decimal, without leading zeros (so "010" is not octal-ambiguous). */
const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Parses a dotted quad ("10.0.0.1") into an unsigned 32-bit number in host
 * order (0x0a000001). Strict: four decimal parts 0-255, no leading zeros,
 * no spaces, nothing else.
 *
 * @throws {TypeError} `"x" is not an IPv4 address`.
 */
export function parseIPv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p) && Number(p) <= 255)) {
    throw new TypeError(`"${text}" is not an IPv4 address`);
  }
  return parts.reduce((n, p) => ((n << 8) | Number(p)) >>> 0, 0);
}

/**
 * Formats an unsigned 32-bit number as a dotted quad.
 *
 * @throws {RangeError} when `n` is not an integer in 0..2^32-1.
 */
export function formatIPv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`${n} is not an IPv4 address (expected an integer in 0..4294967295)`);
  }
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

/** An IPv4 subnet: its network address and its prefix length. */
export interface Subnet {
  /** The network address (host bits zero), unsigned 32-bit. */
  network: number;
  /** The prefix length, 8..30. */
  prefix: number;
}

/** The netmask of a prefix length, unsigned. */
function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses "a.b.c.d/N" with N in 8..30 (/31 and /32 leave no room for a
 * gateway and a container; below /8 is not a private range anyone means).
 *
 * @throws {TypeError} when the text is malformed, the prefix is out of range,
 * or host bits are set (`10.210.0.1/16 has host bits set (did you mean
 * 10.210.0.0/16?)`).
 */
export function parseSubnet(text: string): Subnet {
  const m = /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(text);
  if (m === null) {
    throw new TypeError(`"${text}" is not a subnet (expected a.b.c.d/N, e.g. ${DEFAULT_SUBNET})`);
  }
  let address: number;
  try {
    address = parseIPv4(m[1]!);
  } catch {
    throw new TypeError(`"${text}" is not a subnet: "${m[1]}" is not an IPv4 address`);
  }
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) {
    throw new TypeError(`"${text}" is not a usable subnet: prefix /${prefix} is not in 8-30`);
  }
  const network = (address & maskOf(prefix)) >>> 0;
  if (network !== address) {
    throw new TypeError(`${text} has host bits set (did you mean ${formatIPv4(network)}/${prefix}?)`);
  }
  return { network, prefix };
}

/** "a.b.c.d/N". */
export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.network)}/${s.prefix}`;
}

/** The gateway address, held by the bridge: the subnet's first address (network + 1). */
export function gatewayOf(s: Subnet): number {
  return (s.network + 1) >>> 0;
}

/** The broadcast address: the subnet's last address (all host bits set). */
export function broadcastOf(s: Subnet): number {
  return (s.network | ~maskOf(s.prefix)) >>> 0;
}

/** Whether `ip` lies in the subnet (network and broadcast addresses included). */
export function inSubnet(s: Subnet, ip: number): boolean {
  return ((ip & maskOf(s.prefix)) >>> 0) === s.network;
}

/**
 * The addresses containers may get: from network + 2 (network + 1 is the
 * gateway on the bridge) to broadcast - 1, both included.
 */
export function usableRange(s: Subnet): [first: number, last: number] {
  return [(s.network + 2) >>> 0, (broadcastOf(s) - 1) >>> 0];
}

/**
 * The host-side veth name of a container: "tv" and the first 11 characters
 * of its id, 13 characters, under IFNAMSIZ (16 with the NUL).
 */
export function vethName(id: string): string {
  return `tv${id.slice(0, 11)}`;
}

// --- Flags --------------------------------------------------------------------

/** One published port (`-p`). */
export interface PortMapping {
  /** The host address to listen on; undefined means every address (0.0.0.0). */
  hostIp?: string;
  /** The host port; undefined means "pick a free one". */
  hostPort?: number;
  /** The port in the container. */
  containerPort: number;
  /** The protocol. */
  protocol: "tcp" | "udp";
}

/** A decimal port 1..65535, or the reason it is not one. */
function checkPort(text: string, which: string): number | string {
  if (/^[0-9]+-[0-9]+$/.test(text)) return "port ranges are not supported";
  if (!/^[1-9][0-9]*$/.test(text)) return `${which} port "${text}" is not a number in 1-65535`;
  const port = Number(text);
  if (port > 65535) return `port ${text} is not in 1-65535`;
  return port;
}

/**
 * Parses docker's `-p` value: `CTR`, `HOST:CTR`, `IP:HOST:CTR` or `IP::CTR`,
 * each with an optional `/tcp` or `/udp` (default tcp). An empty HOST (or
 * IP) means "any", as in docker. Host IP 0.0.0.0 is the same as none.
 *
 * @throws {UsageError} `Invalid -p "<text>": <why>`; port ranges and IPv6
 * addresses are refused as not supported.
 */
export function parsePublish(text: string): PortMapping {
  const fail = (why: string): never => {
    throw new UsageError(`Invalid -p "${text}": ${why}`);
  };
  let spec = text;
  let protocol: "tcp" | "udp" = "tcp";
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const proto = text.slice(slash + 1);
    if (proto !== "tcp" && proto !== "udp") fail(`protocol "${proto}" is not supported (use tcp or udp)`);
    protocol = proto as "tcp" | "udp";
    spec = text.slice(0, slash);
  }
  if (/[[\]]/.test(spec) || spec.split(":").length > 3) fail("IPv6 is not supported");
  const parts = spec.split(":");
  const ctr = parts.at(-1)!;
  const host = parts.length >= 2 ? parts.at(-2)! : "";
  const ip = parts.length === 3 ? parts[0]! : "";
  if (ctr === "") fail("missing the container port (expected [[IP:]HOST:]CONTAINER[/tcp|/udp])");
  const containerPort = checkPort(ctr, "container");
  if (typeof containerPort === "string") return fail(containerPort);
  const mapping: PortMapping = { containerPort, protocol };
  if (host !== "") {
    const hostPort = checkPort(host, "host");
    if (typeof hostPort === "string") return fail(hostPort);
    mapping.hostPort = hostPort;
  }
  if (ip !== "") {
    let address: number;
    try {
      address = parseIPv4(ip);
    } catch {
      return fail(`"${ip}" is not an IPv4 address`);
    }
    if (address !== 0) mapping.hostIp = formatIPv4(address);
  }
  return mapping;
}

/**
 * Whether two mappings cannot both be bound: same protocol, same host port
 * (both chosen), and the same host address or either on every address.
 */
export function portsConflict(a: PortMapping, b: PortMapping): boolean {
  return a.protocol === b.protocol && a.hostPort !== undefined && a.hostPort === b.hostPort &&
    (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp);
}

/**
 * A bound mapping as `docker ps` shows it: `0.0.0.0:8080->80/tcp`,
 * `127.0.0.1:5353->53/udp`. With `containerIp`, the target address is shown
 * too (`0.0.0.0:8080->10.210.0.2:80/tcp`), as in the DNAT rule.
 */
export function formatPort(p: PortMapping & { hostPort: number }, containerIp?: string): string {
  const target = containerIp === undefined ? `${p.containerPort}` : `${containerIp}:${p.containerPort}`;
  return `${p.hostIp ?? "0.0.0.0"}:${p.hostPort}->${target}/${p.protocol}`;
}

/**
 * Whether `text` is a valid hostname: letters, digits, '-' and '.', 1-253
 * characters, dot-separated labels of 1-63 characters that neither start
 * nor end with '-' (RFC 1123).
 */
export function isHostname(text: string): boolean {
  return text.length >= 1 && text.length <= 253 &&
    text.split(".").every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** A plausible IPv6 literal: hex digits and colons, at least two colons. Not checked further. */
function isIPv6Literal(text: string): boolean {
  return /^[0-9a-fA-F:]+$/.test(text) && text.split(":").length >= 3;
}

/** An IPv4 address (canonical) or an IPv6 literal (as given), else undefined. */
function parseAddress(text: string): string | undefined {
  if (isIPv6Literal(text)) return text;
  try {
    return formatIPv4(parseIPv4(text));
  } catch {
    return undefined;
  }
}

/**
 * Parses `--add-host NAME:IP`, split at the first colon (so `NAME:::1`
 * is an IPv6 entry). NAME must be a valid hostname; IP an IPv4 address or
 * an IPv6 literal.
 *
 * @throws {UsageError} `Invalid --add-host "<text>": <why>`.
 */
export function parseAddHost(text: string): { name: string; ip: string } {
  const fail = (why: string): never => {
    throw new UsageError(`Invalid --add-host "${text}": ${why}`);
  };
  const colon = text.indexOf(":");
  if (colon < 0) fail("expected NAME:IP");
  const name = text.slice(0, colon);
  const ip = text.slice(colon + 1);
  if (!isHostname(name)) {
    fail(
      `"${name}" is not a valid hostname (letters, digits, '-' and '.'; labels of 1-63 characters not starting or ending with '-')`,
    );
  }
  const address = parseAddress(ip);
  if (address === undefined) return fail(`"${ip}" is not an IPv4 or IPv6 address`);
  return { name, ip: address };
}

/**
 * Parses `--mac-address`: six two-digit hex groups separated by ':'. A
 * multicast address (lowest bit of the first octet set) or all zeros
 * cannot be an interface's address.
 *
 * @throws {UsageError} `Invalid --mac-address "<text>": <why>`.
 */
export function parseMac(text: string): Uint8Array<ArrayBuffer> {
  const fail = (why: string): never => {
    throw new UsageError(`Invalid --mac-address "${text}": ${why}`);
  };
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) {
    fail("expected six hex pairs separated by ':', e.g. 02:42:0a:d2:00:02");
  }
  const mac = Uint8Array.from(text.split(":"), (h) => parseInt(h, 16));
  if ((mac[0]! & 1) === 1) fail("it is a multicast address (the lowest bit of the first octet is set)");
  if (mac.every((b) => b === 0)) fail("the all-zero address is not a valid interface address");
  return mac;
}

/**
 * Parses `--dns`: a nameserver's IPv4 address (returned canonical) or IPv6
 * literal (returned as given).
 *
 * @throws {UsageError} `Invalid --dns "<text>": <why>`.
 */
export function parseDns(text: string): string {
  const address = parseAddress(text);
  if (address === undefined) {
    throw new UsageError(`Invalid --dns "${text}": it is not an IPv4 or IPv6 address`);
  }
  return address;
}

// --- /etc/resolv.conf and /etc/hosts ---------------------------------------------

/**
 * Whether a nameserver is unreachable from a container: loopback
 * (127.0.0.0/8, ::1), 0.0.0.0 (also "this host"), or an IPv6 address with a
 * zone ("fe80::1%eth0" names a host interface).
 */
function isLocalNameserver(address: string): boolean {
  if (address === "::1" || address.includes("%")) return true;
  try {
    const n = parseIPv4(address);
    return n === 0 || n >>> 24 === 127;
  } catch {
    return false;
  }
}

/** The `nameserver` addresses of a resolv.conf text, in order. */
function nameserversOf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words[0] === "nameserver" && words[1] !== undefined) out.push(words[1]);
  }
  return out;
}

/**
 * Builds the container's /etc/resolv.conf from the host's, as docker does.
 *
 * The host's `search`, `domain` and `options` lines are kept; comments and
 * other lines are dropped. Nameservers: `options.dns` when given (non-empty),
 * exactly those; else the host's that are reachable from a container (IPv4,
 * not loopback, not 0.0.0.0); if none remain (e.g. systemd-resolved's stub
 * 127.0.0.53), those of `options.upstreamText` (the content of
 * /run/systemd/resolve/resolv.conf, read by the caller) filtered the same
 * way; if still none, {@link FALLBACK_DNS} and `fallback: true`.
 *
 * @returns the file text (ending with a newline), the nameservers it names,
 * and whether they are the fallback.
 */
export function containerResolvConf(
  hostText: string,
  options: { dns?: string[] | undefined; upstreamText?: string | undefined },
): { text: string; nameservers: string[]; fallback: boolean } {
  const kept: string[] = [];
  for (const line of hostText.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (["search", "domain", "options"].includes(words[0]!) && words.length > 1) kept.push(words.join(" "));
  }
  // The bridge is IPv4 only (IPv6 is off on the container's eth0): IPv6
  // nameservers of the host would be unreachable.
  const reachable = (text: string): string[] =>
    nameserversOf(text).filter((a) => !isLocalNameserver(a) && !a.includes(":"));
  let nameservers: string[];
  let fallback = false;
  if (options.dns !== undefined && options.dns.length > 0) {
    nameservers = [...options.dns];
  } else {
    nameservers = reachable(hostText);
    if (nameservers.length === 0 && options.upstreamText !== undefined) {
      nameservers = reachable(options.upstreamText);
    }
    if (nameservers.length === 0) {
      nameservers = [...FALLBACK_DNS];
      fallback = true;
    }
  }
  const lines = [...nameservers.map((a) => `nameserver ${a}`), ...kept];
  return { text: `${lines.join("\n")}\n`, nameservers, fallback };
}

/**
 * The container's /etc/hosts on the bridge network: localhost (IPv4 and
 * IPv6), the container's own name on its address, then each `--add-host`
 * entry in order.
 */
export function bridgedHostsFile(
  hostname: string,
  ip: string,
  extra: { name: string; ip: string }[],
): string {
  const lines = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    `${ip}\t${hostname}`,
    ...extra.map((e) => `${e.ip}\t${e.name}`),
  ];
  return `${lines.join("\n")}\n`;
}

// --- iptables ------------------------------------------------------------------

/** The nat chain of the per-container DNAT rules (published ports). */
const DNAT_CHAIN = "TINYO-DNAT";
/** The nat chain of the masquerading rules. */
const POSTROUTING_CHAIN = "TINYO-POSTROUTING";
/** The filter chain that lets bridge traffic through FORWARD. */
const FORWARD_CHAIN = "TINYO-FORWARD";
/** The raw chain that guards the host's loopback and the subnet (before conntrack and NAT). */
const RAW_CHAIN = "TINYO-PREROUTING";

/** Container ids as they may appear in a rule comment. */
const ID_RE = /^[\w+.-]{1,128}$/;

/**
 * The lines of each table section of `iptables-save` output (between
 * `*table` and `COMMIT`, both excluded), by table name, in order.
 */
function tablesOf(save: string): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of save.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) {
      current = [];
      tables.set(line.slice(1), current);
    } else if (line === "COMMIT") {
      current = undefined;
    } else if (current !== undefined && line !== "" && !line.startsWith("#")) {
      current.push(line);
    }
  }
  return tables;
}

/** One `*table` … `COMMIT` section per non-empty entry, in order; "" when all are empty. */
function batch(sections: [table: string, lines: string[]][]): string {
  const out = sections.filter(([, lines]) => lines.length > 0).map(([table, lines]) =>
    [`*${table}`, ...lines, "COMMIT"].join("\n")
  );
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}

/** Escapes a string for use inside a RegExp. */
function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `lines` (one table's) hold a rule in built-in `chain` jumping to `target`. */
function hasJump(lines: string[] | undefined, chain: string, target: string): boolean {
  const re = new RegExp(`^-A ${escapeRe(chain)} .*-j ${escapeRe(target)}$`);
  return (lines ?? []).some((l) => re.test(l));
}

/**
 * The network-level rules, made idempotently from the current
 * `iptables-save` output (both tables), for `iptables-restore --noflush`.
 *
 * TINYO-POSTROUTING and TINYO-FORWARD are declared (so reset) and refilled
 * every time; TINYO-DNAT is declared only when `save` lacks it, since it
 * holds the per-container rules; each jump from a built-in chain is added
 * only when `save` lacks it.
 *
 * @throws {TypeError} when `bridge` is not a possible interface name.
 */
export function bridgeRulesBatch(bridge: string, subnet: Subnet, save: string): string {
  if (!/^[\w.-]{1,15}$/.test(bridge)) throw new TypeError(`"${bridge}" is not a valid bridge name`);
  const net = formatSubnet(subnet);
  const tables = tablesOf(save);
  const nat = tables.get("nat");
  const filter = tables.get("filter");
  const natLines: string[] = [];
  if (!(nat ?? []).some((l) => l.startsWith(`:${DNAT_CHAIN} `))) natLines.push(`:${DNAT_CHAIN} - [0:0]`);
  natLines.push(
    `:${POSTROUTING_CHAIN} - [0:0]`,
    // Outbound: containers reach the world with the host's address.
    `-A ${POSTROUTING_CHAIN} -s ${net} ! -o ${bridge} -j MASQUERADE`,
    // Host → published port (including from 127.0.0.1, which needs
    // route_localnet on the bridge): the container must answer the bridge's
    // address, not a host-local one it cannot route back to.
    `-A ${POSTROUTING_CHAIN} -o ${bridge} -m addrtype --src-type LOCAL -j MASQUERADE`,
    // Hairpin: container → host address:published port → a container on the
    // same bridge. Without it the reply would go straight back over the
    // bridge from an address the client never sent to.
    `-A ${POSTROUTING_CHAIN} -o ${bridge} -s ${net} -m conntrack --ctstate DNAT -j MASQUERADE`,
  );
  // Published ports, for packets from outside and from the host itself, sent
  // to any of the host's own addresses (the gateway address included).
  const jumps: [chain: string, rule: string][] = [
    // Not for 127.0.0.0/8 from outside: a neighbour's packet to 127.0.0.1
    // must not reach a port published on 127.0.0.1 only.
    ["PREROUTING", `-A PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${DNAT_CHAIN}`],
    ["OUTPUT", `-A OUTPUT -m addrtype --dst-type LOCAL -j ${DNAT_CHAIN}`],
  ];
  for (const [chain, rule] of jumps) if (!hasJump(nat, chain, DNAT_CHAIN)) natLines.push(rule);
  if (!hasJump(nat, "POSTROUTING", POSTROUTING_CHAIN)) {
    natLines.push(`-A POSTROUTING -j ${POSTROUTING_CHAIN}`);
  }
  const filterLines = [
    `:${FORWARD_CHAIN} - [0:0]`,
    // Everything from the containers may be forwarded (outbound, and to other
    // containers).
    `-A ${FORWARD_CHAIN} -i ${bridge} -j ACCEPT`,
    // Into the bridge: replies to the containers' own connections, and
    // connections to published ports (DNATed by TINYO-DNAT); nothing else.
    `-A ${FORWARD_CHAIN} -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`,
    `-A ${FORWARD_CHAIN} -o ${bridge} -j DROP`,
  ];
  // First in FORWARD, ahead of a DROP policy or a final REJECT of other
  // tools (firewalld, ufw). It matches only traffic of this bridge, and
  // other bridges keep their own guards (docker's raw rules, like ours).
  if (!hasJump(filter, "FORWARD", FORWARD_CHAIN)) filterLines.push(`-I FORWARD 1 -j ${FORWARD_CHAIN}`);
  const rawLines = [
    `:${RAW_CHAIN} - [0:0]`,
    // The host's own traffic (to its gateway address too) goes through lo.
    `-A ${RAW_CHAIN} -i lo -j RETURN`,
    // CVE-2020-8558: route_localnet on the bridge makes the host accept
    // packets for 127.0.0.0/8 from it. Replies to the host's own connections
    // to a port published on 127.0.0.1 are not affected: at this point
    // (before conntrack undoes the masquerade) they are addressed to the
    // gateway.
    `-A ${RAW_CHAIN} -d 127.0.0.0/8 -i ${bridge} -j DROP`,
    // From the bridge, only the subnet's own addresses (no spoofed 127/8 or
    // host addresses).
    `-A ${RAW_CHAIN} ! -s ${net} -i ${bridge} -j DROP`,
    // To the subnet, only through the bridge: a neighbour routing the subnet
    // through this host reaches published ports (DNATed to the host's
    // address, later), never a container's other ports.
    `-A ${RAW_CHAIN} -d ${net} ! -i ${bridge} -j DROP`,
  ];
  if (!hasJump(tables.get("raw"), "PREROUTING", RAW_CHAIN)) rawLines.push(`-I PREROUTING 1 -j ${RAW_CHAIN}`);
  return batch([["raw", rawLines], ["nat", natLines], ["filter", filterLines]]);
}

function checkId(id: string): void {
  if (!ID_RE.test(id)) throw new TypeError(`"${id}" is not a valid container id for a rule comment`);
}

/**
 * The DNAT rules of one container's published ports (nat table, appended to
 * TINYO-DNAT; no chain declared, so other containers' rules stay). Each is
 * tagged `tinyo:<id>`. "" when there are no ports.
 *
 * @throws {TypeError} when `id` does not match /^[\w+.-]{1,128}$/, or an
 * address or port is invalid.
 */
export function portRulesBatch(
  id: string,
  containerIp: string,
  ports: (PortMapping & { hostPort: number })[],
): string {
  checkId(id);
  parseIPv4(containerIp);
  const lines = ports.map((p) => {
    for (const port of [p.hostPort, p.containerPort]) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new TypeError(`${port} is not a port in 1-65535`);
      }
    }
    if (p.protocol !== "tcp" && p.protocol !== "udp") {
      throw new TypeError(`"${p.protocol}" is not tcp or udp`);
    }
    const dest = p.hostIp === undefined ? "" : ` -d ${formatIPv4(parseIPv4(p.hostIp))}/32`;
    return `-A ${DNAT_CHAIN}${dest} -p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort}` +
      ` -m comment --comment tinyo:${id} -j DNAT --to-destination ${containerIp}:${p.containerPort}`;
  });
  return batch([["nat", lines]]);
}

/** Matches the tinyo comment of a saved rule, quoted or not; group 1 or 2 is the id. */
const COMMENT_RE = /--comment (?:"tinyo:([\w+.-]+)"|tinyo:([\w+.-]+))(?= |$)/;

/**
 * Deletes every rule of `save` (any table) tagged `tinyo:<id>` (exactly that
 * id, not a longer one it prefixes): each saved `-A` line becomes `-D`.
 * "" when there are none.
 *
 * @throws {TypeError} when `id` does not match /^[\w+.-]{1,128}$/.
 */
export function deleteRulesBatch(save: string, id: string): string {
  checkId(id);
  const sections: [string, string[]][] = [];
  for (const [table, lines] of tablesOf(save)) {
    const mine = lines.filter((l) => {
      const m = l.startsWith("-A ") ? COMMENT_RE.exec(l) : null;
      return m !== null && (m[1] ?? m[2]) === id;
    });
    sections.push([table, mine.map((l) => `-D ${l.slice(3)}`)]);
  }
  return batch(sections);
}

/**
 * Removes everything tinyo made in `save`: every rule of another chain that
 * jumps (or goes) to a TINYO-* chain, deleted as its exact saved line, then
 * each TINYO-* chain flushed and deleted. "" when nothing is there.
 */
export function teardownBatch(save: string): string {
  const sections: [string, string[]][] = [];
  for (const [table, lines] of tablesOf(save)) {
    const chains = lines.filter((l) => /^:TINYO-\S+ /.test(l)).map((l) => l.slice(1, l.indexOf(" ")));
    const jumps = lines.filter((l) => /^-A (?!TINYO-)\S+ .*-[jg] TINYO-\S+( |$)/.test(l));
    sections.push([table, [
      ...jumps.map((l) => `-D ${l.slice(3)}`),
      ...chains.map((c) => `-F ${c}`),
      ...chains.map((c) => `-X ${c}`),
    ]]);
  }
  return batch(sections);
}

/**
 * The container ids named in `tinyo:<id>` rule comments of `save`, each
 * once, in order of appearance: garbage collection deletes the rules of ids
 * that have no container record.
 */
export function ownedRuleIds(save: string): string[] {
  const ids = new Set<string>();
  for (const line of save.split("\n")) {
    const m = line.trim().startsWith("-A ") ? COMMENT_RE.exec(line) : null;
    if (m !== null) ids.add((m[1] ?? m[2])!);
  }
  return [...ids];
}

/**
 * Whether `rawSave` (`iptables-save -t raw`) still holds the guard of the
 * host's loopback against the bridge (the jump to TINYO-PREROUTING and its
 * first rule): checked at every bridged start, since a firewall reload can
 * remove it while route_localnet stays on.
 */
export function loopbackGuarded(rawSave: string, bridge: string): boolean {
  const raw = tablesOf(rawSave).get("raw") ?? [];
  // Exactly as iptables-save prints tinyo's own rules: the plain jump from
  // PREROUTING, and the guard right after the lo exception in the chain (a
  // rule with more matches, a negation, or another rule before it does not
  // count). Other tools may insert raw rules ahead of the jump: they drop
  // (docker's do), nothing in raw can accept past it.
  const chain = raw.filter((l) => l.startsWith(`-A ${RAW_CHAIN} `));
  return raw.includes(`-A PREROUTING -j ${RAW_CHAIN}`) && chain[0] === `-A ${RAW_CHAIN} -i lo -j RETURN` &&
    chain[1] === `-A ${RAW_CHAIN} -d 127.0.0.0/8 -i ${bridge} -j DROP`;
}

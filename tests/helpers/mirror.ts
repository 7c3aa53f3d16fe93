/**
 * A loopback Alpine mirror (127.0.0.1 only) built from ../shared/rootfs, with
 * fault modes chosen by the first path segment of the mirror URL:
 *
 *     http://127.0.0.1:PORT/ok/alpine/v3.20/releases/x86_64/latest-releases.yaml
 *     /badsum/...     the index lists a wrong sha256
 *     /truncated/...  tarballs are cut in half (the Content-Length says the full size)
 *     /http500/...    every request fails with HTTP 500
 *     /oversize/...   tarballs come with 1 MiB more than the index's size
 *     /hugeindex/...  the release index is 2 MiB long
 *     /evilfile~B64/... the index's `file` climbs out with "../" to the path
 *                     base64url-encoded in B64 (a hostile mirror); any
 *                     /tmp/NAME.tar.gz is then served the 3.20.3 tarball
 *
 * Branches: v3.20 (3.20.3), latest-stable (3.20.3), edge (3.20.3), and v3.19
 * whose index claims a newer 3.19.9 that does not exist, so that alpine:3.19.4
 * goes through the point-release path (file + .sha256 beside the index).
 * Raw HTTP/1.0 over Deno.listen, so faults are fully under the test's control.
 */

import { SHARED_ROOTFS } from "./tinyo.ts";

/** A running mirror. */
export interface TestMirror {
  /** Base URL for a mode, e.g. `mirror.url("ok")`. */
  url(
    mode: "ok" | "badsum" | "truncated" | "http500" | "evilfile" | "oversize" | "hugeindex",
    target?: string,
  ): string;
  /** Paths requested so far. */
  readonly requests: string[];
  close(): Promise<void>;
}

const SUMS = (): Map<string, string> =>
  new Map(
    Deno.readTextFileSync(`${SHARED_ROOTFS}SHA256SUMS`).trim().split("\n").map((l) => {
      const [sum, file] = l.trim().split(/\s+/);
      return [file!.replace(/^\*/, ""), sum!] as [string, string];
    }),
  );

function indexYaml(branch: string, version: string, sha256: string, size: number): string {
  const file = `alpine-minirootfs-${version}-x86_64.tar.gz`;
  return [
    "---",
    "-",
    '  title: "Standard"',
    "  branch: " + branch,
    "  arch: x86_64",
    "  version: " + version,
    "  flavor: alpine-standard",
    `  file: alpine-standard-${version}-x86_64.iso`,
    "  size: 1",
    "  sha256: " + "1".repeat(64),
    "-",
    '  title: "Mini root filesystem"',
    '  desc: "Minimal root filesystem.\\nFor use in containers"',
    "  branch: " + branch,
    "  arch: x86_64",
    "  version: " + version,
    "  flavor: alpine-minirootfs",
    "  file: " + file,
    "  iso: " + file,
    "  date: 2024-09-06",
    "  time: 12:34:56",
    "  size: " + size,
    "  sha256: " + sha256,
    "",
  ].join("\n");
}

/** Starts the mirror on 127.0.0.1, on a free port. */
export function startMirror(): TestMirror {
  const sums = SUMS();
  const files = new Map<string, Uint8Array>();
  for (const name of sums.keys()) files.set(name, Deno.readFileSync(`${SHARED_ROOTFS}${name}`));
  const latest: Record<string, string> = {
    "v3.20": "3.20.3",
    "latest-stable": "3.20.3",
    edge: "3.20.3",
    "v3.19": "3.19.9",
  };
  const requests: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const enc = new TextEncoder();

  function route(mode: string, path: string): { status: number; body: Uint8Array; length?: number } {
    if (mode === "http500") return { status: 500, body: enc.encode("boom") };
    if (mode === "tmp" && /^\/[\w.-]+\.tar\.gz$/.test(path)) {
      return { status: 200, body: files.get("alpine-minirootfs-3.20.3-x86_64.tar.gz")! };
    }
    const m = /^\/alpine\/([^/]+)\/releases\/x86_64\/(.+)$/.exec(path);
    if (m === null) return { status: 404, body: enc.encode("not found") };
    const [, branch, name] = m as unknown as [string, string, string];
    if (name === "latest-releases.yaml" && latest[branch] !== undefined) {
      const version = latest[branch]!;
      const file = `alpine-minirootfs-${version}-x86_64.tar.gz`;
      const sha = mode === "badsum" ? "0".repeat(64) : sums.get(file) ?? "2".repeat(64);
      const yaml = indexYaml(branch, version, sha, files.get(file)?.length ?? 1) +
        (mode === "hugeindex" ? `# ${"x".repeat(2 * 1024 * 1024)}\n` : "");
      if (mode.startsWith("evilfile~")) {
        const target = atob(mode.slice("evilfile~".length).replaceAll("-", "+").replaceAll("_", "/"));
        const climb = `${"../".repeat(16)}${target.replace(/^\/+/, "")}`;
        return { status: 200, body: enc.encode(yaml.replaceAll(`file: ${file}`, `file: ${climb}`)) };
      }
      return { status: 200, body: enc.encode(yaml) };
    }
    const version = /^alpine-minirootfs-(\d+\.\d+)\.\d+-x86_64\.tar\.gz/.exec(name);
    if (
      version === null ||
      `v${version[1]}` !== branch.replace("latest-stable", "v3.20").replace("edge", "v3.20")
    ) {
      return { status: 404, body: enc.encode("not found") };
    }
    if (name.endsWith(".sha256")) {
      const sum = sums.get(name.slice(0, -7));
      return sum === undefined
        ? { status: 404, body: enc.encode("") }
        : { status: 200, body: enc.encode(`${sum}  ${name.slice(0, -7)}\n`) };
    }
    const data = files.get(name);
    if (data === undefined) return { status: 404, body: enc.encode("not found") };
    if (mode === "oversize") {
      const more = new Uint8Array(data.length + 1024 * 1024);
      more.set(data);
      return { status: 200, body: more };
    }
    if (mode === "truncated") {
      return { status: 200, body: data.subarray(0, data.length >> 1), length: data.length };
    }
    return { status: 200, body: data };
  }

  async function serve(conn: Deno.Conn): Promise<void> {
    try {
      const buf = new Uint8Array(8192);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      const target = head.split(" ")[1] ?? "/";
      requests.push(target);
      const mm = /^\/([^/]+)(\/.*)$/.exec(target);
      const res = mm === null ? { status: 404, body: enc.encode("") } : route(mm[1]!, mm[2]!);
      const reason = { 200: "OK", 404: "Not Found", 500: "Internal Server Error" }[res.status] ?? "X";
      await conn.write(enc.encode(
        `HTTP/1.0 ${res.status} ${reason}\r\nContent-Length: ${
          res.length ?? res.body.length
        }\r\nConnection: close\r\n\r\n`,
      ));
      let off = 0;
      while (off < res.body.length) off += await conn.write(res.body.subarray(off));
    } catch {
      // The client went away.
    } finally {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  const accepting = (async () => {
    for await (const conn of listener) serve(conn);
  })().catch(() => {});

  return {
    url: (mode, target) =>
      mode === "evilfile"
        ? `http://127.0.0.1:${port}/evilfile~${
          btoa(target ?? "/tmp/x").replaceAll("+", "-").replaceAll("/", "_")
        }`
        : `http://127.0.0.1:${port}/${mode}`,
    requests,
    async close(): Promise<void> {
      listener.close();
      await accepting;
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens. */
export function unreachableUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}/ok`;
}

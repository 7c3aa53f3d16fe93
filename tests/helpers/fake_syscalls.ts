/**
 * A recording `Syscalls` for tests that need no root: one ordered call log,
 * and failures injected on demand with the same `SyscallError` the real
 * layer throws.
 */

import type { MountOptions, Syscalls } from "../../runtime/syscalls.ts";
import { SyscallError } from "../../runtime/syscalls.ts";
import { errnoNumber } from "../../ffi/errno.ts";
import { O, open } from "../../ffi/mod.ts";

/** One recorded call. */
export type Call =
  | { op: "unshare"; flags: number }
  | { op: "setns"; path: string; nstype: number }
  | {
    op: "mount";
    source: string;
    target: string;
    fstype?: string;
    flags: number;
    data?: string;
    /** Set when the target was a descriptor (/proc/self/fd/N): target is then what it pointed at. */
    viaFd?: true;
  }
  | { op: "mountSetattr"; target: string; set: number; clear: number; recursive: boolean }
  | { op: "fchdir"; path: string }
  | { op: "openDevice"; path: string }
  | { op: "setnsFd"; what: string; nstype: number }
  | { op: "umount2"; target: string; flags: number }
  | { op: "pivotRoot"; newRoot: string; putOld: string }
  | { op: "chdir"; path: string }
  | { op: "sethostname"; name: string }
  | { op: "mknod"; path: string; mode: number; major: number; minor: number }
  | { op: "lchown"; path: string; uid: number; gid: number }
  | { op: "linkUp"; name: string }
  | { op: "setrlimit"; resource: number; soft: number; hard: number }
  | { op: "setgroups"; gids: number[] }
  | { op: "setgid"; gid: number }
  | { op: "setuid"; uid: number }
  | { op: "prctl"; option: number; arg: number; arg3: number }
  | { op: "capset"; effective: [number, number]; permitted: [number, number]; inheritable: [number, number] };

interface Failure {
  op: Call["op"];
  code: string;
  times: number;
  when?: (call: Call) => boolean;
}

/**
 * What a `/proc/self/fd/N[/name]` path refers to (the real layer mounts on
 * descriptors opened inside the rootfs), or undefined for other paths.
 */
function resolveFdPath(path: string): string | undefined {
  const m = /^\/proc\/self\/fd\/(\d+)(\/.*)?$/.exec(path);
  if (m === null) return undefined;
  return Deno.readLinkSync(`/proc/self/fd/${m[1]}`) + (m[2] ?? "");
}

/** The fake. `calls` is the log; `failOn` injects errors. */
export class FakeSyscalls implements Syscalls {
  readonly calls: Call[] = [];
  #failures: Failure[] = [];
  /** When set, mknod creates a plain file at the path (so later steps find it). */
  touchOnMknod = true;

  /** Makes the next `times` calls of `op` (matching `when`) fail with errno `code`. */
  failOn(
    op: Call["op"],
    code: string,
    options: { times?: number; when?: (call: Call) => boolean } = {},
  ): this {
    this.#failures.push({
      op,
      code,
      times: options.times ?? 1,
      ...(options.when ? { when: options.when } : {}),
    });
    return this;
  }

  /** The calls of one kind, in order. */
  of<K extends Call["op"]>(op: K): Extract<Call, { op: K }>[] {
    return this.calls.filter((c): c is Extract<Call, { op: K }> => c.op === op);
  }

  #record(call: Call, path?: string): void {
    const f = this.#failures.find((f) => f.op === call.op && f.times > 0 && (f.when?.(call) ?? true));
    if (f !== undefined) {
      f.times--;
      throw new SyscallError({ syscall: call.op, errno: errnoNumber(f.code), ...(path ? { path } : {}) });
    }
    this.calls.push(call);
  }

  unshare(flags: number): void {
    this.#record({ op: "unshare", flags });
  }
  setns(path: string, nstype: number): void {
    this.#record({ op: "setns", path, nstype }, path);
  }
  mount(source: string, target: string, options: MountOptions = {}): void {
    const resolved = resolveFdPath(target);
    this.#record({
      op: "mount",
      source: resolveFdPath(source) ?? source,
      target: resolved ?? target,
      flags: options.flags ?? 0,
      ...(options.fstype !== undefined ? { fstype: options.fstype } : {}),
      ...(options.data !== undefined && options.data !== "" ? { data: options.data } : {}),
      ...(resolved !== undefined ? { viaFd: true as const } : {}),
    }, source);
  }
  mountSetattr(fd: number, set: number, clear: number, recursive: boolean): void {
    this.#record({
      op: "mountSetattr",
      target: Deno.readLinkSync(`/proc/self/fd/${fd}`),
      set,
      clear,
      recursive,
    });
  }
  /** The directory a recorded pivot_root made the root ("." after chdir). */
  #root: string | undefined;
  #cwd = "/";
  openRoot(path: string): number {
    const real = path === "/" && this.#root !== undefined ? this.#root : path;
    return open(real, O.PATH | O.DIRECTORY | O.CLOEXEC);
  }
  openDevice(rootFd: number, path: string, _flags: number): number {
    // The fake's nodes are plain files: open one by descriptor, unchecked.
    const dir = Deno.readLinkSync(`/proc/self/fd/${rootFd}`);
    this.#record({ op: "openDevice", path });
    return open(`${dir}${path}`, O.PATH | O.CLOEXEC);
  }
  fchdir(fd: number): void {
    this.#record({ op: "fchdir", path: Deno.readLinkSync(`/proc/self/fd/${fd}`) });
  }
  setnsFd(_fd: number, nstype: number, what: string): void {
    this.#record({ op: "setnsFd", what, nstype }, what);
  }
  umount2(target: string, flags = 0): void {
    this.#record({ op: "umount2", target, flags }, target);
  }
  pivotRoot(newRoot: string, putOld: string): void {
    this.#record({ op: "pivotRoot", newRoot, putOld }, newRoot);
    if (newRoot === ".") this.#root = this.#cwd;
  }
  chdir(path: string): void {
    this.#record({ op: "chdir", path }, path);
    if (path.startsWith("/") && this.#root === undefined) this.#cwd = path;
  }
  sethostname(name: string): void {
    this.#record({ op: "sethostname", name }, name);
  }
  mknod(fdOrPath: string, mode: number, major: number, minor: number): void {
    const path = resolveFdPath(fdOrPath) ?? fdOrPath;
    this.#record({ op: "mknod", path, mode, major, minor }, path);
    if (this.touchOnMknod) Deno.writeFileSync(path, new Uint8Array());
  }
  lchown(fdOrPath: string, uid: number, gid: number): void {
    const path = resolveFdPath(fdOrPath) ?? fdOrPath;
    this.#record({ op: "lchown", path, uid, gid }, path);
  }
  linkUp(name: string): void {
    this.#record({ op: "linkUp", name }, name);
  }
  setrlimit(resource: number, soft: number, hard: number): void {
    this.#record({ op: "setrlimit", resource, soft, hard });
  }
  setgroups(gids: readonly number[]): void {
    this.#record({ op: "setgroups", gids: [...gids] });
  }
  setgid(gid: number): void {
    this.#record({ op: "setgid", gid });
  }
  setuid(uid: number): void {
    this.#record({ op: "setuid", uid });
  }
  prctl(option: number, arg: number, arg3 = 0): void {
    this.#record({ op: "prctl", option, arg, arg3 });
  }
  capset(effective: [number, number], permitted: [number, number], inheritable: [number, number]): void {
    this.#record({ op: "capset", effective, permitted, inheritable });
  }
}

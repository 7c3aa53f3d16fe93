/**
 * `tinyo attach`: the user's terminal connected to a detached container's
 * (`run -dit`) through its monitor. conmon keeps the container's pty master
 * and offers an attach socket in the container's directory (SOCK_SEQPACKET:
 * each message it sends starts with one byte naming the stream, 2 stdout and
 * 3 stderr, as podman reads it; what the client sends is the container's
 * stdin as it is) and a `ctl` FIFO (`1 ROWS COLS\n` resizes the pty).
 *
 * Detaching is the client's business, as in docker and podman: the detach
 * keys (Ctrl-P Ctrl-Q by default) end the attachment and leave the
 * container running; a Ctrl-P followed by anything else is passed on.
 *
 * @module
 */

import { O, pidCalls, POLL, processCalls } from "../syscalls.ts";
import { TinyoError } from "../errors.ts";

/** Stream bytes of conmon's attach messages (its stdpipe_t). */
const STDOUT = 2;
const STDERR = 3;
/** conmon's STDIO_BUF_SIZE plus the stream byte. */
const MESSAGE_SIZE = 8192 + 1;

/** How an attachment ended. */
export type AttachEnd = "detached" | "ended";

/**
 * Scans typed bytes for a detach sequence across reads: returns what to
 * pass on, and whether the sequence was typed.
 */
export class DetachScanner {
  #matched = 0;
  constructor(readonly keys: Uint8Array) {}

  /** What of `chunk` goes to the container, and whether to detach (the rest is dropped). */
  feed(chunk: Uint8Array): { pass: Uint8Array; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.#matched]) {
        this.#matched++;
        if (this.#matched === this.keys.length) return { pass: new Uint8Array(out), detach: true };
        continue;
      }
      // A partial sequence that did not complete is passed on as typed.
      for (let i = 0; i < this.#matched; i++) out.push(this.keys[i]!);
      this.#matched = 0;
      if (byte === this.keys[0]) this.#matched = 1;
      else out.push(byte);
    }
    return { pass: new Uint8Array(out), detach: false };
  }
}

/** Parses docker's `--detach-keys` (`ctrl-p,ctrl-q`, `ctrl-@`, `a`): the bytes. */
export function parseDetachKeys(text: string): Uint8Array {
  const bytes = text.split(",").map((k) => {
    const key = k.trim().toLowerCase();
    const ctrl = /^ctrl-([a-z@\[\\\]^_])$/.exec(key);
    if (ctrl !== null) return ctrl[1]!.toUpperCase().charCodeAt(0) & 0x1f;
    if (key.length === 1 && key >= " " && key <= "~") return key.charCodeAt(0);
    throw new TinyoError(`Invalid --detach-keys "${text}": "${k}" is not a key (use e.g. ctrl-p,ctrl-q)`);
  });
  if (bytes.length === 0) throw new TinyoError(`Invalid --detach-keys "${text}"`);
  return new Uint8Array(bytes);
}

/** Tells conmon the terminal's size (its ctl FIFO); nothing when it is not listening. */
function resize(ctl: string): void {
  let size;
  try {
    size = processCalls.getWindowSize(0);
  } catch {
    return;
  }
  let fd: number;
  try {
    fd = processCalls.open(ctl, O.WRONLY | O.NONBLOCK | O.CLOEXEC);
  } catch {
    return;
  }
  try {
    processCalls.writeAll(fd, new TextEncoder().encode(`1 ${size.rows} ${size.cols}\n`));
  } catch {
    // conmon is gone.
  } finally {
    processCalls.close(fd);
  }
}

/**
 * Attaches the user's terminal to the container whose directory is `dir`
 * until it ends or the user types `detachKeys`.
 */
export async function attach(dir: string, detachKeys: Uint8Array, stdin = true): Promise<AttachEnd> {
  // The socket's path may be longer than sun_path: connect through a descriptor (as podman does).
  let pathFd: number;
  try {
    pathFd = processCalls.open(`${dir}/attach`, O.PATH | O.CLOEXEC);
  } catch (err) {
    throw new TinyoError(
      `Cannot attach: the container's monitor offers no attach socket (${(err as Error).message})`,
    );
  }
  let sock: number;
  try {
    sock = processCalls.unixConnect(`/proc/self/fd/${pathFd}`, true);
  } catch (err) {
    throw new TinyoError(`Cannot attach: ${(err as Error).message}`);
  } finally {
    processCalls.close(pathFd);
  }
  // Raw mode only when keys are passed on: with --no-stdin, Ctrl-C stays the terminal's.
  const tty = Deno.stdin.isTerminal() && stdin;
  const ctl = `${dir}/ctl`;
  const onWinch = (): void => resize(ctl);
  if (Deno.stdin.isTerminal()) {
    resize(ctl);
    Deno.addSignalListener("SIGWINCH", onWinch);
  }
  if (tty) Deno.stdin.setRaw(true);
  const state: { end: AttachEnd } = { end: "ended" };
  let stop = false;
  try {
    const scanner = new DetachScanner(detachKeys);
    // Typed keys are queued, and written only when the socket has room: a
    // container that reads no stdin fills it, and a blocking write would
    // freeze everything, the detach keys included.
    const queue: Uint8Array<ArrayBuffer>[] = [];
    let wake: (() => void) | undefined;
    const input = !stdin ? Promise.resolve() : (async () => {
      const buf = new Uint8Array(4096);
      while (!stop) {
        const n = await Deno.stdin.read(buf);
        if (n === null || stop) break;
        const { pass, detach } = scanner.feed(buf.subarray(0, n));
        if (pass.length > 0) queue.push(new Uint8Array(pass));
        if (detach) {
          state.end = "detached";
          stop = true;
        }
        wake?.();
      }
    })().catch(() => {});
    const writer = (async () => {
      while (!stop) {
        if (queue.length === 0) {
          await new Promise<void>((r) => wake = r);
          wake = undefined;
          continue;
        }
        if ((await pidCalls.pollOneAsync(sock, POLL.OUT, 200) & POLL.OUT) === 0) continue;
        if (!stop) processCalls.writeAll(sock, queue.shift()!);
      }
    })().catch(() => {});
    const buf = new Uint8Array(MESSAGE_SIZE);
    while (!stop) {
      const events = await pidCalls.pollOneAsync(sock, POLL.IN, 200);
      if (stop) break;
      if (events === 0) continue;
      const n = processCalls.read(sock, buf);
      if (n <= 0) break; // conmon closed it: the container ended
      const data = buf.subarray(1, n);
      const out = buf[0] === STDERR ? Deno.stderr : buf[0] === STDOUT ? Deno.stdout : undefined;
      let off = 0;
      while (out !== undefined && off < data.length) off += out.writeSync(data.subarray(off));
    }
    stop = true;
    wake?.();
    await writer;
    if (state.end === "detached") await input;
  } finally {
    stop = true;
    processCalls.close(sock);
    if (Deno.stdin.isTerminal()) Deno.removeSignalListener("SIGWINCH", onWinch);
    if (tty) {
      try {
        Deno.stdin.setRaw(false);
      } catch {
        // stdin is gone.
      }
    }
  }
  return state.end;
}

/**
 * errno: reading it right after a failed call, its symbolic names, and the
 * typed `SyscallError` every failing wrapper throws.
 *
 * @module
 */

import { libc } from "./_libc.ts";

/** errno numbers to names (Linux x86_64, asm-generic/errno*.h). */
const ERRNO_NAMES: readonly string[] = [
  "0",
  "EPERM",
  "ENOENT",
  "ESRCH",
  "EINTR",
  "EIO",
  "ENXIO",
  "E2BIG",
  "ENOEXEC",
  "EBADF",
  "ECHILD",
  "EAGAIN",
  "ENOMEM",
  "EACCES",
  "EFAULT",
  "ENOTBLK",
  "EBUSY",
  "EEXIST",
  "EXDEV",
  "ENODEV",
  "ENOTDIR",
  "EISDIR",
  "EINVAL",
  "ENFILE",
  "EMFILE",
  "ENOTTY",
  "ETXTBSY",
  "EFBIG",
  "ENOSPC",
  "ESPIPE",
  "EROFS",
  "EMLINK",
  "EPIPE",
  "EDOM",
  "ERANGE",
  "EDEADLK",
  "ENAMETOOLONG",
  "ENOLCK",
  "ENOSYS",
  "ENOTEMPTY",
  "ELOOP",
  "41",
  "ENOMSG",
  "EIDRM",
  "ECHRNG",
  "EL2NSYNC",
  "EL3HLT",
  "EL3RST",
  "ELNRNG",
  "EUNATCH",
  "ENOCSI",
  "EL2HLT",
  "EBADE",
  "EBADR",
  "EXFULL",
  "ENOANO",
  "EBADRQC",
  "EBADSLT",
  "58",
  "EBFONT",
  "ENOSTR",
  "ENODATA",
  "ETIME",
  "ENOSR",
  "ENONET",
  "ENOPKG",
  "EREMOTE",
  "ENOLINK",
  "EADV",
  "ESRMNT",
  "ECOMM",
  "EPROTO",
  "EMULTIHOP",
  "EDOTDOT",
  "EBADMSG",
  "EOVERFLOW",
  "ENOTUNIQ",
  "EBADFD",
  "EREMCHG",
  "ELIBACC",
  "ELIBBAD",
  "ELIBSCN",
  "ELIBMAX",
  "ELIBEXEC",
  "EILSEQ",
  "ERESTART",
  "ESTRPIPE",
  "EUSERS",
  "ENOTSOCK",
  "EDESTADDRREQ",
  "EMSGSIZE",
  "EPROTOTYPE",
  "ENOPROTOOPT",
  "EPROTONOSUPPORT",
  "ESOCKTNOSUPPORT",
  "EOPNOTSUPP",
  "EPFNOSUPPORT",
  "EAFNOSUPPORT",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "ENETDOWN",
  "ENETUNREACH",
  "ENETRESET",
  "ECONNABORTED",
  "ECONNRESET",
  "ENOBUFS",
  "EISCONN",
  "ENOTCONN",
  "ESHUTDOWN",
  "ETOOMANYREFS",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "EALREADY",
  "EINPROGRESS",
  "ESTALE",
  "EUCLEAN",
  "ENOTNAM",
  "ENAVAIL",
  "EISNAM",
  "EREMOTEIO",
  "EDQUOT",
  "ENOMEDIUM",
  "EMEDIUMTYPE",
  "ECANCELED",
  "ENOKEY",
  "EKEYEXPIRED",
  "EKEYREVOKED",
  "EKEYREJECTED",
  "EOWNERDEAD",
  "ENOTRECOVERABLE",
  "ERFKILL",
  "EHWPOISON",
];

/**
 * Reads errno of the calling thread. Call it as the very next action after
 * the failing libc call: any other call, log or `await` may change it.
 */
export function lastErrno(): number {
  // errno lives at a fixed address per thread; the main thread's is read
  // through a view made once, so no other foreign call comes between the
  // failing call and this read (V8 may still run between them and make
  // failing system calls of its own: callers that branch on one errno retry
  // when they see another, see rootfs/untar.ts #clear).
  return mainThreadErrno.getInt32();
}

/**
 * Made when this module loads (on the main thread), not on the first
 * failure: libc's symbols are bound on first use (ffi/_libc.ts), and binding
 * `__errno_location` between a failing call and this read would be a
 * dlopen(3) that may change errno.
 */
const mainThreadErrno: Deno.UnsafePointerView = (() => {
  const ptr = libc.__errno_location();
  if (ptr === null) throw new Error("Cannot read errno: __errno_location returned NULL");
  return new Deno.UnsafePointerView(ptr);
})();

/** The symbolic name of an errno number, e.g. `2` → `"ENOENT"`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** The errno number of a name, e.g. `"ENOENT"` → `2`, or -1 if unknown. */
export function errnoNumber(name: string): number {
  return ERRNO_NAMES.indexOf(name);
}

/** The C library's description of an errno number (strerror(3)). */
export function errnoText(errno: number): string {
  const ptr = libc.strerror(errno);
  return ptr === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(ptr);
}

/** Details of a failed system call. */
export interface SyscallErrorInit {
  /** The libc function or system call, e.g. `"mount"`. */
  syscall: string;
  /** The errno it set. */
  errno: number;
  /** The path or main argument involved, e.g. the mount source. */
  path?: string;
  /** A second path where the call has one (mount target, pivot put_old). */
  dest?: string;
}

/**
 * A failed system call: which call, the errno (number and name) and the
 * path or argument involved. The message reads like
 * `mount(proc -> /x/proc): EPERM (Operation not permitted)`.
 */
export class SyscallError extends Error {
  override name = "SyscallError";
  /** The call that failed, e.g. `"mount"`. */
  readonly syscall: string;
  /** The errno number. */
  readonly errno: number;
  /** The errno name, e.g. `"EPERM"`. */
  readonly code: string;
  /** The path or argument involved. */
  readonly path: string | undefined;
  /** The second path, where there is one. */
  readonly dest: string | undefined;

  constructor(init: SyscallErrorInit) {
    const code = errnoName(init.errno);
    const args = init.dest === undefined ? (init.path ?? "") : `${init.path ?? ""} -> ${init.dest}`;
    super(`${init.syscall}(${args}): ${code} (${errnoText(init.errno)})`);
    this.syscall = init.syscall;
    this.errno = init.errno;
    this.code = code;
    this.path = init.path;
    this.dest = init.dest;
  }
}

/** True when `err` is a `SyscallError` whose errno name is `code`. */
export function isErrno(err: unknown, code: string): err is SyscallError {
  return err instanceof SyscallError && err.code === code;
}

/**
 * Linux constants used by tinyo's system calls (x86_64 values), as
 * `as const` objects. No logic lives here.
 *
 * @module
 */

/** Namespace flags for unshare(2), setns(2) and clone(2). */
export const CLONE = {
  /** Mount namespace. */
  NEWNS: 0x00020000,
  /** Cgroup namespace. */
  NEWCGROUP: 0x02000000,
  /** UTS namespace (hostname, domain name). */
  NEWUTS: 0x04000000,
  /** System V IPC and POSIX message queue namespace. */
  NEWIPC: 0x08000000,
  /** User namespace. */
  NEWUSER: 0x10000000,
  /** PID namespace (takes effect for children only). */
  NEWPID: 0x20000000,
  /** Network namespace. */
  NEWNET: 0x40000000,
  /** Time namespace. */
  NEWTIME: 0x00000080,
  /** Unshare the filesystem attributes (root, cwd, umask). */
  FS: 0x00000200,
} as const;

/** mount(2) flags. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** umount2(2) flags. */
export const MNT = {
  FORCE: 0x1,
  DETACH: 0x2,
  EXPIRE: 0x4,
  NOFOLLOW: 0x8,
} as const;

/** open(2) flags. */
export const O = {
  RDONLY: 0o0,
  WRONLY: 0o1,
  RDWR: 0o2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/** File type bits of st_mode, for mknod(2). */
export const S_IF = {
  FIFO: 0o010000,
  CHR: 0o020000,
  DIR: 0o040000,
  BLK: 0o060000,
  REG: 0o100000,
  LNK: 0o120000,
  SOCK: 0o140000,
} as const;

/** Signal numbers (x86_64). */
export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
} as const;

/** A signal name such as `"SIGTERM"`. */
export type SignalName = keyof typeof SIGNALS;

/** prctl(2) options. */
export const PR = {
  SET_PDEATHSIG: 1,
  GET_DUMPABLE: 3,
  SET_DUMPABLE: 4,
  SET_KEEPCAPS: 8,
  SET_NAME: 15,
  SET_SECCOMP: 22,
  CAPBSET_DROP: 24,
  SET_CHILD_SUBREAPER: 36,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
} as const;

/** seccomp(2) modes. */
export const SECCOMP_MODE_FILTER = 2;

/** fcntl(2) commands and flags. */
export const F = {
  GETFD: 1,
  SETFD: 2,
  FD_CLOEXEC: 1,
} as const;

/** ioctl(2) requests and interface flags for bringing a link up. */
export const NET = {
  AF_INET: 2,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0o2000000,
  SIOCGIFFLAGS: 0x8913,
  SIOCSIFFLAGS: 0x8914,
  IFF_UP: 0x1,
  IFF_RUNNING: 0x40,
} as const;

/** `AT_*` flags for the *at(2) calls. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  /** unlinkat(2): remove a directory. */
  REMOVEDIR: 0x200,
  /** linkat(2): follow a symlink given as the old path. */
  SYMLINK_FOLLOW: 0x400,
  /** Operate on the descriptor itself when the path is empty. */
  EMPTY_PATH: 0x1000,
  /** mount_setattr(2): apply to the whole mount tree. */
  RECURSIVE: 0x8000,
} as const;

/** openat2(2) `resolve` flags (linux/openat2.h). */
export const RESOLVE = {
  /** Stay on the starting mount. */
  NO_XDEV: 0x01,
  /** Refuse /proc "magic" links (/proc/PID/root, /proc/PID/fd/N, ...). */
  NO_MAGICLINKS: 0x02,
  /** Refuse every symlink. */
  NO_SYMLINKS: 0x04,
  /** Refuse paths that leave the starting directory. */
  BENEATH: 0x08,
  /** Treat the starting directory as "/" (symlinks and ".." stay inside). */
  IN_ROOT: 0x10,
} as const;

/** mount_setattr(2) attributes (linux/mount.h). */
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
} as const;

/** close_range(2) flags. */
export const CLOSE_RANGE = {
  /** Mark the range close-on-exec instead of closing it. */
  CLOEXEC: 0x4,
} as const;

/** poll(2) events. */
export const POLL = {
  IN: 0x1,
  OUT: 0x4,
  ERR: 0x8,
  HUP: 0x10,
} as const;

/** setrlimit(2) resources. */
export const RLIMIT = {
  CPU: 0,
  FSIZE: 1,
  DATA: 2,
  STACK: 3,
  CORE: 4,
  RSS: 5,
  NPROC: 6,
  NOFILE: 7,
  MEMLOCK: 8,
  AS: 9,
  LOCKS: 10,
  SIGPENDING: 11,
  MSGQUEUE: 12,
  NICE: 13,
  RTPRIO: 14,
  RTTIME: 15,
} as const;

/** x86_64 system call numbers used through syscall(2). */
export const SYS = {
  rt_sigaction: 13,
  pivot_root: 155,
  bpf: 321,
  pidfd_send_signal: 424,
  pidfd_open: 434,
  close_range: 436,
  openat2: 437,
  mount_setattr: 442,
} as const;

/** Terminal ioctl(2) requests (x86_64). */
export const TIOC = {
  /** Make the terminal the controlling terminal of the calling session. */
  SCTTY: 0x540e,
  GWINSZ: 0x5413,
  SWINSZ: 0x5414,
  /** Lock or unlock a pty slave (unlockpt(3)). */
  SPTLCK: 0x40045431,
  /** The number of a pty slave (ptsname(3)). */
  GPTN: 0x80045430,
  /** Open the slave of a pty master by descriptor (Linux 4.13). */
  GPTPEER: 0x5441,
} as const;

/**
 * tinyo's default seccomp profile: an allow-list, like docker's
 * (profiles/seccomp/default.json). Every x86_64 system call in
 * syscalls_x86_64.ts was looked at; those below are allowed, grouped by
 * purpose, and everything else fails with EPERM. Calls newer than the table
 * get ENOSYS from the compiler's stub, so libcs fall back to older ones.
 *
 * Denied, always (they act on the host, not on the container):
 * - kernels and modules: kexec_load, kexec_file_load, init_module,
 *   finit_module, delete_module, create_module, get_kernel_syms, query_module;
 * - the kernel keyring (not namespaced): keyctl, add_key, request_key;
 * - kernel-side programs and probes: bpf, perf_event_open, lookup_dcookie;
 * - userfaultfd (a tool for stalling the kernel in exploits);
 * - file handles (open_by_handle_at escapes bind mounts: the "shocker"
 *   exploit), and name_to_handle_at with it;
 * - io_uring_setup, io_uring_enter, io_uring_register: the operations an
 *   io_uring carries are never seen by seccomp, so it would bypass this list;
 * - mounting: mount, umount2, pivot_root and the new mount API (fsopen,
 *   fsconfig, fsmount, fspick, move_mount, open_tree, mount_setattr);
 * - namespaces: unshare, setns, and clone with any CLONE_NEW* flag; clone3
 *   gets ENOSYS instead, so libcs fall back to clone, whose flags a filter
 *   can see (clone3 passes them in memory). All of these stay denied even
 *   with CAP_SYS_ADMIN, unlike docker: tinyo never lets a container mount or
 *   make namespaces unless it runs unconfined or privileged;
 * - swapon, swapoff, reboot, acct, syslog, quotactl, quotactl_fd, vhangup,
 *   iopl, ioperm, fanotify_init (watches whole filesystems);
 * - obsolete or never implemented: uselib, _sysctl, ustat, sysfs,
 *   nfsservctl, afs_syscall, tuxcall, security, vserver, getpmsg, putpmsg.
 *
 * Denied unless the container holds a capability (`includes.caps`):
 * - CAP_SYS_PTRACE: ptrace, process_vm_readv, process_vm_writev, kcmp,
 *   pidfd_getfd, process_madvise (reading or changing another process);
 * - CAP_SYS_TIME: clock_settime, clock_adjtime, settimeofday, adjtimex (the
 *   clock is the host's; adjtimex cannot be told apart from a read, as its
 *   mode is in memory), and stime on 32-bit;
 * - CAP_SYS_NICE: mbind, set_mempolicy, set_mempolicy_home_node,
 *   migrate_pages, move_pages (NUMA placement, also of other processes);
 * - CAP_SYS_CHROOT: chroot; CAP_SYS_ADMIN: sethostname, setdomainname (the
 *   kernel demands these capabilities anyway; docker does the same).
 *
 * Newer calls the table does not have are denied with ENOSYS by the stub,
 * among them lsm_set_self_attr (6.8) and open_tree_attr (6.15).
 *
 * @module
 */

import type { SeccompProfile, SeccompRule } from "./compile.ts";

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME */
export const CLONE_NAMESPACE_FLAGS = 0x7e020080;

/** AF_VSOCK: sockets to the hypervisor, that is to the host of a VM. */
const AF_VSOCK = 40;

/** Allowed system calls, by purpose. The hot ones come first: rules are tested in order. */
const ALLOWED: readonly string[] = [
  // Reading and writing file descriptors.
  "read",
  "write",
  "readv",
  "writev",
  "pread64",
  "pwrite64",
  "preadv",
  "pwritev",
  "preadv2",
  "pwritev2",
  "lseek",
  "close",
  "close_range",
  "dup",
  "dup2",
  "dup3",
  "fcntl",
  "ioctl",
  "pipe",
  "pipe2",
  "sendfile",
  "splice",
  "tee",
  "vmsplice",
  "copy_file_range",
  // Memory.
  "brk",
  "mmap",
  "munmap",
  "mremap",
  "mprotect",
  "madvise",
  "msync",
  "mincore",
  "mlock",
  "mlock2",
  "munlock",
  "mlockall",
  "munlockall",
  "remap_file_pages",
  "membarrier",
  "memfd_create",
  "memfd_secret",
  "pkey_alloc",
  "pkey_free",
  "pkey_mprotect",
  "get_mempolicy", // only reads the policy; setting it needs CAP_SYS_NICE below
  // Threads and their synchronisation.
  "futex",
  "futex_waitv",
  "set_robust_list",
  "get_robust_list",
  "set_tid_address",
  "rseq",
  "gettid",
  "arch_prctl",
  "set_thread_area",
  "get_thread_area",
  "modify_ldt", // 16-bit code and old Wine; docker allows it on x86 too
  // Waiting for events.
  "poll",
  "ppoll",
  "select",
  "pselect6",
  "epoll_create",
  "epoll_create1",
  "epoll_ctl",
  "epoll_wait",
  "epoll_pwait",
  "epoll_pwait2",
  "epoll_ctl_old", // never implemented on x86_64: the kernel answers ENOSYS
  "epoll_wait_old",
  "eventfd",
  "eventfd2",
  "inotify_init",
  "inotify_init1",
  "inotify_add_watch",
  "inotify_rm_watch",
  "fanotify_mark", // useless without fanotify_init, which is denied
  // Files: paths, metadata, extended attributes, syncing.
  "open",
  "openat",
  "openat2",
  "creat",
  "stat",
  "fstat",
  "lstat",
  "newfstatat",
  "statx",
  "statfs",
  "fstatfs",
  "access",
  "faccessat",
  "faccessat2",
  "getdents",
  "getdents64",
  "getcwd",
  "chdir",
  "fchdir",
  "mkdir",
  "mkdirat",
  "rmdir",
  "rename",
  "renameat",
  "renameat2",
  "link",
  "linkat",
  "unlink",
  "unlinkat",
  "symlink",
  "symlinkat",
  "readlink",
  "readlinkat",
  "chmod",
  "fchmod",
  "fchmodat",
  "chown",
  "fchown",
  "lchown",
  "fchownat",
  "umask",
  "mknod", // device nodes need CAP_MKNOD and pass the device cgroup
  "mknodat",
  "utime",
  "utimes",
  "futimesat",
  "utimensat",
  "truncate",
  "ftruncate",
  "fallocate",
  "fadvise64",
  "readahead",
  "flock",
  "fsync",
  "fdatasync",
  "sync_file_range",
  "syncfs",
  "sync",
  "setxattr",
  "lsetxattr",
  "fsetxattr",
  "getxattr",
  "lgetxattr",
  "fgetxattr",
  "listxattr",
  "llistxattr",
  "flistxattr",
  "removexattr",
  "lremovexattr",
  "fremovexattr",
  // Processes (clone and personality have rules of their own below).
  "fork",
  "vfork",
  "execve",
  "execveat",
  "exit",
  "exit_group",
  "wait4",
  "waitid",
  "getpid",
  "getppid",
  "getpgid",
  "setpgid",
  "getpgrp",
  "getsid",
  "setsid",
  "prctl",
  "pidfd_open",
  "pidfd_send_signal",
  "process_mrelease", // frees the memory of a process already killed
  "kill",
  "tkill",
  "tgkill",
  // Signals.
  "rt_sigaction",
  "rt_sigprocmask",
  "rt_sigreturn",
  "rt_sigpending",
  "rt_sigtimedwait",
  "rt_sigsuspend",
  "rt_sigqueueinfo",
  "rt_tgsigqueueinfo",
  "sigaltstack",
  "signalfd",
  "signalfd4",
  "pause",
  "restart_syscall",
  // Time: reading clocks, sleeping, timers (setting clocks needs CAP_SYS_TIME).
  "clock_gettime",
  "clock_getres",
  "gettimeofday",
  "time",
  "times",
  "nanosleep",
  "clock_nanosleep",
  "alarm",
  "getitimer",
  "setitimer",
  "timer_create",
  "timer_settime",
  "timer_gettime",
  "timer_getoverrun",
  "timer_delete",
  "timerfd_create",
  "timerfd_settime",
  "timerfd_gettime",
  // Scheduling and priorities (the kernel checks CAP_SYS_NICE for raising them).
  "sched_yield",
  "sched_getaffinity",
  "sched_setaffinity",
  "sched_getparam",
  "sched_setparam",
  "sched_getscheduler",
  "sched_setscheduler",
  "sched_getattr",
  "sched_setattr",
  "sched_get_priority_max",
  "sched_get_priority_min",
  "sched_rr_get_interval",
  "getpriority",
  "setpriority",
  "ioprio_get",
  "ioprio_set",
  "getcpu",
  // Identity, capabilities, limits, system information.
  "getuid",
  "geteuid",
  "getgid",
  "getegid",
  "getresuid",
  "getresgid",
  "getgroups",
  "setuid",
  "setgid",
  "setreuid",
  "setregid",
  "setresuid",
  "setresgid",
  "setfsuid",
  "setfsgid",
  "setgroups",
  "capget",
  "capset",
  "getrlimit",
  "setrlimit",
  "prlimit64",
  "getrusage",
  "uname",
  "sysinfo",
  "getrandom",
  // Sockets (socket itself has a rule of its own below).
  "socketpair",
  "bind",
  "listen",
  "accept",
  "accept4",
  "connect",
  "shutdown",
  "getsockname",
  "getpeername",
  "getsockopt",
  "setsockopt",
  "sendto",
  "recvfrom",
  "sendmsg",
  "recvmsg",
  "sendmmsg",
  "recvmmsg",
  // System V and POSIX IPC (the container has its own IPC namespace).
  "shmget",
  "shmat",
  "shmdt",
  "shmctl",
  "semget",
  "semop",
  "semtimedop",
  "semctl",
  "msgget",
  "msgsnd",
  "msgrcv",
  "msgctl",
  "mq_open",
  "mq_unlink",
  "mq_timedsend",
  "mq_timedreceive",
  "mq_notify",
  "mq_getsetattr",
  // Asynchronous I/O, the old kind (io_uring is denied).
  "io_setup",
  "io_destroy",
  "io_submit",
  "io_cancel",
  "io_getevents",
  "io_pgetevents",
  // Restricting oneself further.
  "seccomp",
  "landlock_create_ruleset",
  "landlock_add_rule",
  "landlock_restrict_self",
];

/** Calls allowed only with a capability, each for the reason given in the module comment. */
const WITH_CAPABILITY: Readonly<Record<string, readonly string[]>> = {
  CAP_SYS_PTRACE: [
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
  ],
  CAP_SYS_TIME: ["clock_settime", "clock_adjtime", "settimeofday", "adjtimex"],
  CAP_SYS_NICE: ["mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages"],
  CAP_SYS_CHROOT: ["chroot"],
  CAP_SYS_ADMIN: ["sethostname", "setdomainname"],
};

/**
 * personality(2) values docker allows: PER_LINUX (0), PER_LINUX32 (8),
 * UNAME26 (0x20000), PER_LINUX32|UNAME26 and 0xffffffff (a query). Others,
 * such as ADDR_NO_RANDOMIZE, would switch off protections like ASLR.
 */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

function allow(names: string[], extra: Partial<SeccompRule> = {}): SeccompRule {
  return { names, action: "SCMP_ACT_ALLOW", ...extra };
}

/** The default profile. */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 1,
  syscalls: [
    allow([...ALLOWED]),
    // clone without namespace flags is fine; with them it is namespace creation.
    allow(["clone"], {
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    }),
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
    // Any socket but AF_VSOCK, which would talk to the host of a VM (docker
    // denies it too). The domain is an int: the kernel reads only the low 32
    // bits, so only those are compared (a "not equal" on all 64 bits would
    // let 0x1_00000028 through, which the kernel takes as AF_VSOCK).
    {
      names: ["socket"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 1,
      args: [{ index: 0, value: 0xffffffff, valueTwo: AF_VSOCK, op: "SCMP_CMP_MASKED_EQ" }],
    },
    allow(["socket"]),
    ...PERSONALITIES.map((value) =>
      allow(["personality"], { args: [{ index: 0, value, op: "SCMP_CMP_EQ" }] })
    ),
    ...Object.entries(WITH_CAPABILITY).map(([cap, names]) =>
      allow([...names], { includes: { caps: [cap] } })
    ),
  ],
};

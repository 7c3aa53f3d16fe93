/**
 * tinyo's libc: the symbols the runtime uses, each bound by `Deno.dlopen` on
 * first use.
 *
 * Every call here is synchronous on purpose. Namespaces, the current
 * directory and errno are per thread, and `nonblocking: true` would run the
 * call on another thread (see shared/docs/PLATFORM.md).
 *
 * This file is private to `ffi/`; everything else goes through the typed
 * wrappers in `ffi/syscalls.ts`.
 *
 * @module
 */

const symbols = {
  // int *__errno_location(void);
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum);
  strerror: { parameters: ["i32"], result: "pointer" },

  // int unshare(int flags);
  unshare: { parameters: ["i32"], result: "i32" },
  // int setns(int fd, int nstype);
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // int open(const char *path, int flags, mode_t mode);
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // int pipe2(int fds[2], int flags);
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  // int dup(int fd);
  dup: { parameters: ["i32"], result: "i32" },
  // int fcntl(int fd, int cmd, long arg);
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count);
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },

  // int mount(const char *src, const char *target, const char *fstype,
  //           unsigned long flags, const void *data);
  mount: {
    parameters: ["buffer", "buffer", "buffer", "u64", "buffer"],
    result: "i32",
  },
  // int umount2(const char *target, int flags);
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  // long syscall(SYS_pivot_root, const char *new_root, const char *put_old);
  // glibc has no pivot_root() wrapper, so it goes through syscall(2).
  pivot_root: {
    name: "syscall",
    parameters: ["i64", "buffer", "buffer"],
    result: "i64",
  },
  // int sethostname(const char *name, size_t len);
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  // int mknod(const char *path, mode_t mode, dev_t dev);
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  // int chdir(const char *path);
  chdir: { parameters: ["buffer"], result: "i32" },
  // int lchown(const char *path, uid_t owner, gid_t group);
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  // int utimensat(int dirfd, const char *path,
  //               const struct timespec times[2], int flags);
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },

  // int execve(const char *path, char *const argv[], char *const envp[]);
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  // long syscall(SYS_execveat, int dirfd, const char *path, char *const argv[], char *const envp[], int flags);
  execveat: {
    name: "syscall",
    parameters: ["i64", "i32", "buffer", "buffer", "buffer", "i32"],
    result: "i64",
  },
  // int prctl(int option, unsigned long arg2, arg3, arg4, arg5);
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  // pid_t getpid(void);
  getpid: { parameters: [], result: "i32" },
  // int kill(pid_t pid, int sig);
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // long syscall(SYS_rt_sigaction, int sig, const struct kernel_sigaction *act,
  //              struct kernel_sigaction *oact, size_t sigsetsize);
  // Raw, because glibc's sigaction() refuses the signals it reserves (32, 33).
  rt_sigaction: {
    name: "syscall",
    parameters: ["i64", "i64", "buffer", "buffer", "i64"],
    result: "i64",
  },
  // int sigprocmask(int how, const sigset_t *set, sigset_t *oldset);
  sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int capset(cap_user_header_t hdrp, const cap_user_data_t datap);
  capset: { parameters: ["buffer", "buffer"], result: "i32" },
  // int setuid(uid_t uid); int setgid(gid_t gid);
  setuid: { parameters: ["u32"], result: "i32" },
  setgid: { parameters: ["u32"], result: "i32" },
  // int setgroups(size_t size, const gid_t *list);
  setgroups: { parameters: ["usize", "buffer"], result: "i32" },
  // int setrlimit(int resource, const struct rlimit *rlim);
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },

  // pid_t setsid(void);
  setsid: { parameters: [], result: "i32" },
  // int dup2(int oldfd, int newfd);
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  // int socket(int domain, int type, int protocol);
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int bind(int fd, const struct sockaddr *addr, socklen_t len);
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int connect(int fd, const struct sockaddr *addr, socklen_t len);
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int socketpair(int domain, int type, int protocol, int sv[2]);
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  // ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  // ssize_t recvmsg(int fd, struct msghdr *msg, int flags);
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  // int ioctl(int fd, unsigned long request, void *arg);
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  // int ioctl(int fd, unsigned long request, int arg); (requests that take a value)
  ioctl_value: { name: "ioctl", parameters: ["i32", "u64", "i64"], result: "i32" },

  // --- Directory-relative file calls (the *at family) ---
  // int openat(int dirfd, const char *path, int flags, mode_t mode);
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  // long syscall(SYS_openat2, int dirfd, const char *path, struct open_how *how, size_t size);
  // glibc 2.36 has no openat2() wrapper.
  openat2: { name: "syscall", parameters: ["i64", "i32", "buffer", "buffer", "usize"], result: "i64" },
  // int mkdirat(int dirfd, const char *path, mode_t mode);
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev);
  mknodat: { parameters: ["i32", "buffer", "u32", "u64"], result: "i32" },
  // int symlinkat(const char *target, int newdirfd, const char *linkpath);
  symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  // int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);
  linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
  // int unlinkat(int dirfd, const char *path, int flags);
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int fchmod(int fd, mode_t mode);
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  // int fchmodat(int dirfd, const char *path, mode_t mode, int flags);
  fchmodat: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  // int fchown(int fd, uid_t owner, gid_t group);
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  // int fchownat(int dirfd, const char *path, uid_t owner, gid_t group, int flags);
  fchownat: { parameters: ["i32", "buffer", "u32", "u32", "i32"], result: "i32" },
  // int fstat(int fd, struct stat *buf);
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  // int fstatfs(int fd, struct statfs *buf);
  fstatfs: { parameters: ["i32", "buffer"], result: "i32" },
  // int fstatat(int dirfd, const char *path, struct stat *buf, int flags);
  fstatat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  // int futimens(int fd, const struct timespec times[2]);
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  // int fchdir(int fd);
  fchdir: { parameters: ["i32"], result: "i32" },
  // ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size);
  readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  // off_t lseek(int fd, off_t offset, int whence);
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },

  // --- Process handles and descriptors ---
  // long syscall(SYS_seccomp, unsigned int op, unsigned int flags, void *args);
  seccomp: { name: "syscall", parameters: ["i64", "u32", "u32", "buffer"], result: "i64" },
  // long syscall(SYS_close_range, unsigned int first, unsigned int last, unsigned int flags);
  close_range: { name: "syscall", parameters: ["i64", "u32", "u32", "u32"], result: "i64" },
  // long syscall(SYS_pidfd_open, pid_t pid, unsigned int flags);
  pidfd_open: { name: "syscall", parameters: ["i64", "i32", "u32"], result: "i64" },
  // long syscall(SYS_pidfd_send_signal, int pidfd, int sig, siginfo_t *info, unsigned int flags);
  pidfd_send_signal: { name: "syscall", parameters: ["i64", "i32", "i32", "pointer", "u32"], result: "i64" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  // The one exception to "synchronous only": poll(2) on a worker thread, so
  // the runtime can wait for a raw descriptor (a pty master received over a
  // socket) without blocking its event loop. It touches no per-thread state
  // but errno, which its wrapper does not read (a failure is retried).
  poll_async: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  // pid_t getppid(void);
  getppid: { parameters: [], result: "i32" },

  // --- Mounts and BPF ---
  // long syscall(SYS_mount_setattr, int dirfd, const char *path, unsigned int flags,
  //              struct mount_attr *attr, size_t size);
  mount_setattr: {
    name: "syscall",
    parameters: ["i64", "i32", "buffer", "u32", "buffer", "usize"],
    result: "i64",
  },
  // long syscall(SYS_bpf, int cmd, union bpf_attr *attr, unsigned int size);
  bpf: { name: "syscall", parameters: ["i64", "i64", "buffer", "u32"], result: "i64" },

  // --- Spawning helper programs (hooks) from the calling thread ---
  // int posix_spawn(pid_t *pid, const char *path,
  //                 const posix_spawn_file_actions_t *file_actions,
  //                 const posix_spawnattr_t *attrp,
  //                 char *const argv[], char *const envp[]);
  // Returns an error number (not -1 and errno).
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  // int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa);
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa);
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd);
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd);
  posix_spawn_file_actions_addclose: { parameters: ["buffer", "i32"], result: "i32" },
  // int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from);
  // glibc 2.34 and later: optional, so an older glibc still loads the rest.
  posix_spawn_file_actions_addclosefrom_np: { parameters: ["buffer", "i32"], result: "i32", optional: true },
  // int posix_spawnattr_init(posix_spawnattr_t *attr);
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  // int posix_spawnattr_destroy(posix_spawnattr_t *attr);
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  // int posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags);
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  // int posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *mask);
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  // int posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *set);
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  // int memfd_create(const char *name, unsigned int flags);
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  // int waitid(idtype_t idtype, id_t id, siginfo_t *infop, int options);
  waitid: { parameters: ["i32", "u32", "buffer", "i32"], result: "i32" },

  // --- Process attributes (process.ioPriority, personality, umask) ---
  // long syscall(SYS_ioprio_set, int which, int who, int ioprio);
  // glibc has no ioprio_set() wrapper.
  ioprio_set: { name: "syscall", parameters: ["i64", "i32", "i32", "i32"], result: "i64" },
  // long syscall(SYS_ioprio_get, int which, int who);
  ioprio_get: { name: "syscall", parameters: ["i64", "i32", "i32"], result: "i64" },
  // int personality(unsigned long persona);
  personality: { parameters: ["u64"], result: "i32" },
  // mode_t umask(mode_t mask);
  umask: { parameters: ["u32"], result: "u32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Bound = Deno.DynamicLibrary<typeof symbols>["symbols"];
type Name = keyof typeof symbols;

/**
 * Binds one symbol. Deno compiles a call stub per symbol, about 0.2 ms each
 * here, so binding all of them up front cost 15 ms of every process's start
 * (the runtime's and the init's); a container start uses about a third.
 */
function bind<K extends Name>(name: K): Bound[K] {
  try {
    const one = { [name]: symbols[name] } as Pick<typeof symbols, K>;
    return (Deno.dlopen("libc.so.6", one).symbols as Pick<Bound, K>)[name];
  } catch (err) {
    throw new Error("Cannot load libc.so.6: tinyo needs a glibc Linux host", {
      cause: err,
    });
  }
}

/**
 * The libc symbols, each bound on first use (a getter that replaces itself
 * with the function, so later calls are plain property reads). Private to
 * `ffi/`.
 */
export const libc: Bound = {} as Bound;
for (const name of Object.keys(symbols) as Name[]) {
  Object.defineProperty(libc, name, {
    configurable: true,
    enumerable: true,
    get(): unknown {
      const fn = bind(name);
      Object.defineProperty(libc, name, { value: fn, enumerable: true });
      return fn;
    },
  });
}

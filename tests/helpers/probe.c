/*
 * A tiny static probe for the attack tests (tests/integration/escape_test.ts),
 * in the spirit of crun's tests/init.c: the Alpine image has no tool that can
 * make these calls, so the tests compile this with `gcc -static` and
 * bind-mount it into the container.
 *
 *   probe tiocsti TEXT     push TEXT into the input queue of the terminal on
 *                          fd 0 (TIOCSTI), as a hostile container would into
 *                          its caller's shell; prints "tiocsti: ok" or the errno
 *   probe syscall NR       calls system call NR with zero arguments and prints
 *                          "syscall NR: ret R errno NAME"
 *   probe ctty             prints whether the process has a controlling terminal
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *errname(int e) {
  switch (e) {
  case 0: return "0";
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EBADF: return "EBADF";
  case EFAULT: return "EFAULT";
  case EINVAL: return "EINVAL";
  case ENOTTY: return "ENOTTY";
  case ENXIO: return "ENXIO";
  case ENOSYS: return "ENOSYS";
  case EACCES: return "EACCES";
  case EIO: return "EIO";
  default: return "OTHER";
  }
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "tiocsti") == 0) {
    for (const char *p = argv[2]; *p != 0; p++) {
      char c = *p == '~' ? '\n' : *p;
      if (ioctl(0, TIOCSTI, &c) != 0) {
        printf("tiocsti: %s\n", errname(errno));
        return 1;
      }
    }
    printf("tiocsti: ok\n");
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "syscall") == 0) {
    long nr = strtol(argv[2], NULL, 10);
    errno = 0;
    long ret = syscall(nr, 0, 0, 0, 0, 0, 0);
    printf("syscall %ld: ret %ld errno %s\n", nr, ret, errname(ret < 0 ? errno : 0));
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "ctty") == 0) {
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd < 0) printf("ctty: none (%s)\n", errname(errno));
    else printf("ctty: yes\n");
    return 0;
  }
  fprintf(stderr, "usage: probe tiocsti TEXT | syscall NR | ctty\n");
  return 2;
}

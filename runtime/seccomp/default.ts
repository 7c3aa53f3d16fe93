/**
 * tinyo's default seccomp profile, in the spirit of docker's: allow
 * everything except what a container has no business doing, which fails with
 * EPERM: loading kernels and modules, the kernel keyring, BPF, perf events,
 * userfaultfd, file handles, mounting and pivoting, swap, reboot, creating or
 * joining namespaces (clone with CLONE_NEW* flags; clone3 gets ENOSYS so that
 * libcs fall back to clone, whose flags can be checked), clock and time
 * setting, and a few obsolete or dangerous calls.
 *
 * @module
 */

import type { SeccompProfile } from "./compile.ts";

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME */
export const CLONE_NAMESPACE_FLAGS = 0x7e020080;

/** The default profile. */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  defaultAction: "SCMP_ACT_ALLOW",
  syscalls: [
    {
      names: [
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "create_module",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "open_by_handle_at",
        "name_to_handle_at",
        "mount",
        "umount2",
        "pivot_root",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "move_mount",
        "open_tree",
        "mount_setattr",
        "swapon",
        "swapoff",
        "reboot",
        "unshare",
        "setns",
        "clock_settime",
        "clock_adjtime",
        "settimeofday",
        "adjtimex",
        "acct",
        "iopl",
        "ioperm",
        "lookup_dcookie",
        "nfsservctl",
        "quotactl",
        "quotactl_fd",
        "syslog",
        "uselib",
        "vhangup",
        "_sysctl",
        "get_kernel_syms",
        "query_module",
        "afs_syscall",
        "tuxcall",
        "security",
        "vserver",
        "getpmsg",
        "putpmsg",
      ],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 1,
    },
    // clone without namespace flags is fine; with them it is namespace creation.
    {
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    },
    { names: ["clone"], action: "SCMP_ACT_ERRNO", errnoRet: 1 },
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
  ],
};

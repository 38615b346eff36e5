"""The seccomp filter every sandboxed program runs under, compiled once to BPF for bubblewrap.

Why a deny list on top of the namespaces: the kernel's attack surface. Namespaces already make
mount, ptrace of outside processes and the network pointless, but the system calls themselves
(user namespaces inside the sandbox, io_uring, bpf, keyrings, perf, userfaultfd) are where kernel
privilege escalations live, and no judged program needs them. Refused calls fail with EPERM (or
ENOSYS where libraries probe and fall back: io_uring, clone3), so a program that merely tries is
told no instead of being killed mysteriously. Only the native architecture is allowed: a 32-bit
syscall (int 0x80) is a way around a 64-bit filter, and libseccomp kills it.

libseccomp through `pyseccomp` (ctypes over Debian's libseccomp2): the filter is generated and
exported as BPF once per process; each run hands bubblewrap a memfd with those bytes (--seccomp).

Sockets: only AF_UNIX (socket and socketpair), every other family answers EAFNOSUPPORT. The
network namespace has no route out, but it does not cover AF_VSOCK (the hypervisor side and
other sandboxes on VM-based nodes), and a loopback TCP socket's buffers are memory the v1 memory
cgroup does not charge (hundreds of MB can sit there, outside the run's limit). No registered
language needs another family to run: glibc's resolver and Go's net package fail over to an
error, which is what a program without network must see anyway.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

import pyseccomp as seccomp

DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "vhangup",
    "pidfd_getfd",
    "fanotify_init",
)
# Probed by libraries that fall back when told "not implemented" (libuv, glibc's clone3).
NOT_IMPLEMENTED = ("io_uring_setup", "io_uring_enter", "io_uring_register", "clone3")
NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
AF_UNIX = 1
_TIOCSTI = 0x5412
_PERSONALITY_QUERY = 0xFFFFFFFF


@functools.cache
def program() -> bytes:
    """The compiled BPF program (built once per process)."""
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED:
        rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for name in NOT_IMPLEMENTED:
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
    # clone with any namespace flag: a new namespace is a new attack surface.
    for flag in _each_bit(NAMESPACE_FLAGS):
        rules.add_rule(
            seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)
        )
    for name in ("socket", "socketpair"):
        rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), name, seccomp.Arg(0, seccomp.NE, AF_UNIX))
    # Pushing characters into a terminal's input queue (there is none, but no reason to allow it).
    rules.add_rule(seccomp.ERRNO(errno.EPERM), "ioctl", seccomp.Arg(1, seccomp.EQ, _TIOCSTI))
    # personality: only the query (0xffffffff); no switch of execution domain (e.g. no ASLR).
    rules.add_rule(
        seccomp.ERRNO(errno.EPERM), "personality", seccomp.Arg(0, seccomp.LT, _PERSONALITY_QUERY)
    )
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def _each_bit(mask: int) -> list[int]:
    return [1 << bit for bit in range(mask.bit_length()) if mask >> bit & 1]


def memfd() -> int:
    """A fresh fd positioned at the start of the program, for one bubblewrap (it reads it all)."""
    fd = os.memfd_create("seccomp", 0)
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd

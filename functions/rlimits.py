"""The rlimits of one run, and where each is set: the last line of defence where no cgroup is
delegated (limits mode "rlimit", always the case in a Kubernetes pod: its cgroup filesystem is
read-only), and the per-process ceilings (CPU, files, core) in every mode.

Processes (RLIMIT_NPROC). The kernel counts a real uid's tasks per user namespace (ucounts,
Linux 5.14+) and checks a fork up the chain: at the sandbox's own user namespace the count of
that namespace's tasks against the forking task's RLIMIT_NPROC, and at the parent namespace the
count of every task of the host uid against the RLIMIT_NPROC the creator of the sandbox's
namespace had when it made it. Every sandbox of an executor and the executor itself share one
host uid (functions/identity.py), so an RLIMIT_NPROC put on bwrap counts the executor's threads
and every concurrent run: with 100 tasks of that uid about, bwrap with `--nproc=64` could not
even create its namespaces (EAGAIN, measured on 6.18). So bwrap keeps the executor's own
RLIMIT_NPROC (the parent-level ceiling stays the operator's), and the run's limit is set inside
the sandbox, by util-linux prlimit(1) in front of the program (`inner_command`): the count at the
sandbox's level is then that run's tasks only (its pid 1 included). It is `processes - 1`, so a
run may fork as many as under a cgroup's pids.max (which also counts the outer bwrap).
RLIMIT_NPROC is not enforced for a task with CAP_SYS_ADMIN or CAP_SYS_RESOURCE in the initial
user namespace or for host root; a sandbox is neither (identity.py: never host root; bwrap
--cap-drop ALL, and its capabilities are its own namespace's).

Memory. RLIMIT_AS is the run's limit where the runtime reserves little address space (C, C++,
Python, Rust...): address space is at least what is resident, so that bound is exact. The JVM, Go,
V8 and Mono reserve gigabytes they never touch (a Go hello needs 695 MB of RLIMIT_AS for a 32 MB
run), so they get RLIMIT_DATA instead: since Linux 4.7 it counts private writable mappings, and a
PROT_NONE reservation only once it is made writable. Heap and off-heap alike (Java's
Unsafe.allocateMemory is malloc) count; thread stacks count too, which is why the JVM needs far
more than its heap (each Java thread's -Xss64m stack is 64 MB of data: a Java hello has nine).
The room each runtime needs beyond the run's limit to start is the registry's
`data_overhead_mb`, plus `data_thread_stacks` stacks of RLIMIT_STACK's size for a runtime whose
threads take glibc's default stack (node starts 6 threads beside its main one: with the default
64 MB stack limit a node hello needs 200 to 400 MB of data, and hangs below it)
(functions/languages.toml, measured there). Neither rlimit is per run: each
process has its own, and shared mappings escape RLIMIT_DATA. What holds the run as a whole is
functions/process_tree.py, polled by the sandbox (the run's resident memory summed over its
processes, pages they share counted once, and the run killed past its limit), and a failed run's
peak near the limit (functions/sandbox.py) or its runtime's out-of-memory message
(functions/grading.py) makes its verdict memory_limit_exceeded.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass

PRLIMIT = "/usr/bin/prlimit"
_PRLIMIT_NAMES = {
    resource.RLIMIT_CPU: "cpu",
    resource.RLIMIT_CORE: "core",
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_NOFILE: "nofile",
    resource.RLIMIT_STACK: "stack",
    resource.RLIMIT_AS: "as",
    resource.RLIMIT_DATA: "data",
}

Rlimits = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class Wanted:
    """What the rlimits are made from (a subset of functions/sandbox.py's RunLimits)."""

    cpu_ms: int
    memory_kb: int
    processes: int
    open_files: int
    file_size_bytes: int
    address_space: bool
    data_overhead_kb: int
    stack_bytes: int | None
    thread_stacks: int = 0


def outer(wanted: Wanted, *, grouped: bool) -> Rlimits:
    """The rlimits bwrap gets (so the sandbox inherits them): (resource, soft, hard).

    Memory only when no cgroup carries it (`grouped` false): RLIMIT_AS at the limit, or
    RLIMIT_DATA at the limit plus the runtime's overhead for runtimes that reserve huge address
    space. Never RLIMIT_NPROC (see the module's docstring: `inner_command`)."""
    cpu_s = math.ceil(wanted.cpu_ms / 1000) + 1
    found = [
        (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_FSIZE, wanted.file_size_bytes, wanted.file_size_bytes),
        (resource.RLIMIT_NOFILE, wanted.open_files, wanted.open_files),
    ]
    if wanted.stack_bytes is not None:
        found.append((resource.RLIMIT_STACK, wanted.stack_bytes, wanted.stack_bytes))
    if not grouped:
        memory = wanted.memory_kb * 1024
        if wanted.address_space:
            found.append((resource.RLIMIT_AS, memory, memory))
        else:
            stacks = wanted.thread_stacks * thread_stack_bytes(wanted.stack_bytes)
            data = memory + wanted.data_overhead_kb * 1024 + stacks
            found.append((resource.RLIMIT_DATA, data, data))
    return tuple(found)


def thread_stack_bytes(stack_bytes: int | None) -> int:
    """The size glibc gives a thread's stack by default: RLIMIT_STACK (the run's, else the
    executor's own, which the sandbox inherits), 32 MB where that is unlimited."""
    if stack_bytes is None:
        stack_bytes = resource.getrlimit(resource.RLIMIT_STACK)[0]
    return 32 * 1024 * 1024 if stack_bytes == resource.RLIM_INFINITY else stack_bytes


def prlimit_command(fixed: Rlimits) -> list[str]:
    """util-linux prlimit(1) in front of bwrap: it sets the limits on itself, then execs.

    Why: a root executor switches bwrap to another uid, and root here lacks CAP_SYS_RESOURCE
    (prlimit(2) on another uid's process is refused), so the limits travel with the spawn and
    become part of the prepared sandbox's key."""
    return [PRLIMIT, *(f"--{_PRLIMIT_NAMES[w]}={soft}:{hard}" for w, soft, hard in fixed)]


def nproc(processes: int) -> int:
    """RLIMIT_NPROC inside the sandbox for a run allowed `processes` tasks: its pid 1 and the
    program count, the outer bwrap (which a cgroup's pids.max counts) does not."""
    return max(processes - 1, 2)


def inner_command(processes: int, argv: tuple[str, ...]) -> tuple[str, ...]:
    """`argv` behind prlimit(1) run inside the sandbox, which sets RLIMIT_NPROC and execs it
    (no process more, the program's exit code and signals are its own)."""
    limit = nproc(processes)
    return (PRLIMIT, f"--nproc={limit}:{limit}", "--", *argv)

"""The hostile suite: programs that try to get out, hog the host or outlive their run.

Each row: the language, the program, the verdicts it may get, and what its output must (not)
show. After each, the host is checked (no process left in any run's group, no marker process
anywhere) and the next run must be a normal, clean one.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import redis

from eventing.contract import Limits, TestCase
from tests.conftest import Stack
from tests.sandbox_helpers import execute, host_processes_with, leftovers

REPO = str(Path(__file__).resolve().parents[1])
MARKER = f"sentinel-daemon-{uuid.uuid4().hex[:8]}"
TIGHT = Limits(cpu_time_ms=1000, wall_time_ms=3000, memory_mb=128)

# (id, language, code, verdicts, output must contain, output must not contain)
HOSTILE: list[tuple[str, str, str, set[str], list[str], list[str]]] = [
    (
        "fork-bomb-python",
        "python",
        "import os\nwhile True:\n    os.fork()",
        # Whichever limit the forks reach first (pids.max, memory, CPU) depends on the machine's
        # load; any of them contains the bomb, and the host checks below are the real proof.
        {"runtime_error", "time_limit_exceeded", "memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "fork-bomb-cpp",
        "cpp",
        "#include <unistd.h>\nint main() { while (1) fork(); }",
        {"time_limit_exceeded", "runtime_error"},
        [],
        [],
    ),
    (
        "thread-bomb-python",
        "python",
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()",
        {"runtime_error", "time_limit_exceeded"},
        [],
        [],
    ),
    (
        "thread-bomb-java",
        "java",
        """public class Main { public static void main(String[] a) {
        while (true) new Thread(() -> { try { Thread.sleep(60000); } catch (Exception e) {} }).start(); } }""",
        {"runtime_error", "memory_limit_exceeded", "time_limit_exceeded"},
        [],
        [],
    ),
    (
        "memory-bomb-python",
        "python",
        "a = []\nwhile True:\n    a.append(bytearray(1 << 20))",
        {"memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "memory-bomb-cpp",
        "cpp",
        """#include <vector>
#include <cstring>
int main() { std::vector<char*> v; while (1) { char* p = new char[1 << 20]; std::memset(p, 1, 1 << 20); v.push_back(p); } }""",
        {"memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "memory-bomb-java",
        "java",
        """import java.util.*;
public class Main { public static void main(String[] a) { List<byte[]> l = new ArrayList<>(); while (true) l.add(new byte[1 << 20]); } }""",
        {"memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "memory-bomb-go",
        "go",
        """package main
func main() { var k [][]byte; for { b := make([]byte, 1<<20); for i := range b { b[i] = 1 }; k = append(k, b) } }""",
        {"memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "memory-bomb-node",
        "javascript",
        "const a = []; while (true) a.push(new Array(1e6).fill(1.5));",
        {"memory_limit_exceeded"},
        [],
        [],
    ),
    ("cpu-loop-go", "go", "package main\nfunc main() { for {} }", {"time_limit_exceeded"}, [], []),
    (
        "cpu-loop-threads-cpp",
        "cpp",
        """#include <thread>
#include <vector>
int main() { std::vector<std::thread> t; for (int i = 0; i < 8; i++) t.emplace_back([]{ for (;;) {} }); for (auto& x : t) x.join(); }""",
        {"time_limit_exceeded"},
        [],
        [],
    ),
    (
        "sleep-past-wall-node",
        "javascript",
        "setTimeout(() => console.log('late'), 60000)",
        {"time_limit_exceeded"},
        [],
        ["late"],
    ),
    (
        "output-flood-cpp",
        "cpp",
        '#include <cstdio>\nint main() { for (;;) std::puts("flood flood flood"); }',
        {"output_limit_exceeded"},
        [],
        [],
    ),
    (
        "disk-fill-tmp",
        "python",
        """import errno
f = open('/tmp/fill', 'wb')
try:
    while True:
        f.write(b'x' * (1 << 20)); f.flush()
except OSError as e:
    print('stopped', errno.errorcode[e.errno])""",
        {"accepted", "memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "disk-fill-box",
        "python",
        """import errno
f = open('fill', 'wb')
try:
    while True:
        f.write(b'x' * (1 << 20)); f.flush()
except OSError as e:
    print('stopped', errno.errorcode[e.errno])""",
        {"accepted", "memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "network-python",
        "python",
        """import socket
for target in [("127.0.0.1", 6379), ("10.0.0.1", 80), ("1.1.1.1", 53)]:
    try:
        socket.create_connection(target, timeout=1); print("connected")
    except OSError:
        print("refused")
try:
    socket.getaddrinfo("example.com", 80); print("resolved")
except OSError:
    print("no dns")""",
        {"accepted"},
        ["refused", "no dns"],
        ["connected", "resolved"],
    ),
    (
        "unix-sockets-python",
        "python",
        """import glob, os, socket
import stat
paths = glob.glob('/run/**', recursive=True) + glob.glob('/var/run/**', recursive=True) + glob.glob('/tmp/**', recursive=True)
print('visible', len([p for p in paths if os.path.lexists(p) and stat.S_ISSOCK(os.lstat(p).st_mode)]))
for p in ['/run/redis/redis-server.sock', '/var/run/docker.sock', '/run/systemd/private']:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(p); print('connected', p)
    except OSError:
        print('refused')""",
        {"accepted"},
        ["visible 0", "refused"],
        ["connected"],
    ),
    (
        "network-go",
        "go",
        """package main
import ("fmt"; "net"; "time")
func main() { _, err := net.DialTimeout("tcp", "127.0.0.1:22", time.Second); fmt.Println(err != nil) }""",
        {"accepted"},
        ["true"],
        [],
    ),
    (
        "secrets-python",
        "python",
        f"""import glob, os
print(sorted(os.environ))
print('environs', [p for p in glob.glob('/proc/*/environ') if b'REDIS' in open(p, 'rb').read() or b'SENTINEL' in open(p, 'rb').read()])
print('repo', os.path.exists({REPO!r}), os.path.exists('/work'), os.path.exists('/root'), os.path.exists('/etc/shadow'))
print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:3])""",
        {"accepted"},
        ["environs []", "repo False False False False"],
        ["REDIS", "SENTINEL", "NODE_EXTRA"],
    ),
    (
        "secrets-node",
        "javascript",
        "console.log(Object.keys(process.env).join(','), require('fs').existsSync('/work'))",
        {"accepted"},
        ["false"],
        ["REDIS", "SENTINEL", "NODE_EXTRA"],
    ),
    (
        "write-outside-cpp",
        "cpp",
        """#include <cstdio>
const char* paths[] = {"/usr/pwned", "/etc/pwned", "/pwned", "/proc/sys/kernel/pwned"};
int main() { for (const char* p : paths) std::puts(std::fopen(p, "w") ? "wrote" : "refused"); }""",
        {"accepted"},
        ["refused"],
        ["wrote"],
    ),
    (
        "privileged-calls-python",
        "python",
        """import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def tried(name, rc):
    print(name, 'refused' if rc != 0 else 'ALLOWED', os.strerror(ctypes.get_errno()))
tried('ptrace', libc.ptrace(16, 1, 0, 0))
tried('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, 0))
tried('unshare', libc.unshare(0x10000000))
tried('setns', libc.setns(0, 0))
tried('setuid', libc.setuid(0))
tried('bpf', libc.syscall(321, 0, 0, 0))
tried('keyctl', libc.syscall(250, 0, 0, 0))
tried('io_uring', libc.syscall(425, 1, 0))
tried('chroot', libc.chroot(b'/tmp'))
tried('personality', libc.personality(0x0040000))""",
        {"accepted"},
        ["refused"],
        ["ALLOWED"],
    ),
    (
        "syscall-32bit-cpp",
        "cpp",
        """#include <cstdio>
int main() { std::puts("before"); std::fflush(stdout); long r; asm volatile("int $0x80" : "=a"(r) : "a"(20)); std::printf("getpid32 %ld\\n", r); }""",
        {"runtime_error"},
        ["before"],
        ["getpid32"],
    ),
    (
        "kill-everything-python",
        "python",
        "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n    print('nobody else')\nprint('still here')",
        {"accepted"},
        ["still here"],
        [],
    ),
    (
        "stack-overflow-cpp",
        "cpp",
        "int f(int n) { volatile char pad[4096]; pad[0] = n; return f(n + 1) + pad[0]; }\nint main() { return f(0); }",
        {"runtime_error"},
        [],
        [],
    ),
    (
        "sigfpe-cpp",
        "cpp",
        '#include <cstdio>\nint main() { volatile int z = 0, n = 7; std::printf("%d", n / z); }',
        {"runtime_error"},
        [],
        [],
    ),
    (
        "stack-overflow-java",
        "java",
        "public class Main { static int f(int n) { return f(n + 1) + 1; } public static void main(String[] a) { f(0); } }",
        {"runtime_error", "memory_limit_exceeded"},
        [],
        [],
    ),
    (
        "open-files-python",
        "python",
        """n = 0
try:
    fs = []
    while True:
        fs.append(open('/dev/null')); n += 1
except OSError:
    print('stopped', n < 300)""",
        {"accepted"},
        ["stopped True"],
        [],
    ),
    (
        "compile-bomb-dev-random",
        "cpp",
        '#include "/dev/random"\nint main() {}',
        {"compilation_error"},
        [],
        [],
    ),
    (
        "compile-bomb-templates",
        "cpp",
        """template <int N> struct F { static const long v = F<N - 1>::v + F<N - 2>::v; };
template <> struct F<0> { static const long v = 0; }; template <> struct F<1> { static const long v = 1; };
int main() { return F<100000>::v; }""",
        {"compilation_error"},
        [],
        [],
    ),
]


@pytest.mark.parametrize(
    ("language", "code", "verdicts", "shows", "hides"),
    [pytest.param(*row[1:], id=row[0]) for row in HOSTILE],
)
def test_hostile_program_is_contained(
    language: str, code: str, verdicts: set[str], shows: list[str], hides: list[str]
) -> None:
    result = execute(language, code, limits=TIGHT)
    assert result.verdict in verdicts, result
    text = result.output + result.error
    for expected in shows:
        assert expected in result.output, result
    for secret in hides:
        assert secret not in text, result
    if result.verdict == "compilation_error":
        assert result.compile_output.strip()
    assert leftovers() == []
    after = execute("python", "import os\nprint(len(os.listdir('/tmp')), os.listdir('.'))")
    assert (after.verdict, after.output) == ("accepted", "0 ['main.py']\n"), after


def test_a_file_left_in_tmp_or_shm_is_gone_for_the_next_run() -> None:
    code = (
        "import os\n"
        "print(any(os.path.exists(p) for p in ['/tmp/left', '/dev/shm/left', 'left']))\n"
        "for p in ['/tmp/left', '/dev/shm/left', 'left']:\n"
        "    open(p, 'w').write('x')"
    )
    result = execute("python", code, cases=[TestCase(), TestCase()])
    assert [c.actual_output for c in result.test_cases or []] == ["False\n", "False\n"]
    assert execute("python", code).output == "False\n"


DAEMON = f"""import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sh', ['sh', '-c', 'sleep 300; echo {MARKER}'])
    os._exit(0)
time.sleep(0.2)
print('parent done')
"""


def test_a_double_forked_daemon_does_not_outlive_its_run() -> None:
    result = execute("python", DAEMON)
    assert result.verdict == "accepted" and result.output == "parent done\n"
    assert host_processes_with(MARKER) == []
    assert leftovers() == []


def test_hostile_programs_end_to_end_leave_the_service_and_redis_alone(stack: Stack) -> None:
    for _, language, code, verdicts, _, _ in [
        row
        for row in HOSTILE
        if row[0]
        in {"memory-bomb-java", "fork-bomb-python", "kill-everything-python", "network-python"}
    ]:
        job = stack.run({"language": language, "code": code, "limits": TIGHT.wire()})
        assert job["verdict"] in verdicts, job
    job = stack.run({"language": "python", "code": DAEMON})
    assert job["output"] == "parent done\n"
    assert host_processes_with(MARKER) == []
    assert redis.Redis.from_url(stack.redis_url).ping()
    assert stack.run({"language": "python", "code": "print(1)"})["output"] == "1\n"
    assert os.path.isdir(REPO)

"""The hostile suite: programs that try to get out, hog the host or outlive their run.

Each row: the language, the program, the verdicts it may get, and what its output must (not)
show. After each, the host is checked (no process left in any run's group, no marker process
anywhere) and the next run must be a normal, clean one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from eventing import contract
from eventing.contract import Limits, SourceFile, Submission, TestCase
from functions import box_files, cgroups, procfs, runner, sandbox
from functions.app import create_app as executor_app
from functions.settings import ExecutorSettings
from tests.conftest import CANARY, Stack
from tests.sandbox_helpers import (
    LANGUAGES,
    SETTINGS,
    execute,
    host_processes_with,
    language_or_skip,
    leftovers,
)

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


# --- The host behind the sandbox: no root, no secrets, no side channels ---------------------

SYSCTLS = [
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/fs/lease-break-time",
    "/proc/sys/kernel/hostname",
    "/proc/sys/vm/drop_caches",
]
CORE_MARKER = f"/tmp/sentinel-core-{uuid.uuid4().hex[:8]}"


def _sysctls() -> dict[str, str]:
    found = {}
    for path in SYSCTLS:
        try:
            found[path] = Path(path).read_text()
        except OSError as exc:
            found[path] = f"unreadable: {exc.strerror}"
    return found


# A write to a host-wide sysctl, in every registered language (what was seen to change
# fs.lease-break-time when bwrap ran as root).
SYSCTL_WRITERS: list[tuple[str, str]] = [
    (
        "python",
        f"""import os, signal
for path, value in [('/proc/sys/kernel/core_pattern', '|/usr/bin/touch {CORE_MARKER}'),
                    ('/proc/sys/fs/lease-break-time', '7')]:
    try:
        open(path, 'w').write(value); print('WROTE', path)
    except OSError as e:
        print('refused', path, e.strerror)
if os.fork() == 0:
    os.abort()
os.wait()""",
    ),
    ("bash", "echo 7 > /proc/sys/fs/lease-break-time && echo WROTE || echo refused"),
    (
        "c",
        '#include <stdio.h>\nint main(void) { FILE* f = fopen("/proc/sys/fs/lease-break-time", "w");'
        ' if (f && fputs("7", f) >= 0 && fclose(f) == 0) puts("WROTE"); else puts("refused"); }',
    ),
    (
        "lua",
        'local f = io.open("/proc/sys/fs/lease-break-time", "w")\n'
        'if f and f:write("7") and f:close() then print("WROTE") else print("refused") end',
    ),
    (
        "sqlite3",
        ".output /proc/sys/fs/lease-break-time\nselect 7;\n.output stdout\nselect 'refused';",
    ),
    (
        "javascript",
        "try { require('fs').writeFileSync('/proc/sys/fs/lease-break-time', '7');"
        " console.log('WROTE') } catch (e) { console.log('refused', e.code) }",
    ),
    (
        "php",
        "<?php echo @file_put_contents('/proc/sys/fs/lease-break-time', '7') === false"
        " ? 'refused' : 'WROTE';",
    ),
    (
        "ruby",
        "begin; File.write('/proc/sys/fs/lease-break-time', '7'); puts 'WROTE'; rescue => e;"
        ' puts "refused #{e.class}"; end',
    ),
    (
        "perl",
        'if (open(my $f, ">", "/proc/sys/fs/lease-break-time")) { print $f "7";'
        ' print(close($f) ? "WROTE" : "refused") } else { print "refused" }',
    ),
    (
        "go",
        'package main\nimport ("fmt"; "os")\nfunc main() { err := os.WriteFile('
        '"/proc/sys/fs/lease-break-time", []byte("7"), 0644); if err == nil { fmt.Println("WROTE")'
        ' } else { fmt.Println("refused") } }',
    ),
    (
        "cpp",
        '#include <fstream>\n#include <iostream>\nint main() { std::ofstream f("/proc/sys/fs/lease-break-time");'
        ' f << "7"; f.close(); std::cout << (f.good() && f ? "WROTE" : "refused"); }',
    ),
    (
        "java",
        "import java.nio.file.*; public class Main { public static void main(String[] a) {"
        ' try { Files.writeString(Path.of("/proc/sys/fs/lease-break-time"), "7");'
        ' System.out.println("WROTE"); } catch (Exception e) { System.out.println("refused"); } } }',
    ),
    (
        "rust",
        'fn main() { match std::fs::write("/proc/sys/fs/lease-break-time", "7")'
        ' { Ok(_) => println!("WROTE"), Err(_) => println!("refused") } }',
    ),
    (
        "csharp",
        "class P { static void Main() { try { System.IO.File.WriteAllText("
        '"/proc/sys/fs/lease-break-time", "7"); System.Console.WriteLine("WROTE"); }'
        ' catch (System.Exception) { System.Console.WriteLine("refused"); } } }',
    ),
    (
        "pascal",
        "program p; var f: text; begin {$I-} assign(f, '/proc/sys/fs/lease-break-time');"
        " rewrite(f); write(f, '7'); close(f); if IOResult = 0 then writeln('WROTE')"
        " else writeln('refused'); {$I+} end.",
    ),
    (
        "fortran",
        "program p\n  integer :: ios\n  open(unit=10, file='/proc/sys/fs/lease-break-time',"
        " iostat=ios)\n  if (ios == 0) write(10, '(a)', iostat=ios) '7'\n"
        "  if (ios == 0) close(10, iostat=ios)\n"
        "  if (ios == 0) then\n    print '(a)', 'WROTE'\n  else\n    print '(a)', 'refused'\n"
        "  end if\nend program p\n",
    ),
    (
        "typescript",
        "const fs = require('fs'); try { fs.writeFileSync('/proc/sys/fs/lease-break-time', '7');"
        " console.log('WROTE'); } catch (e) { console.log('refused'); }",
    ),
]


@pytest.mark.parametrize(("language", "code"), SYSCTL_WRITERS, ids=[r[0] for r in SYSCTL_WRITERS])
def test_no_sysctl_is_writable_and_the_host_kernel_runs_nothing(language: str, code: str) -> None:
    before = _sysctls()
    result = execute(language, code, limits=TIGHT if language != "java" else Limits())
    assert _sysctls() == before
    assert not os.path.exists(CORE_MARKER)
    assert "WROTE" not in result.output, result
    # sqlite3 -bail stops at the refused .output, naming the file.
    assert "refused" in result.output or "lease-break-time" in result.error, result
    assert leftovers() == []


def test_root_only_kernel_files_are_unreadable_and_kernel_knobs_are_read_only() -> None:
    code = """import os
for path in ['/proc/slabinfo', '/proc/timer_list', '/proc/kpageflags', '/proc/vmallocinfo',
             '/proc/kcore', '/proc/1/environ']:
    try:
        data = open(path, 'rb').read(4096)
        print('READ', path, len(data))
    except OSError as e:
        print('refused', path)
for path in ['/proc/sysrq-trigger', '/proc/sys/kernel/panic', '/sys/kernel/mm/ksm/run']:
    try:
        open(path, 'w').write('0'); print('WROTE', path)
    except OSError:
        print('refused', path)
"""
    result = execute("python", code)
    assert result.verdict == "accepted", result
    reads = [line for line in result.output.splitlines() if line.startswith("READ")]
    # bwrap's own pid 1 has an empty environment: nothing to read, nothing that leaks.
    assert reads in ([], ["READ /proc/1/environ 0"]), result.output
    assert "WROTE" not in result.output


def test_sandboxed_processes_are_never_host_root() -> None:
    """Seen from the host: every process of a run belongs to an unprivileged uid and gid, by
    each of its ids (real, effective, saved, filesystem), with no supplementary group and no
    capability (this suite runs as root: the executor switches to the sandbox's user through
    setpriv, functions/identity.py)."""
    marker = f"uid-probe-{uuid.uuid4().hex[:8]}"
    submission = Submission(
        id=uuid.uuid4().hex,
        language="python",
        code="import os, sys, time\nos.fork()\ntime.sleep(1.5)\nprint(sys.argv[1])",
        args=[marker],  # on the command line of each of its processes, for the host to find
    )
    seen: list[dict[str, list[str]]] = []
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            for pid in host_processes_with(marker):
                with contextlib.suppress(OSError, IndexError):
                    status = Path(f"/proc/{pid}/status").read_text().splitlines()
                    fields = dict(line.split(":", 1) for line in status if ":" in line)
                    names = ("Uid", "Gid", "Groups", "CapPrm", "CapEff", "CapAmb")
                    seen.append({name: fields[name].split() for name in names})
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = runner.execute(submission, LANGUAGES["python"], SETTINGS)
    finally:
        finished.set()
        watcher.join()
    assert result.verdict == "accepted" and marker in result.output, result
    assert seen, "the run's processes were not seen from the host"
    for ids in seen:
        assert len(ids["Uid"]) == 4 and "0" not in ids["Uid"], ids
        assert len(ids["Gid"]) == 4 and "0" not in ids["Gid"], ids
        assert ids["Groups"] == [], ids
        assert {int(ids[cap][0], 16) for cap in ("CapPrm", "CapEff", "CapAmb")} == {0}, ids


CANARY_READERS: list[tuple[str, str]] = [
    (
        "python",
        """import glob, os
found = []
for path in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline') + glob.glob('/proc/*/task/*/environ'):
    try:
        found.append(open(path, 'rb').read().decode(errors='replace'))
    except OSError:
        pass
print('\\n'.join(found)); print(dict(os.environ))
for fd in os.listdir('/proc/self/fd'):
    try:
        print(fd, os.readlink(f'/proc/self/fd/{fd}'))
    except OSError:
        pass""",
    ),
    ("bash", "cat /proc/*/environ /proc/*/cmdline 2>/dev/null; env; ls -l /proc/self/fd"),
    (
        "javascript",
        "const fs = require('fs'); console.log(JSON.stringify(process.env));"
        " for (const p of fs.readdirSync('/proc').filter(n => /^\\d+$/.test(n)))"
        " { try { console.log(fs.readFileSync(`/proc/${p}/environ`, 'utf8')) } catch (e) {} }",
    ),
    (
        "c",
        "#include <stdio.h>\n#include <stdlib.h>\nextern char **environ;\nint main(void) {"
        ' for (char **e = environ; *e; e++) puts(*e); FILE* f = fopen("/proc/1/environ", "r");'
        " int c; while (f && (c = fgetc(f)) != EOF) putchar(c); return 0; }",
    ),
    ("ruby", "puts ENV.to_h; puts File.read('/proc/1/environ') rescue puts 'none'"),
    ("php", "<?php print_r(getenv()); echo @file_get_contents('/proc/1/environ');"),
]

# Read at compile time straight into compileOutput: compilers that include any file they see.
CANARY_COMPILERS: list[tuple[str, str]] = [
    ("rust", 'fn main() { print!("{}", include_str!("/proc/1/environ")); }'),
    ("fortran", "      program p\n      include '/proc/1/environ'\n      end program p\n"),
    ("cpp", '#include "/proc/1/environ"\nint main() {}'),
    ("c", '#include "/proc/self/environ"\nint main(void) { return 0; }'),
]


@pytest.mark.parametrize(("language", "code"), CANARY_READERS, ids=[r[0] for r in CANARY_READERS])
def test_the_executors_environment_is_nowhere_a_program_can_read(language: str, code: str) -> None:
    assert os.environ["SENTINEL_TEST_CANARY"] == CANARY  # planted in this executor
    result = execute(language, code)
    assert result.verdict == "accepted", result
    for text in (result.output, result.error, result.compile_output):
        assert CANARY not in text
        assert "SENTINEL_" not in text and "REDIS" not in text


@pytest.mark.parametrize(
    ("language", "code"), CANARY_COMPILERS, ids=[r[0] for r in CANARY_COMPILERS]
)
def test_a_compiler_reading_the_environment_finds_nothing(language: str, code: str) -> None:
    result = execute(language, code)
    texts = [result.output, result.error, result.compile_output]
    if result.compile is not None:
        texts += [result.compile.stdout, result.compile.stderr]
    for text in texts:
        assert CANARY not in text, result
        assert "SENTINEL_" not in text, result


def test_the_canary_is_not_in_any_result_of_the_running_service(stack: Stack) -> None:
    """The same through the started service (whose executor has the canary too)."""
    for language, code in [CANARY_READERS[0], CANARY_COMPILERS[0]]:
        job = stack.run({"language": language, "code": code})
        assert CANARY not in str(job), job


def test_no_host_path_of_the_work_directory_is_visible() -> None:
    # Under the static /proc (functions/procfs.py) there is no mountinfo to read at all.
    code = """import os
if os.path.exists('/proc/self/mountinfo'):
    print(open('/proc/self/mountinfo').read())
print(os.listdir('/'), os.getcwd())"""
    result = execute("cpp", '#include <cstdio>\nint main() { std::puts("x"); }')
    assert result.verdict == "accepted"
    result = execute("python", code)
    assert result.verdict == "accepted", result
    work = str(SETTINGS.work_dir)
    assert work not in result.output and "job-" not in result.output, result.output
    assert "/tmp/pytest" not in result.output


SOCKET_FAMILIES = """import socket
for name in ['AF_INET', 'AF_INET6', 'AF_VSOCK', 'AF_NETLINK', 'AF_PACKET', 'AF_ALG']:
    try:
        socket.socket(getattr(socket, name), socket.SOCK_DGRAM if name != 'AF_ALG' else socket.SOCK_SEQPACKET)
        print('OPENED', name)
    except OSError as e:
        print('refused', name, e.errno)
a, b = socket.socketpair()
a.sendall(b'unix works'); print(b.recv(64).decode())
"""


def test_only_unix_sockets_can_be_made() -> None:
    result = execute("python", SOCKET_FAMILIES)
    assert result.verdict == "accepted", result
    assert "OPENED" not in result.output
    assert result.output.count("refused") == 6 and "unix works" in result.output


def test_vsock_cannot_be_bound_from_c() -> None:
    code = """#include <stdio.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
int main(void) {
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (s < 0) { perror("refused"); return 0; }
    struct sockaddr_vm a = {0}; a.svm_family = AF_VSOCK; a.svm_cid = VMADDR_CID_ANY; a.svm_port = 5555;
    puts(bind(s, (struct sockaddr*)&a, sizeof a) == 0 ? "BOUND" : "refused");
}"""
    result = execute("c", code)
    assert "BOUND" not in result.output and "refused" in result.error + result.output, result


def test_loopback_tcp_cannot_hold_memory_outside_the_limit() -> None:
    """Socket buffers are not charged to a v1 memory group: with no inet socket, no buffers."""
    code = """import socket
try:
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
    c = socket.create_connection(s.getsockname()); c.setblocking(False)
    sent = 0
    while True:
        sent += c.send(b'x' * 65536)
except OSError as e:
    print('refused' if 'sent' not in dir() else f'queued {sent}')"""
    result = execute("python", code, limits=Limits(memory_mb=32, cpu_time_ms=1000))
    assert result.output.strip() == "refused", result


# --- Compile steps are held like runs --------------------------------------------------------


def test_perl_begin_blocks_get_the_runs_cpu_limit() -> None:
    result = execute(
        "perl",
        "BEGIN { 1 while 1 }\nprint 'never';",
        limits=Limits(cpu_time_ms=500, wall_time_ms=3000, memory_mb=64),
    )
    assert result.verdict == "time_limit_exceeded", result
    assert result.compile is not None and result.compile.execution_time < 2000, result.compile


def test_perl_begin_blocks_get_the_runs_memory_limit() -> None:
    result = execute(
        "perl",
        "BEGIN { my @a; push @a, 'x' x 1048576 while 1 }\nprint 'never';",
        limits=Limits(cpu_time_ms=3000, wall_time_ms=6000, memory_mb=32),
    )
    assert result.verdict in {"memory_limit_exceeded", "runtime_error"}, result
    assert result.compile is not None and result.compile.memory_kb < 48 * 1024, result.compile


def test_a_compile_step_cannot_fill_the_host_disk(tmp_path: Path) -> None:
    before = shutil.disk_usage("/tmp").used
    code = "BEGIN { open(my $f, '>', 'fill'); print $f ('x' x 1048576) for 1..2000; close $f }"
    result = execute("perl", code, limits=Limits(cpu_time_ms=5000, wall_time_ms=10000))
    assert result.verdict != "accepted" or "fill" not in result.output
    assert shutil.disk_usage("/tmp").used - before < 200 * 1024 * 1024


def test_a_compile_step_cannot_leave_a_tree_of_directories_in_the_cache() -> None:
    code = "BEGIN { mkdir \"d$_\" for 1..5000 }\nprint 'ran';"
    result = execute("perl", code, limits=Limits(cpu_time_ms=5000, wall_time_ms=10000))
    assert result.verdict != "accepted", result
    assert "256 files" in result.compile_output, result


def test_a_setuid_bit_never_leaves_a_compile_step() -> None:
    """perl -c ($^C) makes a set-uid file and a set-gid directory in the compile's box; the run
    gets the box as it came out, through the compile cache."""
    code = (
        "BEGIN { if ($^C) { open(my $f, '>', 'suid'); close $f; chmod(04755, 'suid') or die;"
        " mkdir 'd'; chmod(02777, 'd') or die } }\n"
        "print(-e 'suid' ? 'there ' : 'gone ', -u 'suid' ? 'SUID' : 'plain', -g 'd' ? ' SGID' : '');"
    )
    result = execute("perl", code)
    assert (result.verdict, result.output) == ("accepted", "there plain"), result
    for path in (SETTINGS.cache_root / "compiled").rglob("*"):
        assert not path.lstat().st_mode & (stat.S_ISUID | stat.S_ISGID), path


def test_javac_runs_no_annotation_processor(tmp_path: Path) -> None:
    processor = tmp_path / "Evil.java"
    processor.write_text(
        "import javax.annotation.processing.*; import javax.lang.model.element.*;"
        ' import java.util.*; @SupportedAnnotationTypes("*")'
        " public class Evil extends AbstractProcessor { public synchronized void"
        ' init(ProcessingEnvironment e) { System.err.println("PROCESSOR RAN"); for (;;) {} }'
        " public boolean process(Set<? extends TypeElement> a, RoundEnvironment r)"
        " { return false; } }"
    )
    subprocess.run(
        ["/usr/lib/jvm/java-17-openjdk-amd64/bin/javac", "-d", str(tmp_path), str(processor)],
        check=True,
        capture_output=True,
    )
    classfile = base64.b64encode((tmp_path / "Evil.class").read_bytes()).decode()
    submission = Submission(
        id=uuid.uuid4().hex,
        language="java",
        code='public class Main { public static void main(String[] a) { System.out.println("ok"); } }',
        files=[
            SourceFile(name="Evil.class", content=classfile, encoding="base64"),
            SourceFile(
                name="META-INF/services/javax.annotation.processing.Processor", content="Evil\n"
            ),
        ],
        limits=Limits(cpu_time_ms=4000, wall_time_ms=10000),
    )
    result = runner.execute(submission, LANGUAGES["java"], SETTINGS)
    assert result.verdict == "accepted" and result.output == "ok\n", result
    assert "PROCESSOR RAN" not in result.compile_output + str(result.compile)


def test_a_compile_short_of_memory_poisons_no_cache(tmp_path: Path) -> None:
    settings = ExecutorSettings(cache_dir=tmp_path, compile_cpu_ms=8000, compile_wall_ms=16000)
    code = 'class P { static void Main() { System.Console.WriteLine("hello"); } }'

    def run(**limits: int) -> Any:
        submission = Submission(
            id=uuid.uuid4().hex, language="csharp", code=code, limits=Limits(**limits)
        )
        return runner.execute(submission, language_or_skip("csharp"), settings)

    starved = run(compile_memory_mb=24)
    assert starved.verdict == "compilation_error", starved
    normal = run()
    assert (normal.verdict, normal.output) == ("accepted", "hello\n"), normal


# --- Bounded and clean -----------------------------------------------------------------------


def test_distinct_command_lines_keep_a_bounded_number_of_prepared_sandboxes() -> None:
    for index in range(3 * sandbox.MAX_SPARES):
        submission = Submission(
            id=uuid.uuid4().hex,
            language="python",
            code="import sys\nprint(sys.argv[1])",
            args=[f"arg-{index}"],
        )
        result = runner.execute(submission, LANGUAGES["python"], SETTINGS)
        assert result.output == f"arg-{index}\n", result
    # The refill thread may still be adding the last one: the bound holds at every moment.
    assert sandbox.spare_count() <= sandbox.MAX_SPARES
    waiting = [pid for pid in host_processes_with("--args") if _parent_of(pid) == os.getpid()]
    assert len(waiting) <= sandbox.MAX_SPARES + 1, waiting


_SPARES_BY_COMMAND = """
import json, os, sys, time, uuid
from eventing.contract import Submission
from functions import runner, sandbox
from functions.languages import load_registry, served
from functions.settings import ExecutorSettings
python = served(load_registry(), ["python"])["python"]
settings = ExecutorSettings(compile_cpu_ms=4000, compile_wall_ms=8000)
def run(marker):
    code = "import sys\\nprint(sys.argv[1])"
    job = Submission(id=uuid.uuid4().hex, language="python", code=code, args=[marker])
    assert runner.execute(job, python, settings).output == marker + "\\n"
def spares(marker):  # bwrap started by this process for the command, waiting
    found = 0
    for entry in os.listdir("/proc"):
        try:
            if marker.encode() in open(f"/proc/{entry}/cmdline", "rb").read():
                status = open(f"/proc/{entry}/status").read()
                found += f"\\nPPid:\\t{os.getpid()}\\n" in status
        except (OSError, ValueError):
            continue
    return found
def settled(markers):
    deadline, last = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        now = [spares(m) for m in markers]
        if now == last:
            return now
        last = now
        time.sleep(1)  # unchanged for a second: the spares' thread is done
    return last
tag = uuid.uuid4().hex[:8]
first = f"alone-{tag}"
run(first)
alone = settled([first])
markers = [f"command-{i}-{tag}" for i in range(sandbox.MAX_SPARES)]
for marker in markers:
    run(marker)
print(json.dumps({"alone": alone[0], "each": settled(markers), "total": sandbox.spare_count()}))
"""


def test_a_command_keeps_two_prepared_sandboxes_and_as_many_commands_as_the_bound_keep_one() -> (
    None
):
    """After a run its command's spares are brought up to two (functions/sandbox.py,
    _SPARES_PER_COMMAND), so the next run takes a ready one while the taken one is replaced;
    with one, back-to-back runs waited for their spare's set-up. The second spare never costs
    another command its only one: after MAX_SPARES distinct commands each still has one, as
    when there was one per command. In a process of its own, so no other test's spares count."""
    done = subprocess.run(
        [sys.executable, "-c", _SPARES_BY_COMMAND], capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).resolve().parents[1], check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["alone"] == 2, found
    assert found["each"] == [1] * sandbox.MAX_SPARES, found
    assert found["total"] <= sandbox.MAX_SPARES, found


def _parent_of(pid: int | str) -> int | None:
    """A process's parent pid, or None once it has ended (an evicted spare being closed while
    the test looks: CI once caught one between listing and reading it)."""
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])
    except FileNotFoundError:
        return None


def test_a_prepared_sandbox_never_released_runs_nothing(tmp_path: Path) -> None:
    """A sandbox set up ahead and never given its run (the executor died first) never execs its
    program: the program here would print, and nothing comes out before or after its end."""
    limits = sandbox.RunLimits(cpu_ms=1000, wall_ms=5000, memory_kb=64 << 10, output_bytes=4096)
    shape = (limits.tmp_bytes, 2 << 20, ())
    key = (("/bin/sh", "-c", "echo ran"), (), shape, None, procfs.mode(), False)
    prepared = sandbox._Prepared.spawn(key, sandbox.delegation(), sandbox._group_limits(limits))
    try:
        assert prepared.ready(), prepared.status
        time.sleep(0.2)  # it would have run by now, were it not blocked
        assert prepared.process.poll() is None
        sandbox._kill(prepared.process)  # as when the executor dies
        assert prepared.process.stdout is not None
        assert prepared.process.stdout.read() == b""
        prepared.process.wait()
        assert not prepared.started_the_program()
    finally:
        prepared.close()


def test_box_files_are_never_written_through_a_planted_link(tmp_path: Path) -> None:
    """The executor writes a run's files into a fresh box; were a name already taken (a link
    planted by someone to lead the write elsewhere), the write fails instead of following it."""
    outside = tmp_path / "outside"
    outside.write_text("untouched")
    box = tmp_path / "box"
    box.mkdir()
    (box / "main.py").symlink_to(outside)
    source = tmp_path / "main.py"
    source.write_text("print(1)")
    file = box_files.BoxFile("main.py", source, source.stat().st_size, executable=False)
    fd = os.open(box, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):
            box_files.write_into(fd, [], [file])
    finally:
        os.close(fd)
    assert outside.read_text() == "untouched"


def test_the_box_of_a_sandbox_not_yet_set_up_is_never_opened() -> None:
    """Files go into a sandbox's box only once bwrap has pivoted into its new root: a process
    whose root is still the host's (this one; the executor's /box would be the host's) is
    refused, as is a pid that is gone."""
    assert sandbox._set_up_box(os.getpid(), os.stat("/")) == -1
    assert sandbox._set_up_box(_a_dead_pid(), os.stat("/")) == -1


def test_groups_a_killed_executor_left_are_removed_at_the_next_start() -> None:
    where = sandbox.delegation()  # None also where SENTINEL_LIMITS=rlimit forces the mode
    if where is None:
        pytest.skip("no cgroup delegated to this process: nothing is left behind in rlimit mode")
    stale_pid = _a_dead_pid()
    stale = [parent / f"sentinel-{stale_pid}-0" for parent in where.parents.values()]
    live = [parent / f"sentinel-{os.getpid()}-999999" for parent in where.parents.values()]
    for path in stale + live:
        path.mkdir()
    try:
        assert sandbox.sweep_stale() >= len(stale)
        assert not any(path.exists() for path in stale)
        assert all(path.exists() for path in live)
    finally:
        for path in live:
            path.rmdir()


def _a_dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    "body",
    [
        {"args": ["x" * 200_000]},
        {"args": ["x"] * 200_000},
        {"files": [{"name": "x", "content": "a"}, {"name": "x/b", "content": "b"}]},
        {"files": [{"name": "a", "content": "1"}, {"name": "a", "content": "2"}]},
        {"files": [{"name": "x", "content": "not base64!", "encoding": "base64"}]},
        {"limits": {"wallTimeMs": 30000}, "testCases": [{"input": str(i)} for i in range(100)]},
    ],
    ids=[
        "long-argument",
        "many-arguments",
        "file-and-directory",
        "same-name",
        "bad-base64",
        "too-long-a-job",
    ],
)
def test_what_the_sandbox_cannot_take_is_a_400_at_the_edge(
    stack: Stack, body: dict[str, Any]
) -> None:
    answer = requests.post(
        f"{stack.url}/api/execute",
        json={"language": "python", "code": "print(1)", **body},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


def test_a_job_delivered_again_while_it_runs_runs_once() -> None:
    """Two deliveries of one job at once (a timed-out delivery retried): one run, one result
    for both (a second run would print another random number)."""
    app = executor_app(ExecutorSettings(languages=("python",)))
    submission = Submission(
        id=uuid.uuid4().hex,
        language="python",
        code="import random, time\ntime.sleep(1)\nprint(random.random())",
    )
    event = contract.make_event(contract.REQUESTED, submission, source="/test", language="python")
    headers, payload = contract.to_binary(event)
    answers: list[Any] = []

    def deliver() -> None:
        answers.append(app.test_client().post("/", data=payload, headers=headers))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200]
    outputs = {json.loads(a.data)["output"] for a in answers}
    assert len(outputs) == 1, outputs


# --- A sandbox that cannot start is the service's failure ------------------------------------

# The executor under the seccomp profile of containerd's RuntimeDefault as far as bwrap is
# concerned (no new user namespace): every sandbox then fails at its setup.
_NO_NAMESPACES = """import errno, json, sys, time
import pyseccomp as seccomp
rules = seccomp.SyscallFilter(seccomp.ALLOW)
rules.add_rule(seccomp.ERRNO(errno.EPERM), "unshare")
rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, 0x10000000, 0x10000000))
rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
rules.load()
from eventing import contract
from functions.app import create_app
from functions.settings import ExecutorSettings
client = create_app(ExecutorSettings(languages=("python",))).test_client()
for _ in range(200):
    health = client.get("/health")
    if "not been tried" not in (health.get_json().get("reason") or ""):
        break
    time.sleep(0.05)
submission = contract.Submission(id="j1", language="python", code="print(1)")
headers, body = contract.to_binary(contract.make_event(contract.REQUESTED, submission, source="/t", language="python"))
job = client.post("/", data=body, headers=headers)
print(json.dumps({"health": [health.status_code, health.get_json()], "job": [job.status_code, job.get_data(as_text=True)]}))
"""


def test_a_sandbox_that_cannot_start_fails_readiness_and_is_never_the_users_fault() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_NAMESPACES],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    status, health = seen["health"]
    assert status == 503 and health["status"] == "unavailable", health
    assert "namespace" in health["reason"], health
    code, reply = seen["job"]
    assert code == 503, reply  # retried by the broker; never a compilation_error
    assert "compilation_error" not in reply and "the sandbox did not start" in reply


def test_directories_a_killed_executor_left_are_removed_at_the_next_start(tmp_path: Path) -> None:
    settings = ExecutorSettings(work_dir=tmp_path / "work", languages=("python",))
    staging = runner.cache_for(settings).root / ".tmp"
    dead, live = _a_dead_pid(), os.getpid()
    left = [
        settings.work_dir / f"job-{dead}-abc",
        staging / f"stage-{dead}-abc",
        staging / f"evict-{dead}-key-1",
    ]
    kept = [settings.work_dir / f"job-{live}-abc", staging / f"stage-{live}-abc"]
    # The static /proc's stdin files (functions/procfs.py), in the temporary directory.
    tmp = Path(tempfile.gettempdir())
    left.append(tmp / f"sentinel-stdin-{dead}-abc")
    kept.append(tmp / f"sentinel-stdin-{live}-abc")
    try:
        for path in left + kept:
            (path / "box").mkdir(parents=True)
        (left[-1] / "0-1").write_text("a run's stdin")
        scratch = settings.model_copy(update={"scratch_dir": tmp_path / "scratch"})
        (scratch.jobs_root / f"job-{dead}-abc").mkdir(parents=True)
        left.append(scratch.jobs_root / f"job-{dead}-abc")
        executor_app(scratch)  # an executor starting on this work and scratch directory
        assert [p for p in left if p.exists()] == []
        assert all(p.exists() for p in kept)
    finally:
        shutil.rmtree(kept[-1], ignore_errors=True)


def test_a_run_inherits_no_descriptor_but_its_three_streams() -> None:
    """bwrap reads its --args, --seccomp, --json-status-fd and --file descriptors and closes
    them: the program has stdin, stdout and stderr only. Asked of every number up to the
    descriptor limit (fstat), not of /proc/self/fd, which the static /proc does not list."""
    code = (
        "import os, resource\n"
        "def is_open(fd):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
        "limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "print([fd for fd in range(min(limit, 65536)) if is_open(fd)])"
    )
    result = execute("python", code)
    assert result.verdict == "accepted", result
    assert result.output == "[0, 1, 2]\n", result.output


def test_executor_groups_of_a_supervisor_that_is_gone_are_removed() -> None:
    from sentinel import executor_identity

    parents = [
        p for p in (cgroups.own_v1_groups().get(c) for c in cgroups.CONTROLLERS) if p is not None
    ]
    if os.geteuid() != 0 or not parents or not all(os.access(p, os.W_OK) for p in parents):
        pytest.skip("no cgroup v1 groups of our own to make executor groups in")
    dead = _a_dead_pid()
    stale = [p / f"{executor_identity.PREFIX}{dead}-0" for p in parents]
    live = [p / f"{executor_identity.PREFIX}{os.getpid()}-999999" for p in parents]
    for path in stale + live:
        path.mkdir()
    try:
        executor_identity.sweep_stale()
        assert [p for p in stale if p.exists()] == []
        assert all(p.exists() for p in live)
    finally:
        for path in live:
            path.rmdir()

"""Each of the five languages, through the real sandbox and toolchains: hello world, stdin,
a compile or syntax error, a runtime error, a wrong answer, and a program using about 90% of its
CPU time limit that must still pass."""

from __future__ import annotations

import pytest

from eventing.contract import Limits, TestCase
from tests.conftest import Stack
from tests.sandbox_helpers import execute, leftovers

HELLO = {
    "python": 'print("Hello, world!")',
    "javascript": 'console.log("Hello, world!")',
    "java": 'public class Main { public static void main(String[] a) { System.out.println("Hello, world!"); } }',
    "cpp": '#include <cstdio>\nint main() { std::puts("Hello, world!"); }',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("Hello, world!") }',
}
# Echo stdin doubled, line by line: reads until end of input.
ECHO = {
    "python": "import sys\nfor line in sys.stdin:\n    print(int(line) * 2)",
    "javascript": (
        "require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean)"
        ".forEach(l => console.log(Number(l) * 2))"
    ),
    "java": """import java.io.*;
public class Doubler {
    public static void main(String[] a) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String l; (l = in.readLine()) != null && !l.isEmpty(); )
            System.out.println(Long.parseLong(l.trim()) * 2);
    }
}""",
    "cpp": "#include <iostream>\nint main() { long n; while (std::cin >> n) std::cout << n * 2 << '\\n'; }",
    "go": """package main
import ("bufio"; "fmt"; "os")
func main() {
\ts := bufio.NewScanner(os.Stdin)
\tfor s.Scan() { var n int; fmt.Sscan(s.Text(), &n); fmt.Println(n * 2) }
}""",
}
BROKEN = {
    "python": "print('unclosed'\n",
    "javascript": "console.log('unclosed'\n",
    "java": "public class Main { public static void main(String[] a) { int x = } }",
    "cpp": "int main() { return undeclared; }",
    "go": "package main\nfunc main() { x := }",
}
COMPILER_SAYS = {
    "python": "SyntaxError",
    "javascript": "SyntaxError",
    "java": "error:",
    "cpp": "undeclared",
    "go": "syntax error",
}
CRASH = {
    "python": "print('before')\nraise ValueError('boom')",
    "javascript": "console.log('before'); throw new Error('boom')",
    "java": 'public class Main { public static void main(String[] a) { System.out.println("before"); throw new RuntimeException("boom"); } }',
    "cpp": '#include <cstdio>\nint main() { std::puts("before"); std::fflush(stdout); return 3; }',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("before"); panic("boom") }',
}
# Spin until the process's own CPU clock (every thread, runtime start-up included) reaches
# 1800 ms: 90% of a 2000 ms limit, measured by the program so the test does not depend on how
# fast or busy the machine is.
BUSY = {
    "python": "import time\nwhile time.process_time() < 1.8:\n    pass\nprint('done')",
    "javascript": (
        "const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000 };\n"
        "while (u() < 1800) {}\nconsole.log('done')"
    ),
    "java": """import java.lang.management.ManagementFactory;
public class Main {
    public static void main(String[] a) {
        var os = (com.sun.management.OperatingSystemMXBean)
            ManagementFactory.getOperatingSystemMXBean();
        while (os.getProcessCpuTime() < 1_800_000_000L) { }
        System.out.println("done");
    }
}""",
    "cpp": '#include <cstdio>\n#include <ctime>\nint main() { while (clock() < 1.8 * CLOCKS_PER_SEC) {} std::puts("done"); }',
    "go": """package main
import ("fmt"; "syscall")
func main() {
\tvar u syscall.Rusage
\tfor {
\t\tsyscall.Getrusage(syscall.RUSAGE_SELF, &u)
\t\tif u.Utime.Sec*1000+u.Utime.Usec/1000+u.Stime.Sec*1000+u.Stime.Usec/1000 >= 1800 { break }
\t}
\tfmt.Println("done")
}""",
}
LANGS = sorted(HELLO)


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> None:
    yield
    assert leftovers() == []


@pytest.mark.parametrize("language", LANGS)
def test_hello_world(language: str) -> None:
    result = execute(language, HELLO[language])
    assert result.verdict == "accepted", result
    assert result.output == "Hello, world!\n"
    # The run's own cgroup peak: megabytes, not the executor's size (FACTS: it was ~36 MB).
    assert 0 < result.memory_kb < 30_000 or language == "java"


@pytest.mark.parametrize("language", LANGS)
def test_stdin_is_read_and_judged_per_test_case(language: str) -> None:
    cases = [TestCase(input="5\n", expected="10"), TestCase(input="1\n2\n", expected="2\n4")]
    result = execute(language, ECHO[language], cases=cases)
    assert result.verdict == "accepted", result
    assert [c.actual_output for c in result.test_cases or []] == ["10\n", "2\n4\n"]


@pytest.mark.parametrize("language", LANGS)
def test_compile_or_syntax_error_is_reported_with_the_message(language: str) -> None:
    result = execute(language, BROKEN[language])
    assert result.verdict == "compilation_error"
    assert COMPILER_SAYS[language] in result.compile_output


@pytest.mark.parametrize("language", LANGS)
def test_runtime_error_keeps_the_output_and_names_the_exit(language: str) -> None:
    result = execute(language, CRASH[language])
    assert result.verdict == "runtime_error", result
    assert result.output == "before\n"
    assert result.exit_code not in (None, 0)


@pytest.mark.parametrize("language", LANGS)
def test_wrong_answer_is_the_jobs_verdict(language: str) -> None:
    cases = [TestCase(input="1\n", expected="2"), TestCase(input="3\n", expected="7")]
    result = execute(language, ECHO[language], cases=cases)
    assert result.verdict == "wrong_answer"
    first, second = result.test_cases or []
    assert (first.passed, second.passed) == (True, False)
    assert second.actual_output == "6\n"


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGS)
def test_a_program_at_90_percent_of_its_cpu_limit_passes(language: str) -> None:
    limits = Limits(cpu_time_ms=2000, wall_time_ms=20_000)
    result = execute(language, BUSY[language], limits=limits)
    assert result.verdict == "accepted", result
    assert result.output == "done\n"
    assert 1800 <= result.execution_time <= 2000


def test_every_language_end_to_end(stack: Stack) -> None:
    for language in LANGS:
        job = stack.run({"language": language, "code": HELLO[language]})
        assert (job["verdict"], job["output"]) == ("accepted", "Hello, world!\n"), job

"""Programs the judging tests share: an interactive guessing game and its solutions, and the
misbehaving programs a checker or an interactor may be (tests/test_special_judge.py,
tests/test_interactive.py, tests/test_cli_grade.py)."""

# The secret is in input.txt; at most 10 guesses for 1..1000 (binary search needs 10).
GUESSING_INTERACTOR = """import sys
secret = int(open(sys.argv[1]).read())
for query in range(1, 11):
    line = sys.stdin.readline()
    if not line:
        print(f"the solution stopped after {query - 1} guesses", file=sys.stderr)
        sys.exit(1)
    guess = int(line)
    if guess == secret:
        print("=", flush=True)
        print(f"found {secret} in {query} guesses", file=sys.stderr)
        sys.exit(0)
    print("<" if secret < guess else ">", flush=True)
print("too many queries", file=sys.stderr)
sys.exit(1)
"""

BINARY_SEARCH_PY = """low, high = 1, 1000
while True:
    guess = (low + high) // 2
    print(guess, flush=True)
    answer = input()
    if answer == "=":
        break
    if answer == "<":
        high = guess - 1
    else:
        low = guess + 1
"""

LINEAR_PY = """guess = 1
while True:
    print(guess, flush=True)
    if input() == "=":
        break
    guess += 1
"""

# Checkers and interactors that misbehave, each held by its own limits.
HOSTILE = {
    "fork-bomb": "import os\nwhile True:\n    os.fork()",
    "hang": "while True:\n    pass",
    "sleeps": "import time\ntime.sleep(60)",
    "output-flood": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
    "stderr-flood": "import sys\nwhile True:\n    sys.stderr.write('x' * 65536)",
    "memory-bomb": "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))",
    "exit-3": "import sys\nprint('bad test data', file=sys.stderr)\nsys.exit(3)",
}

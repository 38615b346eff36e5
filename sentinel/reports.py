"""Reports of a grade for people and for CI: a text table, JUnit XML, GitHub annotations and
a job summary.

The JUnit XML is written to validate against both widely used schemas: Apache Ant's (the
stricter one: properties, system-out and system-err present, a timestamp without a zone) and
Jenkins' (what GitLab, GitHub test reporters and Jenkins read). Program output can hold any
bytes; characters XML 1.0 cannot carry are replaced, so a hostile program cannot break the
report.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from sentinel.suite_grading import CaseOutcome, Grade

# Characters XML 1.0 allows: tab, LF, CR, and U+0020 onwards minus surrogates and U+FFFE/F.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Verdicts that mean Sentinel, not the program, failed: JUnit <error>, not <failure>.
SERVICE_VERDICTS = frozenset({"internal_error"})


def points(value: float) -> str:
    """Points as people write them: 3, not 3.0; 2.5 stays 2.5."""
    return f"{value:g}"


def table(grade: Grade) -> str:
    """The per-test table and the total line, for the terminal and the CI log."""
    rows = [("#", "test", "verdict", "time", "points")]
    for number, outcome in enumerate(grade.outcomes, 1):
        rows.append(
            (
                str(number),
                outcome.case.name,
                outcome.verdict,
                f"{outcome.time_ms} ms" if outcome.time_ms or outcome.passed else "-",
                f"{points(outcome.awarded)}/{points(outcome.case.points)}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i in (0, 3, 4) else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
    lines.append("")
    lines.append(f"Points {points(grade.points)}/{points(grade.max_points)}")
    return "\n".join(lines) + "\n"


def failures(grade: Grade) -> str:
    """Why each failing test failed, and the compiler's message once; empty when all passed."""
    parts = []
    if grade.compile_output.strip():
        parts.append("compile output:\n" + _indent(grade.compile_output))
    for outcome in grade.outcomes:
        if not outcome.passed:
            parts.append(f"FAILED {outcome.case.name}: {outcome.detail}")
    return "\n".join(parts) + ("\n" if parts else "")


def junit_xml(grade: Grade, suite_name: str) -> bytes:
    """The grade as a JUnit XML report: one <testsuite>, one <testcase> per test."""
    failures_count = sum(not o.passed and o.verdict not in SERVICE_VERDICTS for o in grade.outcomes)
    errors_count = sum(o.verdict in SERVICE_VERDICTS for o in grade.outcomes)
    total_s = sum(o.wall_ms for o in grade.outcomes) / 1000
    root = ET.Element("testsuites")  # Ant's schema allows no attributes here
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_clean(suite_name) or "sentinel",
        package="sentinel",
        id="0",
        timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=_clean(socket.gethostname()) or "localhost",
        tests=str(len(grade.outcomes)),
        failures=str(failures_count),
        errors=str(errors_count),
        skipped="0",
        time=f"{total_s:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("file", grade.file),
        ("language", grade.language),
        ("points", points(grade.points)),
        ("maxPoints", points(grade.max_points)),
    ):
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    for outcome in grade.outcomes:
        _testcase(suite, outcome, classname=f"sentinel.{_clean(suite_name) or 'tests'}")
    system_out = ET.SubElement(suite, "system-out")
    system_out.text = f"Points {points(grade.points)}/{points(grade.max_points)}\n"
    system_err = ET.SubElement(suite, "system-err")
    system_err.text = _clean(grade.compile_output)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _testcase(suite: ET.Element, outcome: CaseOutcome, classname: str) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=_clean(outcome.case.name) or "test",
        classname=classname,
        time=f"{outcome.wall_ms / 1000:.3f}",
    )
    if outcome.passed:
        return
    tag = "error" if outcome.verdict in SERVICE_VERDICTS else "failure"
    element = ET.SubElement(case, tag, type=outcome.verdict, message=_clean(outcome.detail))
    body = [outcome.detail, f"points: 0/{points(outcome.case.points)}"]
    if outcome.actual:
        body.append("output:\n" + outcome.actual)
    if outcome.stderr:
        body.append("stderr:\n" + outcome.stderr)
    element.text = _clean("\n".join(body))


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def github_annotations(grade: Grade) -> list[str]:
    """GitHub Actions workflow commands: an error per failing test, a notice with the total."""
    lines = []
    for outcome in grade.outcomes:
        if not outcome.passed:
            title = f"{outcome.case.name}: {outcome.verdict}"
            lines.append(
                f"::error file={_property(grade.file)},title={_property(title)}::"
                f"{_data(outcome.detail)}"
            )
    total = f"Points {points(grade.points)}/{points(grade.max_points)}"
    lines.append(f"::notice file={_property(grade.file)},title=Sentinel grade::{_data(total)}")
    return lines


def _data(text: str) -> str:
    """A workflow command's message, escaped as the runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A workflow command's property value: `:` and `,` escaped besides the message escapes."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def summary(grade: Grade, suite_name: str) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: the table, and the total as the heading."""
    lines = [
        f"### Sentinel: {suite_name}: Points {points(grade.points)}/{points(grade.max_points)}",
        "",
        "| # | test | verdict | time | points |",
        "|---:|---|---|---:|---:|",
    ]
    for number, outcome in enumerate(grade.outcomes, 1):
        mark = "✅" if outcome.passed else "❌"
        lines.append(
            f"| {number} | {_cell(outcome.case.name)} | {mark} {outcome.verdict} | "
            f"{outcome.time_ms} ms | {points(outcome.awarded)}/{points(outcome.case.points)} |"
        )
    return "\n".join(lines) + "\n\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.rstrip("\n").splitlines())

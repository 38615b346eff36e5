"""The event contract: payloads validate on both sides, and survive both HTTP modes."""

from __future__ import annotations

import json

import pytest

from eventing import contract


def submission() -> contract.Submission:
    return contract.Submission(
        id="job-1",
        code="print(1)",
        language="python",
        test_cases=[contract.TestCase(input="1", expected="1")],
    )


def test_binary_mode_round_trip_keeps_subject_language_and_payload() -> None:
    event = contract.make_event(contract.REQUESTED, submission(), source="/test", language="python")
    headers, body = contract.to_binary(event)
    assert headers["ce-type"] == contract.REQUESTED
    assert headers["ce-subject"] == "job-1"
    assert headers["ce-language"] == "python"
    parsed = contract.from_http(headers, body)
    assert contract.payload_of(parsed) == submission()


def test_structured_mode_round_trip() -> None:
    event = contract.make_event(contract.REQUESTED, submission(), source="/test")
    parsed = contract.from_http(
        {"Content-Type": "application/cloudevents+json"}, contract.to_structured(event)
    )
    assert parsed.get_id() == event.get_id()
    assert contract.payload_of(parsed) == submission()


def test_payload_fields_are_camel_case_on_the_wire() -> None:
    wire = submission().wire()
    assert "testCases" in wire and "stopOnFirstFailure" in wire and "test_cases" not in wire


def test_a_payload_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError):
        contract.make_event(contract.COMPLETED, submission(), source="/test")


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"ce-type": contract.REQUESTED, "ce-source": "/x", "ce-id": "1"}, b"not json"),
        ({"content-type": "application/cloudevents+json"}, b'{"type": "x"}'),
        ({"content-type": "application/json"}, b"{}"),
    ],
)
def test_malformed_events_raise_contract_errors(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(contract.ContractError):
        contract.payload_of(contract.from_http(headers, body))


def test_invalid_payload_is_a_contract_error() -> None:
    event = contract.make_event(contract.REQUESTED, submission(), source="/test")
    headers, _ = contract.to_binary(event)
    with pytest.raises(contract.ContractError):
        contract.payload_of(contract.from_http(headers, b'{"id": "x"}'))


def test_a_result_over_the_maximum_is_cut_evenly_and_says_so() -> None:
    """20 cases of 1 MB output each (a 20 MB result) come down to the maximum: the long texts
    cut to one length and marked, the short ones whole, and `truncated` set."""
    case = contract.TestResult(
        input="1",
        expected="2",
        actual_output="y" * 1_000_000,
        verdict="wrong_answer",
        execution_time=1,
        wall_time=1,
        memory_kb=1,
    )
    result = contract.ExecutionResult(
        id="j", language="python", verdict="wrong_answer", output="short", test_cases=[case] * 20
    )
    cut = contract.bounded(result, 1024 * 1024)
    assert len(json.dumps(cut.wire()).encode()) <= 1024 * 1024
    assert cut.truncated is True and cut.output == "short"
    assert cut.test_cases is not None
    outputs = {c.actual_output for c in cut.test_cases}
    assert len(outputs) == 1 and outputs.pop().endswith("[truncated]")
    assert all(c.input == "1" and c.expected == "2" for c in cut.test_cases)
    assert contract.bounded(cut, 1024 * 1024) is cut
    assert contract.bounded(result) is not result  # the default maximum is 2 MiB
    small = contract.ExecutionResult(id="j", language="python", verdict="accepted")
    assert contract.bounded(small) is small and small.truncated is None

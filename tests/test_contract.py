"""The event contract: payloads validate on both sides, and survive both HTTP modes."""

from __future__ import annotations

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

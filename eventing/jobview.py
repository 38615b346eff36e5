"""The job as the public API shows it: GET /job/{id} and /api/result/{id} (ingress/api.py), and
the body the callbacks service POSTs when a job is done (eventing/callbacks.py).

One function for both, so a callback receiver and a poller see the same document. It lives in
eventing because both may import eventing (nothing imports ingress: pyproject.toml's
[tool.importlinter]). The shape is the seed's (docs/api.md): id, status, timestamp, then the
result's own fields once there is a result, or `error` when the service could not run the job.
"""

from __future__ import annotations

from typing import Any

# What a failed job says when its record holds no reason.
NO_REASON = "the service could not run this job"
# The result's fields that are the event's, not the job's: the id is already first, and the
# payload's schema version is the contract's business (eventing/contract.py).
_NOT_SHOWN = ("id", "schemaVersion")


def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """The seed's job document from a job record (eventing/store.py's fields: id, status,
    timestamp, and `result` as the wire dict, or `reason` when failed)."""
    view: dict[str, Any] = {
        "id": record["id"],
        "status": record["status"],
        "timestamp": record["timestamp"],
    }
    result = record.get("result")
    if isinstance(result, dict):
        view.update({k: v for k, v in result.items() if k not in _NOT_SHOWN})
    if record["status"] == "failed":
        view["error"] = record.get("reason", NO_REASON)
    return view

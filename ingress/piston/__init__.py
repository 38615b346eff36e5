"""Piston's v2 API (/api/v2/runtimes, /api/v2/execute): Piston clients work against Sentinel.

A translation layer: an execute request becomes a contract.SubmissionRequest queued by
ingress/submissions.py, waited for with ingress/waiting.py (Piston answers synchronously), and
rendered as Piston's stages. docs/migrating.md lists what differs from a real Piston.
"""

from ingress.piston.routes import piston

__all__ = ["piston"]

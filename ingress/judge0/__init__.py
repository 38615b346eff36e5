"""Judge0 CE 1.13.1's API, mounted under /judge0: Judge0 clients work against Sentinel unchanged.

A translation layer only: requests become contract.SubmissionRequest and are queued by
ingress/submissions.py like the native API's; job records are rendered back in Judge0's shapes.
docs/migrating.md lists what differs from a real Judge0.
"""

from ingress.judge0.routes import judge0

__all__ = ["judge0"]

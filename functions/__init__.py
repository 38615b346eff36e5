"""The executor: a Knative-contract HTTP service that runs submissions in a sandbox.

It takes a `dev.sentinel.execution.requested` CloudEvent and answers with the reply
`dev.sentinel.execution.completed`. It has no Redis access: it only speaks HTTP.
"""

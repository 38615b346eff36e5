"""The public HTTP API: validates submissions, writes job records, publishes requested events.

It never runs user code; it reads job records for the status endpoints.
"""

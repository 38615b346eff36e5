"""Sentinel on one machine: the supervisor (serve) and, later, the command-line client."""

"""Publishing onto the broker: an event is copied into the backlog stream of every trigger whose
filter it matches, in one Redis transaction.

Fanning out at publish time (rather than one stream read by every trigger) is what gives each
trigger its own backlog: a flood of Java jobs sits in the Java trigger's stream and cannot delay
the Python trigger's dispatcher, and a backlog's depth is simply XLEN.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudevents.core.base import BaseCloudEvent
from redis.client import Pipeline

from eventing import keys
from eventing.contract import to_structured
from eventing.triggers import Trigger

EVENT_FIELD = "event"


def publish(
    pipe: Pipeline, prefix: str, triggers: Sequence[Trigger], event: BaseCloudEvent
) -> list[str]:
    """Queue XADDs of `event` on `pipe` for each matching trigger; return the triggers' names.

    The caller executes the pipeline (with `transaction=True`) together with whatever else must
    happen atomically, such as writing the job record, so a crash never leaves half a job.
    """
    attributes = event.get_attributes()
    body = to_structured(event)
    matched = [t.name for t in triggers if t.matches(attributes)]
    for name in matched:
        pipe.xadd(keys.trigger_stream(prefix, name), {EVENT_FIELD: body})
    return matched

"""`python -m functions`: serve the executor on $PORT (the container entrypoint)."""

from eventing.wsgi import serve
from functions.languages import load_registry, served
from functions.settings import ExecutorSettings

# A dispatcher keeps up to this many deliveries in flight per trigger (eventing/triggers.py's
# default concurrency): an executor serving several languages has threads for each, so that a
# request of one language is never queued behind another's behind gunicorn's accept.
IN_FLIGHT_PER_LANGUAGE = 4

settings = ExecutorSettings.from_env()
languages = len(served(load_registry(settings.registry_path), settings.languages)) or 1
# One language (a Knative Service, behind containerConcurrency = slots): the slots. Several (one
# machine): room for every language's deliveries; each language still runs at most `slots`.
per_language = settings.slots if languages == 1 else max(settings.slots, IN_FLIGHT_PER_LANGUAGE)
serve(
    "functions.app:create_app()",
    settings.port,
    threads=languages * per_language + settings.health_threads,
    service="executor",
)

"""Piston v2's request and response shapes (snake_case, as Piston writes them).

The execute route and the rendering of a job (ingress/piston/routes.py, translate.py) build their
answers through these models; GET /openapi.json shows them, and the request model
(ingress/piston/request.py, which words its refusals as Piston does), among its components
(ingress/openapi.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ingress.piston.request import PistonExecuteRequest


class PistonShape(BaseModel):
    """Piston's names as they are."""

    model_config = ConfigDict(frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict; a null stays a null (Piston sends `signal: null`)."""
        return self.model_dump()


class PistonRuntime(PistonShape):
    """One entry of GET /api/v2/runtimes; `runtime` only when one language has several."""

    language: str
    version: str
    aliases: list[str]
    runtime: str | None = None

    def wire(self) -> dict[str, Any]:
        """Piston's shape: no `runtime` key when there is none."""
        return self.model_dump(exclude_none=True)


class PistonStage(PistonShape):
    """The compile or run stage of an execute answer. `output` is stdout then stderr
    (Sentinel keeps them apart); memory in bytes, times in ms."""

    stdout: str
    stderr: str
    output: str
    code: int | None
    signal: str | None
    message: str | None
    status: str | None
    cpu_time: int
    wall_time: int
    memory: int


class PistonExecuteResponse(PistonShape):
    """The answer of POST /api/v2/execute: `compile` only for languages with a compile stage."""

    language: str
    version: str
    compile: PistonStage | None = None
    run: PistonStage

    def wire(self) -> dict[str, Any]:
        """Without `compile` when there was no compile stage (the stages keep their nulls)."""
        return self.model_dump(exclude={"compile"} if self.compile is None else None)


class PistonMessage(PistonShape):
    """Every Piston error answer."""

    message: str


# (model, mode) of the schemas GET /openapi.json holds for the Piston layer.
COMPONENTS: tuple[tuple[type[BaseModel], Literal["validation", "serialization"]], ...] = (
    (PistonExecuteRequest, "validation"),
    (PistonRuntime, "serialization"),
    (PistonExecuteResponse, "serialization"),
    (PistonMessage, "serialization"),
)

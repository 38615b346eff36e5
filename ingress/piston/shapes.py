"""Piston v2's request and response shapes (snake_case, as Piston writes them; its api-v2 docs).

The execute route and the rendering of a job (ingress/piston/routes.py, translate.py) build their
answers through these models; GET /openapi.json shows them among its components
(ingress/openapi.py). The request is checked by translate.parse, which words its refusals as
Piston does ({"message": ...}); the request models here describe what it accepts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PistonShape(BaseModel):
    """Piston's names as they are."""

    model_config = ConfigDict(frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict; a null stays a null (Piston sends `signal: null`)."""
        return self.model_dump()


class PistonFile(BaseModel):
    """A file of an execute request; the first is the entry point."""

    name: str | None = None
    content: str
    encoding: Literal["utf8", "base64", "hex"] = "utf8"


class PistonExecuteRequest(BaseModel):
    """POST /api/v2/execute. Limits: *_timeout wall ms, *_cpu_time CPU ms, *_memory_limit bytes;
    -1 (or absent) is the server's default."""

    language: str
    version: str = Field(description="an npm range: *, 3.x, ^3.11, 3.11.2, ...")
    files: list[PistonFile] = Field(min_length=1)
    stdin: str = ""
    args: list[str] = Field(default_factory=list)
    run_timeout: float | None = None
    compile_timeout: float | None = None
    run_cpu_time: float | None = None
    compile_cpu_time: float | None = None
    run_memory_limit: float | None = None
    compile_memory_limit: float | None = None


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

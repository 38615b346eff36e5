"""Judge0 1.13.1's response shapes (snake_case, as Judge0 writes them), and its request models.

The routes (ingress/judge0/routes.py) and the rendering of a job (ingress/judge0/translate.py)
build their answers through these models; GET /openapi.json shows them among its components
(ingress/openapi.py). Judge0 sends null for what it does not know, so nulls stay in (no field is
left out), except where a client selects fields with ?fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ingress.judge0.request import Judge0SubmissionRequest


class Judge0Shape(BaseModel):
    """Judge0's names as they are; a null is sent as null."""

    model_config = ConfigDict(frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict, every field included."""
        return self.model_dump()


class Judge0BatchRequest(BaseModel):
    """POST /judge0/submissions/batch: {"submissions": [...]}, each a submission request."""

    submissions: list[Judge0SubmissionRequest] = Field(min_length=1)


class Judge0Token(Judge0Shape):
    """A queued submission's token (201 of POST /submissions, each entry of a batch)."""

    token: str


class Judge0Status(Judge0Shape):
    """One of Judge0's 14 statuses (ingress/judge0/statuses.py)."""

    id: int
    description: str


class Judge0LanguageRef(Judge0Shape):
    """A language as a submission shows it, and each entry of GET /languages."""

    id: int | None
    name: str


class Judge0Language(Judge0Shape):
    """GET /languages/{id}. Sentinel's commands live in its executors' registry: *_cmd null."""

    id: int
    name: str
    is_archived: bool
    source_file: str
    compile_cmd: str | None
    run_cmd: str | None


class Judge0Submission(Judge0Shape):
    """A submission as Judge0 1.13.1 answers it (`fields=*`: every attribute, in its serializer's
    order; by default only token, time, memory, stdout, stderr, compile_output, message and
    status). Times and limits in seconds are decimal strings ("2.0"), as Rails writes them."""

    source_code: str | None = None
    language_id: int | None = None
    stdin: str | None = None
    expected_output: str | None = None
    stdout: str | None = None
    status_id: int | None = None
    created_at: str | None = None
    finished_at: str | None = None
    time: str | None = None
    memory: int | None = None
    stderr: str | None = None
    token: str | None = None
    number_of_runs: int | None = None
    cpu_time_limit: str | None = None
    cpu_extra_time: str | None = None
    wall_time_limit: str | None = None
    memory_limit: int | None = None
    stack_limit: int | None = None
    max_processes_and_or_threads: int | None = None
    enable_per_process_and_thread_time_limit: bool | None = None
    enable_per_process_and_thread_memory_limit: bool | None = None
    max_file_size: int | None = None
    compile_output: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    message: str | None = None
    wall_time: str | None = None
    compiler_options: str | None = None
    command_line_arguments: str | None = None
    redirect_stderr_to_stdout: bool | None = None
    callback_url: str | None = None
    additional_files: str | None = None
    enable_network: bool | None = None
    status: Judge0Status | None = None
    language: Judge0LanguageRef | None = None


class Judge0Submissions(Judge0Shape):
    """GET /submissions/batch: the submissions asked for, null for an unknown token."""

    submissions: list[Judge0Submission | None]


class Judge0ConfigInfo(Judge0Shape):
    """GET /config_info: every key of Judge0 1.13.1's, with Sentinel's real values."""

    maintenance_mode: bool
    enable_wait_result: bool
    enable_compiler_options: bool
    allowed_languages_for_compile_options: list[str]
    enable_command_line_arguments: bool
    enable_submission_delete: bool
    enable_callbacks: bool
    callbacks_max_tries: int
    callbacks_timeout: float
    enable_additional_files: bool
    max_queue_size: int
    cpu_time_limit: float
    max_cpu_time_limit: float
    cpu_extra_time: float
    max_cpu_extra_time: float
    wall_time_limit: float
    max_wall_time_limit: float
    memory_limit: int
    max_memory_limit: int
    stack_limit: int
    max_stack_limit: int
    max_processes_and_or_threads: int
    max_max_processes_and_or_threads: int
    enable_per_process_and_thread_time_limit: bool
    allow_enable_per_process_and_thread_time_limit: bool
    enable_per_process_and_thread_memory_limit: bool
    allow_enable_per_process_and_thread_memory_limit: bool
    max_file_size: int
    max_max_file_size: int
    number_of_runs: int
    max_number_of_runs: int
    redirect_stderr_to_stdout: bool
    max_extract_size: int
    enable_batched_submissions: bool
    max_submission_batch_size: int
    submission_cache_duration: float
    use_docs_as_homepage: bool
    allow_enable_network: bool
    enable_network: bool


class Judge0About(Judge0Shape):
    """GET /about."""

    version: str
    homepage: str
    source_code: str
    maintainer: str


class Judge0Worker(Judge0Shape):
    """One entry of GET /workers: Judge0's one queue."""

    queue: str
    size: int
    available: int
    idle: int
    working: int
    paused: int
    failed: int


class Judge0Error(Judge0Shape):
    """400, 404 and 503 answers: {"error": "..."}. (422 is {field: [messages]}.)"""

    error: str


# (model, mode) of the schemas GET /openapi.json holds for the Judge0 layer.
COMPONENTS: tuple[tuple[type[BaseModel], Literal["validation", "serialization"]], ...] = (
    (Judge0SubmissionRequest, "validation"),
    (Judge0BatchRequest, "validation"),
    (Judge0Token, "serialization"),
    (Judge0Submission, "serialization"),
    (Judge0Submissions, "serialization"),
    (Judge0Language, "serialization"),
    (Judge0LanguageRef, "serialization"),
    (Judge0Status, "serialization"),
    (Judge0ConfigInfo, "serialization"),
    (Judge0About, "serialization"),
    (Judge0Worker, "serialization"),
    (Judge0Error, "serialization"),
)

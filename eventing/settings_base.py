"""The one settings approach of every Sentinel service: pydantic-settings classes, one per service,
each field with its environment variable, default and description.

A service reads its environment only through these classes (tests/test_settings_env.py fails on
an `os.environ` read anywhere else), and docs/configuration.md is generated from them
(`python scripts/config-doc.py`, checked by tests/test_config_doc.py), so a variable's name,
default and meaning are written once. Only pydantic and pydantic-settings are imported here, so
the executor may use it as it uses eventing.contract (pyproject.toml's import contracts).

Behaviour every class shares:
- names are exact (case-sensitive), as the hand-written reads before them were;
- a variable set to the empty string counts as unset (its default), except for the fields a
  class names in `blank_allowed`, where empty has a meaning of its own (a rate limit: none);
- a bad value fails `from_env()` with a `SettingsError` whose message starts with the variable's
  name, at the service's start, not later in a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import AliasChoices, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A variable of the environment has a value its service cannot use."""


class Settings(BaseSettings):
    """The base of every service's settings: see the module's docstring for what they share.

    Constructing one directly (`ExecutorSettings(slots=2)`) also reads the environment for the
    fields not given, as pydantic-settings does; `from_env()` is how a service starts."""

    # validate_default off: the defaults are ours (and "" is one, which would read as unset).
    model_config = SettingsConfigDict(
        case_sensitive=True,
        frozen=True,
        populate_by_name=True,
        extra="ignore",
        validate_default=False,
    )

    # Fields whose variable, set to "", means "" (not the default).
    blank_allowed: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        if (
            isinstance(value, str)
            and not value.strip()
            and info.field_name not in cls.blank_allowed
        ):
            raise PydanticUseDefault()
        return value

    @classmethod
    def from_env(cls, **given: Any) -> Self:
        """The settings of this process's environment (fields in `given` are not read from it);
        a bad value raises SettingsError naming its variable (the ValidationError's location
        is the variable's name)."""
        try:
            return cls(**given)
        except ValidationError as exc:
            raise _error(cls, exc) from None

    @classmethod
    def from_mapping(cls, variables: Mapping[str, str]) -> Self:
        """The settings of `variables` instead of this process's environment: the environment
        a supervisor builds for its children (sentinel/serve.py). Errors as from_env's."""
        try:
            return cls.__pydantic_validator__.validate_python(dict(variables))  # type: ignore[no-any-return]
        except ValidationError as exc:
            raise _error(cls, exc) from None


def _error(settings: type[Settings], exc: ValidationError) -> SettingsError:
    """One line per bad variable, each starting with its name."""
    problems = "; ".join(
        dict.fromkeys(
            f"{'.'.join(str(part) for part in error['loc'])}={error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        )
    )  # two fields of one variable: said once
    return SettingsError(f"{problems} ({settings.__name__}; docs/configuration.md)")


def env_names(settings: type[Settings], field: str) -> tuple[str, ...]:
    """The variables a field is read from, first one first (docs and tests name them)."""
    alias = settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    return (str(alias),) if alias else ()

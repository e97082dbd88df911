"""The base of every settings class read from a file plus the environment (pydantic-settings), and the error
a settings file or deployment description raises. offchain/app/settings.py (deploy, deployment description,
gov, engine, feeder) and offchain/cosign/settings.py build on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self, cast

from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from offchain.errors import ConfigError


class SettingsError(ConfigError):
    """A settings file or deployment description is missing, malformed or invalid."""


class FileSettings(BaseSettings):
    """Base of the settings read from a file plus the environment (environment first)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, env_nested_delimiter="__")
    _file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._file is not None:
            if cls._file.suffix == ".json":
                sources.append(JsonConfigSettingsSource(settings_cls, json_file=cls._file))
            else:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._file))
        return tuple(sources)

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> Self:
        """Settings from `path` (if any) and the environment; `overrides` win over both."""
        if path is not None and not path.is_file():
            raise SettingsError(f"settings file {path} not found")
        reader = type(cls.__name__, (cls,), {"_file": path, "__module__": cls.__module__})
        try:
            loaded = reader(**overrides)
        except ValueError as exc:  # pydantic's ValidationError and the TOML/JSON decoders' errors
            where = f" in {path}" if path is not None else ""
            raise SettingsError(f"invalid {cls.__name__}{where}: {exc}") from exc
        return cast(Self, loaded)  # an instance of a subclass of cls that only adds the file source

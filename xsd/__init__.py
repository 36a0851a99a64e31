"""Every schema the gateway validates against: one XSD (or JSON Schema) per operator format,
plus the canonical record's. A package so that the wheel carries them and code finds them
through the installed package, never the current directory."""

from importlib.resources import files
from pathlib import Path


def schema_path(name: str) -> Path:
    """The installed path of a schema file in this folder, e.g. ``canonical.xsd``."""
    return Path(str(files(__name__).joinpath(name)))

"""Declarative adapters: one TOML mapping file per (format, version) instead of Python code.

Reading a file: :mod:`.load` (TOML, ``extends``, errors naming file and key), checked and
compiled by :mod:`.compile` from the words of :mod:`.vocabulary`. Paths: :mod:`.xml_paths`
and :mod:`.json_paths`. Fields and their conversions: :mod:`.fields`,
:mod:`.conversions`; tables and canonical objects: :mod:`.tables`. The Adapter itself:
:mod:`.engine`.
"""

from adapters.mapping.engine import LintFinding, Mapping
from adapters.mapping.load import MappingError

__all__ = ["LintFinding", "Mapping", "MappingError"]

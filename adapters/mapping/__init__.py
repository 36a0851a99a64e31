"""Declarative adapters: one TOML mapping file per (format, version) instead of Python code.

Reading a file: :mod:`.load` (TOML, ``extends``, errors naming file and key), checked and
turned into plain data by :mod:`.plan` from the words of :mod:`.vocabulary`; paths by
:mod:`.xml_paths` and :mod:`.json_paths`, conversions by :mod:`.conversions`. The plan is
compiled into Python by :mod:`.generate` (a fast reader, and a traced one for paths,
errors and lint: :mod:`.trace`). The Adapter itself: :mod:`.engine`.
"""

from adapters.mapping.engine import LintFinding, Mapping
from adapters.mapping.load import MappingError

__all__ = ["LintFinding", "Mapping", "MappingError"]

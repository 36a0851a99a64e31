"""The one C extension, adapters/mapping/_pick.c, built against lxml's C API (the rest of
the project is declared in pyproject.toml). Optional: without a C compiler the install
still succeeds and adapters/mapping/pick.py reads the same values in Python, slower."""

import lxml
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "adapters.mapping._pick",
            ["adapters/mapping/_pick.c"],
            include_dirs=lxml.get_include(),
            optional=True,
        )
    ]
)

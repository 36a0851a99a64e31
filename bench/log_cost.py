"""What logging costs a request, in microseconds: a line written (JSON, as ``aedgw
serve`` logs when not on a terminal) and a line below the level (the access line of a
request that went well, at debug), with the request context bound as the HTTP middleware
binds it. Issue 9: logging at info costs a few µs a request.

    .venv/bin/python -m bench.log_cost [--lines 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import timeit

import structlog

from gateway.logging import configure, get_logger


def cost_us(lines: int) -> dict[str, float]:
    """Best of 5 runs of ``lines`` calls each, per call; output to /dev/null."""
    configure("json", "info")
    root = logging.getLogger()
    log = get_logger("gateway.http.app")
    fields = {"method": "POST", "path": "/v1/messages", "status": 202, "ms": 1.3,
              "operator": "alpha"}
    with open(os.devnull, "w") as sink, contextlib.ExitStack() as stack:
        stream = root.handlers[0].setStream(sink)
        stack.callback(root.handlers[0].setStream, stream)
        structlog.contextvars.bind_contextvars(request_id="0" * 32, message_id="1" * 32)
        stack.callback(structlog.contextvars.clear_contextvars)
        return {
            name: round(min(timeit.repeat(call, number=lines, repeat=5)) / lines * 1e6, 2)
            for name, call in (
                ("info_written_us", lambda: log.info("request", **fields)),
                ("debug_skipped_us", lambda: log.debug("request", **fields)),
            )
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    for name, value in cost_us(parser.parse_args().lines).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()

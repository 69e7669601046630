"""structlog configuration: JSON lines in production, readable lines on a terminal.

Event names are constants (``workload.reloaded``); values go in fields. Standard-library loggers
(aiohttp) are routed through the same renderer.
"""

from __future__ import annotations

import logging
import sys

import structlog
import structlog.tracebacks

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


def configure(*, fmt: str = "", level: str = "info") -> None:
    """Configure structlog and stdlib logging once, at startup."""
    json_output = fmt == "json" or (fmt == "" and not sys.stderr.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    # Tracebacks never carry frame locals: a request's headers (the bearer token) or a Secret
    # being hashed would otherwise reach the log.
    exc: list[structlog.typing.Processor] = (
        [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        ]
        if json_output
        else []
    )
    numeric = _LEVELS[level]
    structlog.configure(
        processors=[*shared, *exc, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # the client libraries are chatty at debug; keep them at warning unless asked for debug
    for noisy in ("aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))

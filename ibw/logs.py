"""
Structured logging: every line is one JSON object (``LOG_FORMAT=console``
for people), carrying the ``request_id`` bound by the request middleware or
by the Celery task that inherited it.
"""

import logging

import structlog

_SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def build_logging(*, level: str, fmt: str, cache_loggers: bool = True) -> dict:
    """
    Return the ``LOGGING`` dict and configure structlog to render through it.

    Tests pass ``cache_loggers=False``: ``structlog.testing.capture_logs``
    cannot see a logger that was cached before it started, so a test's
    result would depend on which test used that logger first.
    """
    renderer = structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": _SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "django.request": {"level": "ERROR"},
            "daphne": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "celery": {"level": level},
        },
    }


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


__all__ = ["build_logging", "get_logger", "logging"]

"""Structured logs: dotted event names with ids as fields. Never log names, phone numbers or bodies."""

from __future__ import annotations

import json
import logging
import sys

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {record.getMessage()}"
        if fields:
            line += " " + json.dumps(fields, ensure_ascii=False, default=str)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


# Libraries that would log SQL parameters, row values, URLs with query strings or request bodies:
# all of these can carry names and phone numbers, so they only ever log warnings.
QUIET_LOGGERS = (
    "sqlalchemy",
    "httpx",
    "httpcore",
    "uvicorn.access",
    "twilio",
    "apscheduler.executors",
    "apscheduler.scheduler",
    "multipart",
)


def quiet_noisy_loggers() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's access log prints query strings, which may carry search terms (names): keep it off.
    logging.getLogger("uvicorn.access").disabled = True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_noisy_loggers()

"""Log line formats. `text` (the default) is for people; `json` (KEYTURN_LOG_FORMAT=json) writes one JSON object
per line for log shippers: time, level, logger, requestId, message, rotationId (when a rotation is being worked
on) and, for a logged exception, its traceback. Both carry exactly what the message says: keyturn never puts a
secret in a log message (keys are named by id or prefix)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(reqId)s] %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "requestId": getattr(record, "reqId", "-"),
            "message": record.getMessage(),
        }
        rotation_id = getattr(record, "rotationId", None)
        if rotation_id is not None:
            entry["rotationId"] = rotation_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)

"""Generate openapi/openapi.json from the app: `keyturn openapi` or `python -m app.openapi`."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "openapi" / "openapi.json"


def render_openapi() -> str:
    from app.config import Settings
    from app.main import create_app

    document = create_app(Settings(), configure=False).openapi()
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_openapi(output: str | None = None) -> Path:
    path = Path(output) if output else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_openapi())
    return path


if __name__ == "__main__":
    print(f"wrote {write_openapi()}")

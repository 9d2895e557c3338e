"""Example responses for the OpenAPI description, from the JSON files in `api_examples/`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent / "api_examples"


def json_example(name: str) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` entry showing `api_examples/{name}.json` as its 200 answer."""
    document = json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return {200: {"content": {"application/json": {"example": document}}}}

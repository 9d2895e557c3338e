"""Where the deployment files are, and small readers for them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
HUB_ENV_EXAMPLE = DEPLOY / "systemd" / "hub.env.example"
GRAFANA = DEPLOY / "grafana"


def env_file(path: Path, include_commented: bool = False) -> dict[str, str]:
    """The KEY=value lines of an env file (commented-out `#KEY=value` ones too, if asked)."""
    pattern = (
        r"^\s*#?\s*([A-Z][A-Z0-9_]*)=(.*)$" if include_commented else r"^([A-Z][A-Z0-9_]*)=(.*)$"
    )
    return {
        match.group(1): match.group(2).strip()
        for match in re.finditer(pattern, path.read_text(encoding="utf-8"), re.MULTILINE)
    }


def readme_variables() -> set[str]:
    """The variables named in the first column of README.md's Configuration table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", section, re.MULTILINE))

"""Resolve the paths and URLs named in connection configs."""

from __future__ import annotations

from pathlib import Path


def is_url(location: str) -> bool:
    return "://" in location


def resolve(base_dir: str | Path, location: str) -> str:
    """A URL as it is; a relative path against the project folder (the configs folder's parent)."""
    if is_url(location):
        return location
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (Path(base_dir) / path).resolve())


def join(root: str, *parts: str | None) -> str:
    """Join path or URL segments with '/', skipping empty ones."""
    segments = [root.rstrip("/")] + [p.strip("/") for p in parts if p]
    return "/".join(segments)

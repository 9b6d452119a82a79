"""Semantic models kept in git as Power BI Project (PBIP) folders: every
`<name>.SemanticModel` folder under a root, read from its `definition/**/*.tmdl` files (or its
`model.bim`), with no credentials."""

from __future__ import annotations

from pathlib import Path

from sync_assets.semantic.model import SemanticModel, from_tmdl, from_tmsl

SUFFIX = ".SemanticModel"


def read_folder(root: str | Path) -> dict[str, SemanticModel]:
    """name -> model for every semantic model folder under `root` (sorted by name)."""
    models = {}
    for folder in sorted(Path(root).rglob(f"*{SUFFIX}")):
        if folder.is_dir():
            name = folder.name.removesuffix(SUFFIX)
            models[name] = read_model(folder, name)
    return models


def read_model(folder: Path, name: str) -> SemanticModel:
    """One `<name>.SemanticModel` folder: TMDL when it has `definition/`, else `model.bim`."""
    definition = folder / "definition"
    if definition.is_dir():
        parts = {
            str(p.relative_to(folder)).replace("\\", "/"): p.read_text(encoding="utf-8-sig")
            for p in sorted(definition.rglob("*.tmdl"))
        }
        return from_tmdl(parts, name)
    bim = folder / "model.bim"
    if bim.is_file():
        return from_tmsl(bim.read_text(encoding="utf-8-sig"), name)
    raise FileNotFoundError(f"{folder}: neither definition/*.tmdl nor model.bim")

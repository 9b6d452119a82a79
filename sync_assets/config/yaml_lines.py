"""Config files read with the line of every key, and duplicate keys refused.

PyYAML's safe loader lets the last of two equal keys win without a word: a connection
defined twice in one file, a key given twice, or a missing `- ` that merges two sync objects
into one would pass silently. `load(text, name)` refuses them with the line, and returns
`Located` mappings that know the line of each key, so errors can point at `file:line`. JSON
files get the same duplicate check (without lines).
"""

from __future__ import annotations

import json
import re

import yaml


class DuplicateKeyError(ValueError):
    """A key given twice in one mapping (`line` is 1-based, None for JSON)."""

    def __init__(self, key, line: int | None, first: int | None):
        self.key, self.line = key, line
        where = f" (first on line {first})" if first else ""
        super().__init__(f"key '{key}' is given twice in one mapping{where}; the last would win")


class Located(dict):
    """A mapping read from a file: `line` of the mapping, `lines[key]` of each key."""

    line: int | None = None
    lines: dict

    def line_of(self, path: tuple) -> int | None:
        """The line of the deepest key of `path` (dotted field path parts) found here."""
        node, line = self, self.line
        for part in path:
            if isinstance(node, Located) and part in node:
                line = node.lines.get(part, line)
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
                line = getattr(node, "line", line)
            else:
                break
        return line


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        self.flatten_mapping(node)
        mapping, lines = Located(), {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found an unhashable key", key_node.start_mark,
                ) from None  # fmt: skip
            if key in mapping:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1, lines[key])
            lines[key] = key_node.start_mark.line + 1
            mapping[key] = self.construct_object(value_node, deep=True)
        mapping.line, mapping.lines = node.start_mark.line + 1, lines
        return mapping


def _timestamp(loader: _Loader, node):
    """A date or timestamp; an impossible one (2025-02-30) is an error at its line."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value} is not a valid date or timestamp ({exc})", node.start_mark
        ) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def load_yaml(text: str):
    """A YAML document with Located mappings; DuplicateKeyError on a repeated key."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def load_json(text: str):
    """A JSON document; DuplicateKeyError on a repeated key."""

    def pairs(items):
        mapping = Located()
        mapping.lines = {}
        for key, value in items:
            if key in mapping:
                raise DuplicateKeyError(key, None, None)
            mapping[key] = value
        return mapping

    return json.loads(text, object_pairs_hook=pairs)


_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def safe_problem(exc: yaml.YAMLError) -> str:
    """A YAML parser message without the text it quotes: the token it stopped at may be a
    secret (a password starting with * or ! reads as an alias or a tag). Punctuation and
    the parser's own <token> names stay."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]

    def hide(match: re.Match) -> str:
        text = match.group(1) if match.group(1) is not None else match.group(2)
        keep = text.startswith("<") or not any(c.isalnum() for c in text)
        return match.group(0) if keep else "'…'"

    return _QUOTED.sub(hide, problem)

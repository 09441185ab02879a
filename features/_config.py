"""A helper shared by the stage configuration dataclasses."""
from __future__ import annotations

from dataclasses import fields


def config_from_dict(cls, d: dict):
    """``cls(**d)`` for a config dataclass, refusing unknown keys by name
    (a cache manifest written by another version, a typo in a config file)."""
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; expected some of "
                         f"{sorted(names)}")
    return cls(**d)

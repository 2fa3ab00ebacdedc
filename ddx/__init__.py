"""ddx: rule-based differential-diagnosis support for soft-tissue pathology.

ddx supports a diagnosis; it never makes one. Every ranking shows why.

Importing the package imports nothing else (the version is looked up when
first asked for), so the ``ddx`` command's entry point is in charge of Ctrl-C
from its first moment (see :mod:`ddx._entry`).
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("ddx")
        except PackageNotFoundError:  # running from a checkout without installation
            value = "0.0.0+checkout"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'ddx' has no attribute {name!r}")

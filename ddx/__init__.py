"""ddx: rule-based differential-diagnosis support for soft-tissue pathology.

ddx supports a diagnosis; it never makes one. Every ranking shows why.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ddx")
except PackageNotFoundError:  # running from a checkout without installation
    __version__ = "0.0.0+checkout"

__all__ = ["__version__"]

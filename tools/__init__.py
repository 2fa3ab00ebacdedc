"""Maintenance scripts (``python tools/NAME.py``); a package so that bench/, tests/ and the scripts import
their shared helpers as ``tools.readme``."""

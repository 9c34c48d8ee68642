"""``asterisk-pipeline``: the operators' command line. ``main`` is the console script; each
command group that has grown its own logic lives in a module of its own (missed, search)."""
from .main import main

__all__ = ["main"]

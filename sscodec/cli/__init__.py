"""The `sscodec` command: argument parsing only; every command calls the library."""

from sscodec.cli.main import entry_point

__all__ = ["entry_point"]

"""`python -m sscodec.cli ...`, the same as the `sscodec` command."""

from sscodec.cli.main import entry_point

if __name__ == "__main__":
    entry_point()

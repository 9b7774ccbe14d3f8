"""The import rules of the four rooms (ARCHITECTURE.md): every import runs down the layers.

    nn  <  config, platforms, pretrained  <  data_pipelines  <  codec  <  quality  <  train
        <  evaluation  <  cli  <  the package's own __init__ (the public API)

A module may import its own room and the rooms below it, never one above: `codec/` never imports
`train/` (a user of a trained model needs nothing of training), nothing below the CLI imports it,
and `nn/` (pure functions of parameters and arrays) imports no file, data or checkpoint library.
Imports inside functions and under TYPE_CHECKING count too. Pure AST: nothing is imported.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("nn", "base", "data", "codec", "quality", "train", "evaluation", "cli", "api")
BASE = ("sscodec.config", "sscodec.platforms", "sscodec.pretrained")
NO_IO_IN_NN = {"os", "io", "json", "pathlib", "shutil", "subprocess", "soundfile", "soxr", "av",
               "safetensors", "orbax", "grain", "tensorflow", "tensorflow_datasets"}


def room(module: str) -> str | None:
    """The room of a dotted module name; None outside the project."""
    if module == "sscodec":
        return "api"
    if module.startswith("data_pipelines"):
        return "data"
    if any(module == b or module.startswith(b + ".") for b in BASE):
        return "base"
    for name in ("nn", "codec", "quality", "train", "evaluation", "cli"):
        if module == f"sscodec.{name}" or module.startswith(f"sscodec.{name}."):
            return name
    if module.startswith("sscodec."):
        raise AssertionError(f"{module} is in no room: put it in one (ARCHITECTURE.md)")
    return None


def modules() -> dict[str, str]:
    """Dotted name -> path of every module of sscodec/ and data_pipelines/."""
    found = {}
    for top in ("sscodec", "data_pipelines"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3].replace(os.sep, ".")
                    found[rel.removesuffix(".__init__")] = os.path.join(folder, f)
    return found


def imports(path: str, module: str, ours: dict[str, str]) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, `from a import b` as a.b when a.b
    is one of `ours` (a subpackage or module), else a."""
    is_package = path.endswith("__init__.py")
    found = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((node.lineno, full if full in ours else base))
    return found


def edges(extra: dict[str, str] | None = None):
    """(module, line, its room, imported module, that module's room or None) for every import of
    every module; `extra` adds modules (dotted name -> path) beside the tree's own."""
    ours = {**modules(), **(extra or {})}
    for module, path in sorted(ours.items()):
        own = room(module)
        for line, target in imports(path, module, ours):
            yield module, line, own, target, room(target)


def violations(extra: dict[str, str] | None = None) -> list[str]:
    """Every broken rule, as "module:line (room) imports module (room): why"."""
    bad = []
    for module, line, own, target, other in edges(extra):
        where = f"{module}:{line} ({own}) imports {target}"
        if other is not None and LAYERS.index(other) > LAYERS.index(own):
            bad.append(f"{where} ({other}): an arrow back up")
        if own == "nn" and target.split(".")[0] in NO_IO_IN_NN:
            bad.append(f"{where}: nn/ does no I/O")
    return bad


def test_every_import_runs_down_the_layers():
    assert violations() == []


def test_every_module_is_in_a_room():
    for module in modules():
        assert room(module) is not None, module


@pytest.mark.parametrize("room_dir, source, expected", [
    ("codec", "from sscodec.train.loop import train_and_evaluate", "(train): an arrow back up"),
    ("codec", "import sscodec.train.loop", "(train): an arrow back up"),
    ("codec", "from sscodec import train", "(train): an arrow back up"),
    ("train", "from sscodec.cli import main", "(cli): an arrow back up"),
    ("nn", "from data_pipelines import pipeline", "(data): an arrow back up"),
    ("nn", "import soundfile", "nn/ does no I/O"),
])
def test_a_planted_upward_import_is_caught(tmp_path, room_dir, source, expected):
    """The checker is not vacuous: a planted import that breaks a rule is reported."""
    planted = tmp_path / "_planted_for_test.py"
    planted.write_text(source + "\n")
    bad = violations({f"sscodec.{room_dir}._planted_for_test": str(planted)})
    assert any("_planted_for_test:" in v and expected in v for v in bad), bad


def room_graph() -> dict[tuple[str, str], int]:
    """(importing room, imported room) -> number of import statements, between different rooms."""
    graph: dict[tuple[str, str], int] = {}
    for _, _, own, _, other in edges():
        if other is not None and other != own:
            graph[own, other] = graph.get((own, other), 0) + 1
    return graph


if __name__ == "__main__":  # prints the room graph that ARCHITECTURE.md shows
    graph = room_graph()
    for a in reversed(LAYERS):
        targets = [f"{b} ({graph[a, b]})" for b in reversed(LAYERS) if (a, b) in graph]
        if targets:
            print(f"{a:>10} -> {', '.join(targets)}")

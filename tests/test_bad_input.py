"""Bad input at every entry point: exit code 2, one line naming the problem, no traceback, and
no partial output left behind. Root ignores file permissions, so "unwritable" outputs are paths
under a regular file (NotADirectoryError) or under /proc."""

import os
import sys

import pytest

from tests.conftest import ROOT, TINY, sscodec

SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
WAV = os.path.join(SPEECH, sorted(os.listdir(SPEECH))[0])


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_bundle):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.wav").write_bytes(b"")
    (root / "empty.ssc").write_bytes(b"")
    (root / "empty.py").write_text("")
    (root / "text.wav").write_text("not audio\n")
    (root / "junk.ssc").write_bytes(os.urandom(300))
    (root / "a_file").write_text("x")
    (root / "a_dir").mkdir()
    (root / "empty_run").mkdir()
    out = sscodec("compress", WAV, str(root / "good.ssc"), "--model", trained_bundle)
    assert out.returncode == 0
    return root


def cases(r, bundle):
    """(name, argv, output path that must not exist afterwards or None, words of the message)."""
    unwritable = str(r / "a_file" / "out")
    model = ["--model", bundle]
    return [
        ("train missing config", ["train", "--config", str(r / "nope.py"), "--workdir",
                                  str(r / "w1")], r / "w1", "nope.py"),
        ("train config is a dir", ["train", "--config", str(r / "a_dir"), "--workdir",
                                   str(r / "w2")], r / "w2", "a_dir"),
        ("train empty config", ["train", "--config", str(r / "empty.py"), "--workdir",
                                str(r / "w3")], r / "w3", "get_config"),
        ("train workdir is a file", ["train", "--config", TINY, "--workdir", str(r / "a_file"),
                                     "--config.num_steps=1"], None, "a_file"),
        ("train unwritable workdir", ["train", "--config", TINY, "--workdir", unwritable,
                                      "--config.num_steps=1"], None, "a_file"),
        ("train wrong type", ["train", "--config", TINY, "--workdir", str(r / "w4"),
                              "--config.num_steps=many"], r / "w4", "num_steps"),
        ("data index missing", ["data", "index", str(r / "nope"), "--out", str(r / "m.jsonl")],
         r / "m.jsonl", "nope"),
        ("data index unwritable", ["data", "index", SPEECH, "--out", unwritable], None, "a_file"),
        ("data stats missing", ["data", "stats", str(r / "nope")], None, "nope"),
        ("export missing run", ["export", "--workdir", str(r / "nope"), "--out", str(r / "b1")],
         r / "b1", "nope"),
        ("export no checkpoints", ["export", "--workdir", str(r / "empty_run"), "--out",
                                   str(r / "b2")], r / "b2", "not a training run"),
        ("compress missing", ["compress", str(r / "nope.wav"), str(r / "o1.ssc"), *model],
         r / "o1.ssc", "nope.wav"),
        ("compress dir", ["compress", str(r / "a_dir"), str(r / "o2.ssc"), *model],
         r / "o2.ssc", "a_dir"),
        ("compress empty", ["compress", str(r / "empty.wav"), str(r / "o3.ssc"), *model],
         r / "o3.ssc", "empty.wav"),
        ("compress not audio", ["compress", str(r / "text.wav"), str(r / "o4.ssc"), *model],
         r / "o4.ssc", "text.wav"),
        ("compress unwritable", ["compress", WAV, unwritable, *model], None, "a_file"),
        ("compress kbps type", ["compress", WAV, str(r / "o5.ssc"), "--kbps", "lots", *model],
         r / "o5.ssc", "kbps"),
        ("compress missing model", ["compress", WAV, str(r / "o6.ssc"), "--model",
                                    str(r / "nope")], r / "o6.ssc", "nope"),
        ("decompress missing", ["decompress", str(r / "nope.ssc"), str(r / "o1.wav"), *model],
         r / "o1.wav", "nope.ssc"),
        ("decompress dir", ["decompress", str(r / "a_dir"), str(r / "o2.wav"), *model],
         r / "o2.wav", "a_dir"),
        ("decompress empty", ["decompress", str(r / "empty.ssc"), str(r / "o3.wav"), *model],
         r / "o3.wav", "too short"),
        ("decompress junk", ["decompress", str(r / "junk.ssc"), str(r / "o4.wav"), *model],
         r / "o4.wav", "magic"),
        ("decompress unwritable", ["decompress", str(r / "good.ssc"), unwritable, *model], None,
         "a_file"),
        ("eval missing model", ["eval", "--model", str(r / "nope"), "--data", "embedded",
                                "--out", str(r / "e1")], r / "e1", "nope"),
        ("eval missing data", ["eval", *model, "--data", str(r / "nope"), "--out",
                               str(r / "e2")], r / "e2", "nope"),
        ("eval unwritable out", ["eval", *model, "--data", "embedded", "--out", unwritable,
                                 "--no-speed", "--per-category", "1", "--metrics", "mel_distance"],
         None, "a_file"),
        ("sweep missing file", ["sweep", "run", str(r / "nope.py"), "--out", str(r / "s1")],
         r / "s1", "nope.py"),
        ("sweep empty file", ["sweep", "run", str(r / "empty.py"), "--out", str(r / "s2")],
         r / "s2", "empty.py"),
    ]


@pytest.mark.slow
def test_bad_input_is_one_clear_line_and_leaves_nothing(files, trained_bundle):
    failures = []
    for name, argv, output, words in cases(files, trained_bundle):
        result = sscodec(*argv, check=False)
        err = result.stderr.decode()
        errors = [line for line in err.splitlines() if "error:" in line]
        problems = []
        if result.returncode != 2:
            problems.append(f"exit {result.returncode}")
        if "Traceback" in err:
            problems.append("traceback")
        if len(errors) != 1 or words not in errors[0]:
            problems.append(f"not one error line naming {words!r}")
        if output is not None and os.path.exists(output):
            problems.append(f"left {output}")
        if problems:
            failures.append(f"{name}: {', '.join(problems)}: {err.strip().splitlines()[-1:] }")
    assert not failures, "\n".join(failures)

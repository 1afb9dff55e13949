"""The command line says what went wrong in one line, never with a traceback, and writes
where it says it does (issue 22 items 11, 12, 14)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from spectuner_nb import commands
from spectuner_nb.cli import main
from spectuner_nb.commands import fit_cube as fit_cube_cmd
from spectuner_nb.commands.fit_spectrum import output_paths


def _text_spectrum(small_synthetic_cube, path):
    cubes = small_synthetic_cube.cubes
    spec = cubes.spectra([1], [1])[0][0]
    np.savetxt(path, np.column_stack([cubes.windows[0].freq_mhz, spec]))
    return path


def test_out_prefix_keeps_its_dots(small_synthetic_cube, tmp_path, capsys):
    assert output_paths("run/w3.px0")[".json"].name == "w3.px0.json"
    spectrum = _text_spectrum(small_synthetic_cube, tmp_path / "px.txt")
    for pixel in ("w3.px0", "w3.px1"):
        code = main(
            [
                "fit-spectrum",
                str(spectrum),
                "--species",
                "CH3OH",
                "--beam",
                "1",
                "1",
                "--v-lsr",
                "-5",
                "--n-init",
                "4",
                "--out",
                str(tmp_path / "d" / pixel),
            ]
        )
        assert code == 0
        assert f"{pixel}.json" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert names == sorted(
        f"w3.px{i}{s}" for i in (0, 1) for s in (".json", ".molfit", ".html", ".png")
    )


def test_text_spectrum_with_a_word_is_typed(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_text("218200.0 0.1\n218200.5 zero\n218201.0 0.2\n")
    assert main(["fit-spectrum", str(path), "--species", "CH3OH", "--beam", "1", "1"]) == 1
    err = capsys.readouterr().err
    assert "bad.txt" in err and "not a two-column table of numbers" in err
    assert "Traceback" not in err


def test_garbage_fits_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "junk.fits"
    path.write_bytes(b"\x00\x01garbage" * 100)
    assert main(["fit-spectrum", str(path), "--species", "CH3OH"]) == 1
    assert "junk.fits is not a readable FITS file" in capsys.readouterr().err


def test_cache_typo_is_refused_and_not_created(tmp_path, small_synthetic_cube, capsys):
    spectrum = _text_spectrum(small_synthetic_cube, tmp_path / "px.txt")
    typo = tmp_path / "typo.sqlite"
    assert (
        main(
            [
                "fit-spectrum",
                str(spectrum),
                "--species",
                "CH3OH",
                "--beam",
                "1",
                "1",
                "--cache",
                str(typo),
            ]
        )
        == 1
    )
    assert "no transition cache at" in capsys.readouterr().err
    assert not typo.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--optimizer", "adam"],
        ["--n-init", "0"],
        ["--n-init", "2.7"],
        ["--seed", "-1"],
        ["--chunk-size", "0"],
        ["--workers", "0"],
        ["--n-init", "10000000"],
    ],
)
def test_fit_cube_arguments_checked_at_parse_time(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["fit-cube", "cube.fits", "--species", "CH3OH", "--out", str(tmp_path), *argv])
    assert exc.value.code == 2
    assert "argument" in capsys.readouterr().err


def test_unreachable_scheduler_is_refused(small_synthetic_cube, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(commands, "SCHEDULER_TIMEOUT_S", 1.0)
    cube = small_synthetic_cube.write(tmp_path)["cubes"][0]
    code = main(
        [
            "fit-cube",
            str(cube),
            "--species",
            "CH3OH",
            "--out",
            str(tmp_path / "o"),
            "--scheduler",
            "tcp://127.0.0.1:9",
        ]
    )
    assert code == 1
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_cube_cmd, "run", interrupted)
    assert main(["fit-cube", "c.fits", "--species", "CH3OH", "--out", "o"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "spectuner-nb fit-cube: interrupted"


def test_closed_pipe_prints_no_traceback():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spectuner_nb.cli",
            "catalog",
            "lines",
            "CH3OH",
            "--fmin",
            "10",
            "--fmax",
            "1e7",
        ],  # 0.7 MB of text
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


# ------------------------------------------------------------------ identify: same refusals
def test_identify_cache_typo_and_scheduler_refused(
    small_synthetic_cube, tmp_path, capsys, monkeypatch
):
    spectrum = _text_spectrum(small_synthetic_cube, tmp_path / "px.txt")
    base = [
        "identify",
        str(spectrum),
        "--candidates",
        "CH3OH",
        "--beam",
        "1",
        "1",
        "--out",
        str(tmp_path / "o"),
    ]
    typo = tmp_path / "typo.sqlite"
    assert main([*base, "--cache", str(typo)]) == 1
    assert "no transition cache at" in capsys.readouterr().err and not typo.exists()
    monkeypatch.setattr(commands, "SCHEDULER_TIMEOUT_S", 1.0)
    assert main([*base, "--scheduler", "tcp://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err and "Traceback" not in err


def test_identify_restart_option(small_synthetic_cube, tmp_path, capsys, monkeypatch):
    import spectuner_nb.identification as ident
    from spectuner_nb.errors import IdentificationError

    seen = []

    def fake_identify(obs, candidates, **kwargs):
        seen.append(kwargs["resume"])
        raise IdentificationError("stop here")

    monkeypatch.setattr(ident, "identify", fake_identify)
    spectrum = _text_spectrum(small_synthetic_cube, tmp_path / "px.txt")
    base = ["identify", str(spectrum), "--beam", "1", "1", "--out", str(tmp_path / "o")]
    assert main(base) == 1 and main([*base, "--restart"]) == 1
    assert seen == [True, False]


def test_identify_refusal_names_restart(tmp_path):
    from spectuner_nb.errors import IdentificationError
    from spectuner_nb.identification.store import FitStore

    FitStore(tmp_path, "0" * 64, {}).close()
    with pytest.raises(IdentificationError, match="--restart"):
        FitStore(tmp_path, "1" * 64, {})


def test_ctrl_c_while_the_commands_load_is_one_line(monkeypatch, capsys):
    import spectuner_nb.cli as cli

    def interrupted():
        raise KeyboardInterrupt  # the user pressed Ctrl-C while the subcommands import

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["fit-cube", "c.fits"]) == 130
    assert capsys.readouterr().err.strip() == "spectuner-nb: interrupted"


def _terminal_sigint() -> None:
    """SIGINT as in a terminal's foreground job: a test run started in the background
    (``cmd &`` in a script, as CI may be) inherits it ignored."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_real_ctrl_c_on_a_dask_fit(small_synthetic_cube, tmp_path):
    """SIGINT to the whole process group (a terminal's Ctrl-C reaches the Dask workers
    too) while the workers start, and again once they fit if the run goes on: exit 130
    with one line, no traceback from the client or the workers."""
    import signal
    import time

    cube = small_synthetic_cube.write(tmp_path)["cubes"][0]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spectuner_nb.cli",
            "fit-cube",
            str(cube),
            "--species",
            "CH3OH",
            "--out",
            str(tmp_path / "o"),
            "--init",
            "random",
            "--n-init",
            "8",
            "--chunk-size",
            "1",
            "--n-cut",
            "1",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_terminal_sigint,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 240
    while not (tmp_path / "o" / "work" / "manifest.json").exists():  # the fit has started
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(3.0)
    os.killpg(proc.pid, signal.SIGINT)  # the workers are starting: they must stay quiet
    chunks = tmp_path / "o" / "work" / "chunks"
    while proc.poll() is None and not list(chunks.glob("c*.npz")):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    if proc.poll() is None:  # that Ctrl-C came while the workers started: press it again
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().endswith("spectuner-nb fit-cube: interrupted")

"""One set of fit settings (issue 21 "one concept, one place", issue 22 items 1 and 12):
every bad value is refused with a typed error naming it, the API, the command line, the
CASA tasks and the widgets share the defaults, and a missing policy checkpoint behaves the
same everywhere (init="policy" refused, init="auto" random starts with one warning)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings

import numpy as np
import pytest

from spectuner_nb.cube import PreprocessConfig, fit_cube
from spectuner_nb.errors import CheckpointError, CubeError, FitError, IdentificationError
from spectuner_nb.fit import fit_spectrum
from spectuner_nb.fit_settings import (
    CUBE_DEFAULTS,
    DEFAULTS,
    CubeSettings,
    FitSettings,
    check_species,
)
from spectuner_nb.policy.loader import CHECKPOINT_ENV
from spectuner_nb.starts import NoCheckpointWarning, resolve_init

BAD = [
    ({"optimizer": "adam"}, "optimizer", "optimizer must be one of"),
    ({"loss": "l2"}, "loss", "loss must be one of"),
    ({"n_init": 0}, "n_init", "at least 1"),
    ({"n_init": -3}, "n_init", "at least 1"),
    ({"n_init": 2.7}, "n_init", "whole number"),
    ({"n_init": True}, "n_init", "whole number"),
    ({"n_init": "50"}, "n_init", "whole number"),
    ({"n_init": 10**7}, "n_init", "memory"),
    ({"seed": -1}, "seed", "at least 0"),
    ({"seed": 1.5}, "seed", "whole number"),
    ({"gradient": "analytic"}, "gradient", "gradient must be one of"),
    ({"gradient": "exact", "loss": "pm"}, "gradient", "chi2"),
    ({"maxiter": 0}, "maxiter", "at least 1"),
    ({"n_trial": 0}, "n_trial", "at least 1"),
    ({"bounds": {"T_ex": (500.0, 10.0)}}, "bounds", "lower < upper"),
    ({"bounds": np.zeros((3, 2))}, "bounds", "bounds must be"),
    ({"bounds": "tepid"}, "bounds", "unknown bound preset"),
    ({"bounds": {"speed": (0, 1)}}, "bounds", "unknown bound"),
    ({"init": "best"}, "init", "init must be one of"),
    ({"init": np.full((2, 1, 5), np.nan)}, "init", "NaN"),
    ({"init": np.zeros((2, 4))}, "init", "fit-space"),
]


@pytest.mark.parametrize("changes, setting, match", BAD)
def test_each_bad_value_is_a_typed_error_naming_it(changes, setting, match):
    with pytest.raises(FitError, match=match) as info:
        FitSettings(**changes).validate()
    assert info.value.setting == setting


@pytest.mark.parametrize(
    "changes, setting",
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 2.5}, "chunk_size"),
        ({"neighbour_stride": 0}, "neighbour_stride"),
        ({"optimizer": "adam"}, "optimizer"),
    ],
)
def test_cube_settings_raise_the_callers_error(changes, setting):
    with pytest.raises(CubeError) as info:
        CubeSettings(**changes).validate(error=CubeError)
    assert info.value.setting == setting


def test_fit_cube_refuses_bad_settings_before_reading(tmp_path):
    cases = [
        ({"init": np.zeros((1, 1, 5))}, "init", "propose method"),
        ({"optimizer": "adam"}, "optimizer", "optimizer"),
        ({"n_init": 10**7}, "n_init", "memory"),
        ({"chunk_size": 0}, "chunk_size", "chunk_size"),
    ]
    for kwargs, setting, match in cases:
        with pytest.raises(CubeError, match=match) as info:
            fit_cube(tmp_path / "no_such.fits", "CH3OH", client=False, **kwargs)
        assert getattr(info.value, "setting", setting) == setting


def test_species_must_be_named():
    for species in ([], (), None, [""], ["CH3OH", " "]):
        with pytest.raises(FitError) as info:
            check_species(species)
        assert info.value.setting == "species"
    assert check_species("CH3OH") == ["CH3OH"]


def test_defaults_are_valid_and_normalised():
    assert DEFAULTS.validate().as_dict() == DEFAULTS.as_dict()
    assert (
        DEFAULTS.loss,
        DEFAULTS.init,
        DEFAULTS.n_init,
        DEFAULTS.optimizer,
        DEFAULTS.bounds,
        DEFAULTS.seed,
    ) == ("pm", "auto", 50, "slsqp", "hot_core", 0)
    out = FitSettings(optimizer="SLSQP", n_init=8.0).validate()
    assert out.optimizer == "slsqp" and out.n_init == 8 and isinstance(out.n_init, int)
    assert CUBE_DEFAULTS.as_dict() == {
        **DEFAULTS.as_dict(),
        "chunk_size": 32,
        "neighbour_stride": 3,
    }


def _defaults(func, names) -> dict:
    params = inspect.signature(func).parameters
    return {n: params[n].default for n in names}


def test_same_defaults_in_api_cli_casa_and_widgets(small_synthetic_cube):
    from spectuner_nb.widgets import CubeBrowser, FitPanel

    from spectuner_nb.cli import build_parser
    from spectuner_nb.identification import identify

    common = ("loss", "init", "n_init", "seed")
    want = {n: getattr(DEFAULTS, n) for n in common}
    assert _defaults(fit_spectrum, common) == want
    assert _defaults(fit_cube, common) == want
    assert _defaults(identify, common) == want
    assert (
        _defaults(fit_spectrum, ["optimizer"])
        == _defaults(fit_cube, ["optimizer"])
        == {"optimizer": DEFAULTS.optimizer}
    )

    parser = build_parser()
    for argv in (
        ["fit-spectrum", "x.fits", "--species", "CH3OH"],
        ["fit-cube", "x.fits", "--species", "CH3OH", "--out", "o"],
        ["identify", "x.fits"],
    ):
        args = parser.parse_args(argv)
        assert {n: getattr(args, n) for n in common} == want, argv
        assert getattr(args, "optimizer", DEFAULTS.optimizer) == DEFAULTS.optimizer
        assert args.v_lsr == 0.0

    from spectuner_nb.casa_tasks.spectunerfit import spectunerfit
    from spectuner_nb.casa_tasks.spectunerid import spectunerid

    for task in (spectunerfit, spectunerid):
        casa = _defaults(task, ["ninit", "seed", "usepolicy"])
        assert casa == {"ninit": DEFAULTS.n_init, "seed": DEFAULTS.seed, "usepolicy": True}
    assert _defaults(spectunerfit, ["loss", "optimizer"]) == {
        "loss": DEFAULTS.loss,
        "optimizer": DEFAULTS.optimizer,
    }

    panel = FitPanel(CubeBrowser(small_synthetic_cube), ["CH3OH"])
    assert panel._settings() == {
        "loss": DEFAULTS.loss,
        "optimizer": DEFAULTS.optimizer,
        "init": DEFAULTS.init,
        "n_init": DEFAULTS.n_init,
        "seed": DEFAULTS.seed,
    }


def test_casa_translates_its_spellings():
    from spectuner_nb.casa_tasks.params import Checker

    from spectuner_nb.errors import TaskParameterError

    check = Checker("spectunerfit")
    assert check.fit_settings(ninit=50, usepolicy=True, seed=0).init == "auto"
    assert check.fit_settings(ninit=50, usepolicy=False, seed=0).init == "random"
    with pytest.raises(TaskParameterError, match=r"spectunerfit: ninit=20000: must be at most"):
        check.fit_settings(ninit=20000, usepolicy=True, seed=0)
    with pytest.raises(TaskParameterError, match=r"optimizer='adam'"):
        check.fit_settings(ninit=5, usepolicy=True, seed=0, optimizer="adam")


@pytest.mark.parametrize(
    "command",
    [
        ["fit-spectrum", "x.fits", "--species", "CH3OH"],
        ["fit-cube", "x.fits", "--species", "CH3OH", "--out", "o"],
        ["identify", "x.fits"],
    ],
)
@pytest.mark.parametrize(
    "option",
    [
        ["--loss", "l2"],
        ["--init", "best"],
        ["--n-init", "0"],
        ["--n-init", "2.7"],
        ["--n-init", "20000"],
        ["--seed", "-1"],
    ],
)
def test_cli_refuses_bad_fit_options_at_parse_time(command, option, capsys):
    from spectuner_nb.cli import build_parser

    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(command + option)
    assert info.value.code == 2
    assert option[0] in capsys.readouterr().err


def test_cli_optimizer_has_choices(capsys):
    from spectuner_nb.cli import build_parser

    for command in (
        ["fit-spectrum", "x.fits", "--species", "CH3OH"],
        ["fit-cube", "x.fits", "--species", "CH3OH", "--out", "o"],
    ):
        with pytest.raises(SystemExit):
            build_parser().parse_args(command + ["--optimizer", "adam"])
        assert "invalid choice: 'adam'" in capsys.readouterr().err


def test_cli_v_lsr_everywhere_and_vlsr_deprecated():
    from spectuner_nb.cli import build_parser

    parser = build_parser()
    for command in (
        ["fit-spectrum", "x.fits", "--species", "CH3OH"],
        ["fit-cube", "x.fits", "--species", "CH3OH", "--out", "o"],
        ["identify", "x.fits"],
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert parser.parse_args(command + ["--v-lsr", "-48.5"]).v_lsr == -48.5
        with pytest.warns(FutureWarning, match="--vlsr is deprecated.*--v-lsr"):
            assert parser.parse_args(command + ["--vlsr", "-5"]).v_lsr == -5.0


# ------------------------------------------------------------------ start strategies
class _Proposer:
    """Anything with a propose method is a start strategy."""

    def __init__(self):
        self.calls = []

    def propose(self, obs, species, n_init, seed=None):
        self.calls.append((n_init, seed))
        rng = np.random.default_rng(seed)
        centre = np.array([-0.05, 150.0, 17.0, 0.6, 0.0])
        width = np.array([0.02, 20.0, 0.3, 0.05, 0.5])
        lead = (len(obs),) if isinstance(obs, list) else ()
        return centre + width * rng.standard_normal(lead + (n_init, len(species), 5))


@pytest.fixture(scope="module")
def pixel(small_synthetic_cube):
    from spectuner_nb.widgets.cubes import pixel_observation

    return pixel_observation(small_synthetic_cube.cubes, 1, 1)


def test_a_proposer_is_passed_in(pixel):
    proposer = _Proposer()
    res = fit_spectrum(
        pixel, "CH3OH", loss="chi2", init=proposer, n_init=7, seed=4, maxiter=5, errors=False
    )
    assert proposer.calls == [(7, 4)] and res.init == "policy" and res.nfev_init == 7
    assert resolve_init(proposer) is proposer
    assert resolve_init("random") == "random"


def test_fitting_layer_does_not_import_the_policy():
    code = (
        "import sys, spectuner_nb.fit, spectuner_nb.cube.fit, spectuner_nb.starts\n"
        "print('spectuner_nb.policy.policy' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    import spectuner_nb.cube.fit as cube_fit

    assert not hasattr(cube_fit, "_POLICY_CACHE")


@pytest.fixture()
def no_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path / "no_checkpoint"))
    return tmp_path / "no_checkpoint"


def test_missing_checkpoint_in_the_api(no_checkpoint, pixel, small_synthetic_cube, tmp_path):
    from spectuner_nb.identification import identify

    with pytest.raises(CheckpointError, match="no_checkpoint"):
        resolve_init("policy")
    with pytest.warns(NoCheckpointWarning):
        assert resolve_init("auto") == "random"

    with pytest.raises(CheckpointError):
        fit_spectrum(pixel, "CH3OH", init="policy", n_init=4)
    with pytest.warns(NoCheckpointWarning) as record:
        res = fit_spectrum(pixel, "CH3OH", loss="chi2", n_init=4, maxiter=5, errors=False)
    assert res.init == "random" and len(record) == 1

    # the cube fit refuses before reading anything: the path does not exist
    with pytest.raises(CheckpointError):
        fit_cube(tmp_path / "no_such.fits", "CH3OH", init="policy", client=False)
    mask = np.zeros(small_synthetic_cube.cubes.shape, bool)
    mask[0, :2] = True
    with pytest.warns(NoCheckpointWarning) as record:
        cube = fit_cube(
            small_synthetic_cube.cubes,
            "CH3OH",
            loss="chi2",
            n_init=4,
            client=False,
            mask=mask,
            select=PreprocessConfig(n_cut=1),
            progress=False,
            workdir=tmp_path / "w",
        )
    assert cube.meta["init"] == "random" and cube.n_fitted == 2
    assert sum(issubclass(w.category, NoCheckpointWarning) for w in record) == 1

    with pytest.raises(CheckpointError):
        identify(pixel, ["CH3OH"], init="policy", progress=False)


def test_missing_checkpoint_on_the_command_line(
    no_checkpoint, small_synthetic_cube, tmp_path, capsys
):
    from spectuner_nb.cli import main

    path = small_synthetic_cube.write(tmp_path)["cubes"][0]
    code = main(
        [
            "fit-spectrum",
            str(path),
            "--species",
            "CH3OH",
            "--init",
            "policy",
            "--out",
            str(tmp_path / "fit"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "checkpoint" in err and "Traceback" not in err


def test_identify_rejects_bad_settings_typed(pixel):
    from spectuner_nb.identification import identify

    for kwargs in (
        {"n_init": 0},
        {"seed": -1},
        {"loss": "l2"},
        {"init": "best"},
        {"n_init": 10**7},
    ):
        with pytest.raises(IdentificationError):
            identify(pixel, ["CH3OH"], progress=False, **kwargs)


@pytest.mark.slow
def test_policy_sent_to_dask_workers_gives_the_in_process_maps(small_synthetic_cube, tmp_path):
    """The proposer is sent to the workers once; their maps equal those fitted here."""
    kw = dict(
        loss="chi2",
        init="policy",
        n_init=6,
        select=PreprocessConfig(n_cut=1),
        progress=False,
        chunk_size=3,
        mask=np.eye(4, dtype=bool) | np.eye(4, k=1, dtype=bool),
    )
    here = fit_cube(small_synthetic_cube.cubes, "CH3OH", client=False, workdir=tmp_path / "a", **kw)
    dask = fit_cube(small_synthetic_cube.cubes, "CH3OH", n_workers=1, workdir=tmp_path / "b", **kw)
    assert here.meta["init"] == dask.meta["init"] == "policy" and here.n_fitted == 7
    for name in ("x", "x_err", "x_spread", "loss", "nfev", "flags"):
        np.testing.assert_array_equal(getattr(here, name), getattr(dask, name), err_msg=name)

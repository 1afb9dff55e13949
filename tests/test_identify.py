"""Line identification (docs/method.md §9) on mock mixtures from the shipped catalog."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

from spectuner_nb.catalog import default_cache
from spectuner_nb.errors import IdentificationError, IncompleteResultError, ResultsError
from spectuner_nb.identification import STAGES, IdentificationResult, identify
from spectuner_nb.identification.assign import split_cell
from spectuner_nb.losses import find_peaks_above
from spectuner_nb.mock import mock_spectrum
from spectuner_nb.model import LTEModel
from spectuner_nb.observation import Observation

SPECIES = ["CH3OH", "CH3CN", "HNCO", "OCS", "H2CO", "C2H5CN"]
PARAMS = np.array(
    [  # θ″, T_ex K, N cm⁻², Δv km/s, v_off km/s
        [0.8, 150.0, 3e17, 4.0, 0.5],
        [0.8, 200.0, 3e16, 3.5, 0.0],
        [0.8, 120.0, 5e16, 4.0, -0.5],
        [0.8, 150.0, 2e17, 4.0, 0.3],
        [0.8, 120.0, 3e16, 4.0, 0.0],
        [0.8, 150.0, 2e16, 4.0, 1.0],
    ]
)


def _strong_line_counts(mock) -> dict[str, int]:
    """Lines above 5 rms in each species' own noiseless model."""
    cat = default_cache()
    out = {}
    for k, name in enumerate(mock.species):
        model = LTEModel(
            mock.obs.rest_freqs,
            [cat.lines(name, mock.obs.windows)],
            beam=mock.obs.beam,
            T_bg=list(mock.obs.T_bg),
        )
        out[name] = sum(
            len(find_peaks_above(y, 5 * r))
            for y, r in zip(model(mock.params[k : k + 1]), mock.obs.rms, strict=True)
        )
    return out


@pytest.fixture(scope="module")
def mixture():
    """Band-6 mock of six species, three windows of 700 channels (seed 1: CH3OH, HNCO and
    C2H5CN have ≥ 3 lines above 5 rms, OCS and H2CO one, CH3CN none)."""
    return mock_spectrum(
        SPECIES,
        band=6,
        params=PARAMS,
        seed=1,
        n_windows=3,
        n_channels=700,
        beam=(0.8, 0.8),
        rms=0.1,
        T_bg=2.0,
    )


@pytest.fixture(scope="module")
def identified(mixture):
    return identify(mixture.obs, progress=False)


def test_identify_finds_the_mixture(mixture, identified):
    counts = _strong_line_counts(mixture)
    required = {s for s, n in counts.items() if n >= 3}
    assert len(required) >= 3
    found = set(identified.species)
    assert required <= found  # recall 1 for species with ≥ 3 lines above 5 σ
    assert found <= set(mixture.species)  # precision 1
    table = identified.table()
    for name in required:
        row = table[list(table["species"]).index(name)]
        true_n = mixture.params[mixture.species.index(name), 2]
        assert abs(row["log10_N_tot"] - np.log10(true_n)) < 0.3
        assert row["n_matched"] >= 1 and row["score"] > 0
    assert len(identified.unknown) == 0
    assert identified.n_peaks == len(identified.lines) > 10


def test_line_table_assigns_transitions(identified):
    lines = identified.lines
    assigned = lines[lines["species"] != ""]
    assert len(assigned) == identified.n_peaks
    for row in assigned:
        names = split_cell(row["species"])
        assert set(names) <= set(identified.species)
        fractions = [float(f) for f in split_cell(row["fractions"])]
        assert len(fractions) == len(names) and min(fractions) >= 0.1
        assert row["E_up"] > 0 and row["A_ul"] > 0
        assert abs(row["line_freq"] - row["freq"]) < 5.0  # MHz: the line under the peak


def test_excluded_species_leaves_unknown_lines(mixture):
    res = identify(
        mixture.obs, SPECIES + ["CH3OCHO", "HCOOH", "SO2"], exclude=["C2H5CN"], progress=False
    )
    assert "C2H5CN;v=0;" not in res.species
    assert "C2H5CN;v=0;" not in set(res.rejected["species"])
    cat = default_cache()
    own = LTEModel(
        mixture.obs.rest_freqs,
        [cat.lines("C2H5CN", mixture.obs.windows)],
        beam=mixture.obs.beam,
        T_bg=list(mixture.obs.T_bg),
    )
    spectra = own(mixture.params[SPECIES.index("C2H5CN")][None])
    unknown = res.unknown
    assert len(unknown) >= 2
    for row in unknown:  # every unknown line is a line of the excluded species
        w = int(row["window"])
        chan = np.argmin(np.abs(mixture.obs.rest_freqs[w] - row["freq"]))
        assert spectra[w][chan] >= 0.5 * row["T_peak"]


def test_resume_reuses_stored_fits_and_refuses_another_run(mixture, tmp_path):
    names = ["CH3OH", "HNCO", "OCS"]
    first = identify(mixture.obs, names, workdir=tmp_path, init="random", n_init=20, progress=False)
    assert "CH3OH;vt=0-2;" in first.species
    files = sorted((tmp_path / "fits").glob("*.npz"))
    assert len(files) == 3
    # mark one stored fit: a resumed run must read it instead of fitting again
    for path in files:
        with np.load(path, allow_pickle=False) as z:
            stored = {k: z[k] for k in z.files}
        if str(stored["species"]) == "CH3OH;vt=0-2;":
            loss = float(stored["loss"])
            stored["loss"] = np.float64(loss - 1000.0)
            np.savez(path, **stored)
    again = identify(mixture.obs, names, workdir=tmp_path, init="random", n_init=20, progress=False)
    assert again.scores["CH3OH;vt=0-2;"]["loss"] == pytest.approx(loss - 1000.0)
    changed = mixture.obs.with_intensities([y * 1.01 for y in mixture.obs.intensities])
    with pytest.raises(IdentificationError, match="another identification"):
        identify(changed, names, workdir=tmp_path, init="random", n_init=20, progress=False)
    with pytest.raises(IdentificationError, match="another identification"):
        identify(mixture.obs, names, workdir=tmp_path, init="random", n_init=21, progress=False)
    fresh = identify(
        changed, names, workdir=tmp_path, init="random", n_init=20, resume=False, progress=False
    )
    assert "CH3OH;vt=0-2;" in fresh.species


class _Stop(Exception):
    pass


def test_progress_callable_reports_fits_and_stages_and_can_stop(mixture, tmp_path):
    names = ["CH3OH", "HNCO", "OCS"]
    calls = []
    res = identify(mixture.obs, names, init="random", n_init=5, progress=lambda *a: calls.append(a))
    fits = [c for c in calls if c[2] == STAGES[0]]
    assert [c[0] for c in fits] == list(range(len(fits))) and fits[-1][0] == fits[-1][1] >= 3
    assert [c[2] for c in calls[len(fits) :]] == list(STAGES[1:])
    assert res.species

    def stop_after_one(done, total, stage):
        if done == 1:
            raise _Stop

    with pytest.raises(_Stop):  # the caller's exception ends the run between two fits
        identify(
            mixture.obs, names, init="random", n_init=5, workdir=tmp_path, progress=stop_after_one
        )
    assert len(list((tmp_path / "fits").glob("*.npz"))) == 1
    resumed = identify(
        mixture.obs, names, init="random", n_init=5, workdir=tmp_path, progress=False
    )  # the workdir is unlocked and its fit reused
    assert resumed.species == res.species
    with pytest.raises(IdentificationError, match="progress"):
        identify(mixture.obs, names, progress="yes")


def test_write_read_round_trip(identified, tmp_path):
    identified.write(tmp_path / "out")
    for name in (
        "summary.json",
        "species.ecsv",
        "lines.ecsv",
        "rejected.ecsv",
        "model.ecsv",
        "fit.json",
        "identified.molfit",
    ):
        assert (tmp_path / "out" / name).is_file()
    back = IdentificationResult.read(tmp_path / "out")
    assert back.species == identified.species
    assert len(back.lines) == len(identified.lines)
    np.testing.assert_allclose(np.concatenate(back.model), np.concatenate(identified.model))
    np.testing.assert_allclose(back.components[0][0], identified.components[0][0])
    assert "CH3OH" in (tmp_path / "out" / "identified.molfit").read_text()
    layout = identified.plot()
    assert len(layout.children) == identified.obs.n_windows


def _older(result):
    """Another, older result: nothing identified, a different message."""
    return replace(result, species=[], fit=None, components=[], scores={}, message="older")


def test_failed_write_leaves_the_older_result(identified, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    _older(identified).write(folder)

    def broken(self):  # a failure while the files are staged
        raise OSError("disk full")

    monkeypatch.setattr(IdentificationResult, "_spectrum_table", broken)
    with pytest.raises(ResultsError, match="disk full"):
        identified.write(folder)
    monkeypatch.undo()
    back = IdentificationResult.read(folder)
    assert back.message == "older" and back.species == []
    assert not (folder / "fit.json").exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["summary.json", "species.ecsv", "lines.ecsv", "rejected.ecsv", "model.ecsv"]
    )


def test_interrupted_write_is_refused_not_mixed(identified, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    _older(identified).write(folder)
    real_replace, calls = os.replace, []

    def dying_replace(src, dst):  # the process "dies" after 2 of the renames
        calls.append(dst)
        if len(calls) > 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        identified.write(folder)
    monkeypatch.undo()
    assert not list(folder.glob(".partial-*"))
    with pytest.raises(IncompleteResultError, match="complete identification"):
        IdentificationResult.read(folder)
    identified.write(folder)  # a complete write replaces it
    assert IdentificationResult.read(folder).species == identified.species


def test_mixed_folder_is_refused(identified, tmp_path):
    identified.write(tmp_path / "new")
    _older(identified).write(tmp_path / "old")
    (tmp_path / "new" / "lines.ecsv").write_bytes((tmp_path / "old" / "lines.ecsv").read_bytes())
    (tmp_path / "new" / "species.ecsv").write_bytes(
        (tmp_path / "old" / "species.ecsv").read_bytes()
    )
    with pytest.raises(IncompleteResultError, match="mixed.*species.ecsv"):
        IdentificationResult.read(tmp_path / "new")
    (tmp_path / "new" / "fit.json").unlink()
    with pytest.raises(IncompleteResultError, match="fit.json"):
        IdentificationResult.read(tmp_path / "new")


def test_typed_errors(mixture):
    with pytest.raises(IdentificationError, match="empty"):
        identify(mixture.obs, [], progress=False)
    with pytest.raises(IdentificationError, match="include: unknown species"):
        identify(mixture.obs, include=["NoSuchMolecule"], progress=False)
    with pytest.raises(IdentificationError, match="exclude: unknown species"):
        identify(mixture.obs, exclude=["XyZ9"], progress=False)
    with pytest.raises(IdentificationError, match="preset"):
        identify(mixture.obs, bounds="warm_core", progress=False)
    with pytest.raises(IdentificationError, match="init"):
        identify(mixture.obs, init="neural", progress=False)
    with pytest.raises(IdentificationError, match="Observation"):
        identify(mixture.obs.intensities, progress=False)


def test_no_peak_is_a_result_not_an_error(mixture):
    rng = np.random.default_rng(0)
    quiet = mixture.obs.with_intensities(
        [rng.normal(0.0, 0.1, y.size) * 0.5 for y in mixture.obs.intensities]
    )
    res = identify(quiet, progress=False)
    assert res.message == "no peak above 4 sigma"
    assert res.species == [] and res.n_peaks == 0 and res.fit is None
    assert len(res.table()) == 0


def test_maps_of_an_identification_refuse_nothing_and_other_settings(mixture, identified):
    """``IdentificationResult.fit_cube`` sets the loss, the bounds and the tie step itself."""
    quiet = mixture.obs.with_intensities([0.0 * y for y in mixture.obs.intensities])
    with pytest.raises(IdentificationError, match="nothing identified to map"):
        identify(quiet, progress=False).fit_cube("cube.fits")
    with pytest.raises(IdentificationError, match="loss, tie"):
        identified.fit_cube("cube.fits", loss="pm", tie=False)
    with pytest.raises(IdentificationError, match="bounds"):
        identified.fit_cube("cube.fits", fit_kwargs={"bounds": "cold_core"})


def test_cold_core_preset_identifies_narrow_lines():
    """5–10 K gas, 0.3 km/s lines, band 3 with 0.1 km/s channels: the line widths select
    the cold-core preset, random starts are used (outside the policy's Table 1)."""
    cat = default_cache()
    centres = [90978.99, 96741.37, 87925.24]  # HC3N 10–9, CH3OH 2(0)–1(0) A+, HNCO 4–3
    freqs = [c - 6.0 + 0.03 * np.arange(400) for c in centres]
    names = [cat.entry(s).name for s in ("HC3N", "CH3OH", "HNCO")]
    truth = np.array(
        [[60.0, 8.0, 3e13, 0.3, 0.1], [60.0, 7.0, 1e14, 0.35, 0.1], [60.0, 9.0, 1e13, 0.3, 0.1]]
    )
    windows = [(f[0], f[-1]) for f in freqs]
    model = LTEModel(freqs, [cat.lines(n, windows) for n in names], beam=(60.0, 60.0))
    rng = np.random.default_rng(4)
    clean = model(truth)
    obs = Observation.from_arrays(
        freqs, [y + rng.normal(0, 0.02, y.size) for y in clean], beam=(60.0, 60.0), rms=0.02
    )
    res = identify(obs, progress=False)
    assert res.settings["preset"] == "cold_core" and res.settings["init"] == "random"
    assert set(res.species) == set(names)
    table = res.table()
    assert np.all(np.asarray(table["T_ex"]) <= 60.0)
    assert np.all(np.asarray(table["delta_v"]) < 1.0)

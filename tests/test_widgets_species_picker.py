"""SpeciesPicker logic: search, line counts, explained peaks, selection callbacks."""

from __future__ import annotations

import numpy as np
import pytest
from spectuner_nb.widgets import SpeciesPicker, pixel_observation
from spectuner_nb.widgets.species_picker import explained_peaks, matches, observed_peak_ranges

from spectuner_nb.catalog.names import resolve
from spectuner_nb.constants import C_KM_S


def test_explained_peaks_reach():
    peaks = [(100000.0, 100001.0), (100100.0, 100101.0)]
    shift = 100001.0 * 5.0 / C_KM_S  # 5 km/s above the first peak's upper edge
    assert explained_peaks(np.array([100000.5]), peaks) == 1
    assert explained_peaks(np.array([100001.0 + shift]), peaks, v_reach_kms=6.0) == 1
    assert explained_peaks(np.array([100001.0 + shift]), peaks, v_reach_kms=4.0) == 0
    assert explained_peaks(np.array([100000.5, 100100.5, 100100.7]), peaks) == 2
    assert explained_peaks(np.zeros(0), peaks) == 0


def test_matches_by_alias_and_substring():
    names = ["CH3OH;vt=0-2;", resolve("CH3CH2CN"), "H2CO;v=0;", "HC3N;v=0;"]
    assert matches("", names) == names
    assert matches("ch3oh", names) == ["CH3OH;vt=0-2;"]
    assert matches("CH3CH2CN", names) == matches("C2H5CN", names) == [resolve("C2H5CN")]
    assert matches("h2co", names) == ["H2CO;v=0;"]
    assert matches("nothing-like-this", names) == []


@pytest.fixture(scope="module")
def picker(small_synthetic_cube):
    obs = pixel_observation(small_synthetic_cube.cubes, 2, 2)
    return SpeciesPicker(obs=obs)


def test_ch3oh_explains_the_synthetic_peaks(picker, small_synthetic_cube):
    obs = pixel_observation(small_synthetic_cube.cubes, 2, 2)
    n_peaks = len(observed_peak_ranges(obs))
    assert n_peaks >= 1
    ch3oh = next(s for name, s in picker.summaries.items() if name.startswith("CH3OH"))
    assert ch3oh.n_explained == ch3oh.n_peaks == n_peaks
    assert ch3oh.n_lines >= n_peaks
    first = picker.select.options[0][1]
    assert picker.summaries[first].n_explained == n_peaks


def test_search_keeps_selection_and_calls_back(picker):
    got = []
    picker.on_change(got.append)
    ch3oh = next(n for n in picker.all_species if n.startswith("CH3OH"))
    picker.choose([ch3oh])
    assert picker.selected == [ch3oh] and got[-1] == [ch3oh]
    picker.search.value = "H2CO"
    values = [v for _label, v in picker.select.options]
    assert ch3oh in values and any(v.startswith("H2CO") for v in values)
    assert picker.selected == [ch3oh]
    assert "CH3OH" in picker.chosen.value

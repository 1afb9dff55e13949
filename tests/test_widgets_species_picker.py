"""SpeciesPicker logic: search, line counts, name resolution, one-message updates, callbacks."""

from __future__ import annotations

import pytest
from spectuner_nb.widgets import SpeciesPicker, WidgetInputError, pixel_observation
from spectuner_nb.widgets.species_picker import matches

from spectuner_nb.catalog.names import resolve


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


def test_alphabetical_with_line_counts(picker, small_synthetic_cube):
    values = [v for _label, v in picker.select.options]
    assert values == sorted(values, key=str.lower)
    ch3oh = next(n for n in values if n.startswith("CH3OH"))
    obs = pixel_observation(small_synthetic_cube.cubes, 2, 2)
    n = len(picker.catalog.lines(ch3oh, windows=obs.windows, pad_kms=0.0))
    assert picker.label(ch3oh) == f"{ch3oh} — {n} lines" and n > 0
    assert not any("explains" in label for label, _ in picker.select.options)


def test_short_names_resolve(picker):
    """Bug 4: short names ("H2CO") select the catalog entry; unknown names say so."""
    picker.choose(["H2CO", "CH3OH"])
    assert all(s in picker.all_species for s in picker.selected)
    assert [s.split(";")[0] for s in picker.selected] == ["H2CO", "CH3OH"]
    with pytest.raises(WidgetInputError):
        picker.choose(["NoSuchMolecule"])


def test_search_keeps_selection_and_calls_back(picker):
    """(Bug 7, options and selection sent in one message, is checked in the browser tests.)"""
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

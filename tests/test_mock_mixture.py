"""Mock mixtures for line identification: composition, interloper, decoys and truth."""

import numpy as np
import pytest

from spectuner_nb.errors import FitError
from spectuner_nb.mock import (
    DETECTABLE_MIN_LINES,
    MockMixture,
    mixture_dataset,
    mock_mixture,
)


def test_mixture_with_interloper_keeps_it_out_of_the_candidates():
    m = mock_mixture(8, band=6, interloper=True, n_decoys=4, seed=3)
    assert isinstance(m, MockMixture) and len(m.mock.species) == 8
    assert m.interloper in m.mock.species and m.interloper not in m.candidates
    assert len(m.decoys) == 4 and not set(m.decoys) & set(m.mock.species)
    assert set(m.candidates) == set(m.mock.species) - {m.interloper} | set(m.decoys)
    assert all(m.n_lines[s] >= DETECTABLE_MIN_LINES for s in m.detectable)
    assert set(m.detectable) <= set(m.candidates) - set(m.decoys)


def test_score_counts_found_missed_and_false_species():
    m = mock_mixture(10, band=7, n_decoys=3, seed=5)
    assert m.detectable, "this seed has detectable species"
    perfect = m.score(m.detectable)
    assert perfect == {"tp": len(m.detectable), "fn": 0, "fp": 0, "weak": 0}
    wrong = m.score([m.decoys[0]])
    assert wrong["fp"] == 1 and wrong["tp"] == 0 and wrong["fn"] == len(m.detectable)


def test_cold_core_is_single_dish_band3_cold_and_narrow():
    m = mixture_dataset(1, regime="cold-core", seed=2)[0]
    assert m.mock.band == 3 and np.ndim(m.obs.beam) == 0  # dish diameter, m
    assert np.all((m.mock.params[:, 1] >= 5) & (m.mock.params[:, 1] <= 10))
    assert np.all((m.mock.params[:, 3] >= 0.2) & (m.mock.params[:, 3] <= 0.5))


def test_dataset_is_reproducible_and_cycles_bands():
    a = mixture_dataset(3, seed=7, interloper_every=3)
    b = mixture_dataset(3, seed=7, interloper_every=3)
    assert [m.mock.band for m in a] == [3, 6, 7]
    assert [m.interloper is not None for m in a] == [False, False, True]
    assert all(
        np.array_equal(x.obs.intensities[0], y.obs.intensities[0])
        for x, y in zip(a, b, strict=True)
    )


def test_interlopers_are_spread_over_the_bands():
    from spectuner_nb.mock import mixture_case

    cases = [mixture_case(i, seed=7, interloper_every=3, n_species=3) for i in range(9)]
    with_interloper = [m.mock.band for m in cases if m.interloper is not None]
    assert sorted(with_interloper) == [3, 6, 7]


def test_bad_species_count_is_refused():
    with pytest.raises(FitError, match="n_species"):
        mock_mixture(500, seed=0)

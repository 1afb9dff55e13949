"""The one species-name resolver."""

import pytest

from spectuner_nb.catalog.names import SpeciesName, parse, resolve
from spectuner_nb.errors import SpeciesNotFoundError

CASES = {
    "CH3OH": "CH3OH;v=0;",
    "CH3OH;v=0;": "CH3OH;v=0;",
    "CH3OH, vt=0-2": "CH3OH;vt=0-2;",
    "CH3OH vt=0": "CH3OH;v=0;",
    "C2H5CN": "C2H5CN;v=0;",
    "CH3CH2CN v=0": "C2H5CN;v=0;",
    "C2H3CN": "C2H3CN;v=0;",
    "CH2CHCN": "C2H3CN;v=0;",
    "NH2CHO": "NH2CHO;v=0;",
    "HC(O)NH2, v=0": "NH2CHO;v=0;",
    "HCOOCH3": "CH3OCHO;v=0;",
    "H2CCO, v=0": "CH2CO;v=0;",
    "t-HCOOH": "HCOOH;v=0;",
    "13CO": "C-13-O;v=0;",
    "(13)CO v=0": "C-13-O;v=0;",
    "C-13-O": "C-13-O;v=0;",
    "13C16O": "C-13-O;v=0;",
    "C18O": "CO-18;v=0;",
    "C(18)O": "CO-18;v=0;",
    "H13CN": "HC-13-N;v=0;",
    "HCO+, v=0": "HCO+;v=0;",
    "SO 3Sigma v=0": "SO;v=0;",
    "HCN v1=1, v2=1": "HCN;v1=1,v2=1;",
    "HC3N;v7=1;": "HC3N;v7=1;",
    "t-CH3CH2OH": "t-C2H5OH;v=0;",
    "NaCN/NaNC": "NaCN;v=0;",  # Splatalogue's name
    "Na(13)CN/NaN(13)C": "NaC-13-N;v=0;",
}


@pytest.mark.parametrize("name,canonical", CASES.items())
def test_resolve(name, canonical):
    assert resolve(name) == canonical


def test_ground_state_coverage():
    assert parse("CH3OH, vt=0-2").includes_ground
    assert parse("SiO, v=0-10").includes_ground
    assert not parse("HC3N, v7=1").includes_ground


@pytest.mark.parametrize("bad", ["", "   ", "123", "HCN/HNC"])
def test_unreadable_names(bad):
    with pytest.raises(SpeciesNotFoundError):
        resolve(bad)


@pytest.mark.parametrize(
    "entry_state, state, expected",
    [
        ("vt=0-2", "vt=1", True),
        ("vt=0-2", "v=0", True),
        ("vt=0,1", "vt=1", True),
        ("v=0-10", "v=3", True),
        ("vt=0-2", "vt=3", False),
        ("vt=0-2", "v=1", False),
        ("v=0,1", "v=2", False),
        ("v7=1", "v7=1", True),
        ("v=1", "v=0", False),
    ],
)
def test_state_ranges_cover_their_states(entry_state, state, expected):
    """A state query finds an entry whose range or list holds it (CDMS "CH3OH, vt=0-2" for
    CH3OH vt=1), as a ground-state query finds ranges starting at 0."""
    assert SpeciesName("CH3OH", entry_state).covers(state) is expected

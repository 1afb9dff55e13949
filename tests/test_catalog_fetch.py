"""Online path, tested against astroquery's recorded real responses (HTTP layer mocked)."""

import time
from pathlib import Path

import pytest
import requests

from spectuner_nb.catalog import TransitionCache
from spectuner_nb.catalog import fetch as fetch_mod
from spectuner_nb.errors import OfflineError


def _astroquery_data(*parts) -> Path:
    import astroquery

    return Path(astroquery.__file__).parent.joinpath(*parts)


class _Recorded:
    """Stands in for requests' HTTP round trip, answering from recorded files."""

    def __init__(self, routes):
        self.routes = routes
        self.calls = []

    def __call__(self, session, method, url, data=None, **kwargs):
        self.calls.append((method, url, dict(data or {})))
        content = self.routes(method, url, dict(data or {}))
        resp = requests.Response()
        resp.status_code = 200
        resp._content = content
        resp.url = url
        resp.encoding = "latin-1"
        return resp

    def as_method(self):
        """A plain function, so it binds like ``requests.Session.request``."""

        def request(session, method, url, **kwargs):
            return self(session, method, url, **kwargs)

        return request


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setattr(fetch_mod, "reachable", lambda host, timeout=1.0: True)
    return monkeypatch


def test_cdms_fetch_from_recorded_answer(online, tmp_path):
    data = _astroquery_data("linelists", "cdms", "tests", "data")

    def routes(method, url, payload):
        if method == "POST":
            assert payload["Molecules"] == "028503 CO, v=0" and payload["temp"] == 0
            text = (data / "post_response.html").read_text()
            return text.format(replace=payload["Molecules"]).encode()
        name = url.split("cdmstab")[1].rsplit(".html", 1)[0]
        return (data / f"{name}.data").read_bytes()

    recorded = _Recorded(routes)
    online.setattr(requests.Session, "request", recorded.as_method())
    cache = TransitionCache(tmp_path / "f.sqlite")
    entry = cache.fetch("CO", "CDMS")
    assert [c[0] for c in recorded.calls] == ["POST", "GET"]
    assert entry.name == "CO;v=0;" and entry.n_lines == 8 and entry.origin == "fetch"
    ll = cache.linelist("CO")
    assert ll.A_ul[0] == pytest.approx(7.20e-8, rel=5e-3)
    assert ll.E_up[0] == pytest.approx(5.53, rel=5e-3) and ll.g_u[0] == 3


def test_jpl_fetch_from_recorded_answer(online, tmp_path):
    data = _astroquery_data("jplspec", "tests", "data")

    def routes(method, url, payload):
        assert method == "POST" and payload["Mol"] == "28001 CO"
        return (data / "CO.data").read_bytes()

    online.setattr(requests.Session, "request", _Recorded(routes).as_method())
    cache = TransitionCache(tmp_path / "j.sqlite")
    entry = cache.fetch("CO", "JPL")
    assert entry.catalog == "JPL" and entry.tag == 28001 and entry.n_lines == 8
    assert cache.linelist("CO", catalog="JPL").A_ul[0] == pytest.approx(7.20e-8, rel=5e-3)


def test_request_and_parse_are_separate():
    req = fetch_mod.plan("CH3OH", "CDMS")
    assert req.molecule == "032504 CH3OH, vt=0-2"
    text = _astroquery_data("linelists", "cdms", "tests", "data") / "028503 CO, v=0.data"
    ll = fetch_mod.parse_answer(text.read_text(), fetch_mod.plan("CO", "CDMS"))
    assert len(ll) == 8


def test_offline_fails_fast_with_options(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(fetch_mod.socket, "create_connection", no_network)
    cache = TransitionCache(tmp_path / "o.sqlite")
    t0 = time.perf_counter()
    with pytest.raises(OfflineError, match="starter catalog.*catalog import"):
        cache.fetch("CH3OH")
    assert time.perf_counter() - t0 < 1.0


def test_this_machine_offline_within_one_second(tmp_path):
    if fetch_mod.reachable("cdms.astro.uni-koeln.de", timeout=1.0):
        pytest.skip("network available")
    cache = TransitionCache(tmp_path / "n.sqlite")
    t0 = time.perf_counter()
    with pytest.raises(OfflineError):
        cache.fetch("CO", "JPL")
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.remote
def test_remote_cdms_fetch(tmp_path):
    if not fetch_mod.reachable("cdms.astro.uni-koeln.de"):
        pytest.skip("no network")
    entry = TransitionCache(tmp_path / "r.sqlite").fetch("CO", "CDMS", fmin=100e3, fmax=1e6)
    assert entry.n_lines >= 8


@pytest.mark.parametrize(
    "species, fname, molecule",
    [
        ("CH3OH;vt=1;", "c032504.cat", "032504 CH3OH, vt=0-2"),
        ("SiO v=3", "c044505.cat", "044505 SiO, v=0-10"),
    ],
)
def test_cdms_fetch_of_a_state_from_the_real_cdms_file(online, tmp_path, species, fname, molecule):
    """An excited state is asked for as the CDMS entry covering it; the answer (here the real
    CDMS file of that entry, served for the service's table) is read and stored with the
    entry's tag, and its lines are the file's."""
    from spectuner_nb.catalog.spcat import read_spcat
    from spectuner_nb.settings import shared_data_dir

    root = shared_data_dir(required=False)
    if root is None:
        pytest.skip("shared data not available")
    path = root / "catalogs" / "cdms_jpl" / fname
    data = _astroquery_data("linelists", "cdms", "tests", "data")

    def routes(method, url, payload):
        if method == "POST":
            assert payload["Molecules"] == molecule
            return (
                (data / "post_response.html")
                .read_text()
                .format(replace=payload["Molecules"])
                .encode()
            )
        return path.read_bytes()

    online.setattr(requests.Session, "request", _Recorded(routes).as_method())
    cache = TransitionCache(tmp_path / "s.sqlite")
    entry = cache.fetch(species, "CDMS")
    table = read_spcat(path)
    assert entry.tag == table.main_tag and entry.origin == "fetch"
    assert entry.n_lines == len(table)
    assert cache.entry(species).name == entry.name  # the state finds the range entry
    ll = cache.linelist(entry.name)
    assert ll.freq.min() == pytest.approx(table.freq.min()) and ll.partition(300.0) > 0

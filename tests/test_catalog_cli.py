"""spectuner-nb catalog … on a temporary cache."""

import pytest

from spectuner_nb.cli import main
from spectuner_nb.settings import shared_data_dir


def test_cli_import_list_show_lines(tmp_path, capsys):
    root = shared_data_dir(required=False)
    if root is None:
        pytest.skip("shared catalogs not available")
    db = str(tmp_path / "cli.sqlite")
    assert (
        main(["catalog", "--cache", db, "import", str(root / "catalogs/cdms_jpl/c032504.cat")]) == 0
    )
    assert main(["catalog", "--cache", db, "import", str(root / "catalogs/lamda/co.dat")]) == 0
    capsys.readouterr()
    assert main(["catalog", "--cache", db, "list"]) == 0
    out = capsys.readouterr().out
    assert "CH3OH;vt=0-2;" in out and "LAMDA" in out and "2 entries" in out
    assert main(["catalog", "--cache", db, "show", "CH3OH"]) == 0
    out = capsys.readouterr().out
    assert "4.5685" in out and "5.5413" in out
    assert (
        main(["catalog", "--cache", db, "lines", "CH3OH", "--fmin", "241700", "--fmax", "241900"])
        == 0
    )
    out = capsys.readouterr().out
    assert "16 lines" in out and "241791.3520" in out and "6.045e-05" in out


def test_cli_errors_are_reported(tmp_path, capsys, monkeypatch):
    from spectuner_nb.catalog import fetch as fetch_mod

    monkeypatch.setattr(fetch_mod, "reachable", lambda host, timeout=1.0: False)
    db = str(tmp_path / "e.sqlite")
    assert main(["catalog", "--cache", db, "fetch", "CO"]) == 1
    assert "offline options" in capsys.readouterr().err
    assert main(["catalog", "--cache", db, "show", "CH3OH"]) == 1
    assert "not in the transition cache" in capsys.readouterr().err

"""CASA task plumbing that needs no CASA: site configuration, logging, XML definitions."""

from __future__ import annotations

import inspect
import logging
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import spectuner_nb.casa_tasks as casa_tasks
from spectuner_nb.casa_tasks import casaenv, tasklog

from spectuner_nb.errors import ConfigurationError

NS = {"c": "http://casa.nrao.edu/schema/psetTypes.html"}
XML_DIR = Path(casa_tasks.__file__).parent


def test_importing_the_tasks_does_not_import_casatools():
    code = "import sys, spectuner_nb.casa_tasks as t; print('casatools' in sys.modules, t.TASKS)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("False")


def test_site_config_is_written_to_the_cache_when_none_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("CASASITECONFIG", raising=False)
    monkeypatch.setenv("SPECTUNER_NB_CACHE_DIR", str(tmp_path))
    pytest.importorskip("casadata")
    path = casaenv.ensure_site_config()
    assert path == tmp_path / "casa" / "casasiteconfig.py"
    text = path.read_text()
    assert "measures_auto_update = False" in text and "data_auto_update = False" in text
    assert repr(str(tmp_path / "casa" / "casa.log")) in text  # log file in the cache, not cwd
    assert casaenv.os.environ["CASASITECONFIG"] == str(path)
    # the generated file is valid Python that names casadata's measures
    namespace: dict = {}
    exec(compile(text, str(path), "exec"), namespace)
    assert Path(namespace["measurespath"]).is_dir()


def test_a_user_site_config_wins_and_must_exist(tmp_path, monkeypatch):
    mine = tmp_path / "mine.py"
    mine.write_text("measures_auto_update = False\n")
    monkeypatch.setenv("CASASITECONFIG", str(mine))
    assert casaenv.ensure_site_config() == mine
    monkeypatch.setenv("CASASITECONFIG", str(tmp_path / "missing.py"))
    with pytest.raises(ConfigurationError, match="missing file"):
        casaenv.ensure_site_config()


def test_without_casatools_messages_go_to_standard_logging(monkeypatch, caplog):
    monkeypatch.setattr(casaenv, "casatools_installed", lambda: False)
    log = tasklog.TaskLog("spectunerprep")
    assert not log.uses_casalog
    with caplog.at_level(logging.INFO, logger="spectuner_nb.casa_tasks"):
        log.info("hello")
        log.severe("bad")
    assert [(r.name, r.levelname, r.message) for r in caplog.records] == [
        ("spectuner_nb.casa_tasks.spectunerprep", "INFO", "hello"),
        ("spectuner_nb.casa_tasks.spectunerprep", "ERROR", "bad"),
    ]


def _xml_params(task: str) -> list[ET.Element]:
    root = ET.parse(XML_DIR / f"{task}.xml").getroot()
    node = root.find("c:task", NS)
    assert node is not None and node.get("name") == task
    return node.findall("c:input/c:param", NS)


@pytest.mark.parametrize("task", casa_tasks.TASKS)
def test_xml_definition_matches_the_python_signature(task):
    params = _xml_params(task)
    signature = inspect.signature(getattr(casa_tasks, task))
    assert [p.get("name") for p in params] == list(signature.parameters)
    for p in params:
        name, kind = p.get("name"), p.get("type")
        default = signature.parameters[name].default
        assert name == name.lower()
        value = p.find("c:value", NS)
        assert value is not None, name
        text = (value.text or "").strip()
        if kind == "bool" or isinstance(default, bool):
            assert text == str(default), name
        elif kind == "int" or (isinstance(default, int) and value.get("type") == "int"):
            assert int(text) == default, name
        elif kind == "double" or value.get("type") == "double":
            assert float(text) == float(default), name
        elif value.get("type") == "string":
            assert text == default, name
        allowed = p.find("c:allowed", NS)
        if allowed is not None:
            assert text in [v.text for v in allowed.findall("c:value", NS)], name
        assert p.find("c:shortdescription", NS).text.strip()
        assert p.find("c:description", NS).text.strip()


def test_every_task_has_an_xml_file_and_a_docstring():
    for task in casa_tasks.TASKS:
        assert (XML_DIR / f"{task}.xml").is_file()
        doc = getattr(casa_tasks, task).__doc__
        assert doc and "Returns" in doc

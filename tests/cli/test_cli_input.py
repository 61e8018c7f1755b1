"""Every value typed on the command line is used as typed or refused in one line (exit 2).

And text that came from the network never reaches the terminal raw: a
newline or an escape sequence in a received value must not forge a line of
output or colour the terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from qrscope.cli.main import main
from qrscope.cli.options import local_from_args
from qrscope.core.profile_store import Profiles
from qrscope.core.security import AcceptPolicy

NODE = ["--host", "127.0.0.1", "--port", "104", "--called-aet", "PACS"]
FORGED = "1.2.3\n12:00:00 forged line \x1b[31mred\x1b[0m\r\x9b2J\u202e"


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def _refused(capsys, argv: list[str], *words: str) -> str:
    """Run *argv*; it must exit 2 with one line on stderr naming *words*."""
    code = _exit_code(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err
    return err


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse refuses by exiting
        return int(exc.code or 0)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "1e300", "0", "-5",
                                   "ten", ""])
@pytest.mark.parametrize("option", ["--timeout", "--idle-timeout"])
def test_a_timeout_that_is_not_a_usable_number_of_seconds_is_refused(capsys, option, value):
    assert _exit_code(["echo", *NODE, option, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert option in err


@pytest.mark.parametrize(
    "argv",
    [
        ["echo", "--host", "127.0.0.1", "--port", "0", "--called-aet", "PACS"],
        ["echo", "--host", "127.0.0.1", "--port", "1_04", "--called-aet", "PACS"],
        ["echo", "--host", "127.0.0.1", "--port", "65536", "--called-aet", "PACS"],
        ["echo", *NODE, "--aet", ""],
        ["echo", *NODE, "--aet", "   "],
        ["echo", "--host", "", "--port", "104", "--called-aet", "PACS"],
        ["echo", "--host", "127.0.0.1", "--port", "104", "--called-aet", ""],
        ["echo", *NODE, "--config", ""],
        ["find", *NODE, "--limit", "0"],
        ["find", *NODE, "--limit", "-3"],
        ["retrieve", *NODE, "--study", "1.2.3", "--listen-port", "0"],
        ["retrieve", *NODE, "--study", "1.2.3", "--dest-aet", ""],
        ["retrieve", *NODE, "--study", "1.2.3", "--out", ""],
        ["retrieve", *NODE, "--study", "1.2.3", "--diagram", ""],
        ["retrieve", *NODE, "--study", "1.2.3", "--accept", "everyone"],
        ["doctor", *NODE, "--listen-port", "0"],
        ["listen", "--port", "0"],
        ["listen", "--bind", ""],
        ["listen", "--aet", ""],
        ["demo-pacs", "--port", "0"],
        ["demo-pacs", "--pacs-aet", ""],
        ["demo-pacs", "--data", ""],
    ],
    ids=lambda argv: " ".join(a if a else "''" for a in argv),
)
def test_a_value_that_would_be_replaced_by_a_default_is_refused(capsys, argv):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_a_config_file_that_does_not_exist_is_refused(capsys, tmp_path):
    _refused(capsys, ["echo", *NODE, "--config", str(tmp_path / "typo.json")],
             "--config", "does not exist")


def test_a_damaged_config_file_is_a_warning_and_the_command_runs(capsys, tmp_path):
    config = tmp_path / "profiles.json"
    config.write_bytes(b"\xff\xfe\x00 damaged")
    code = main(["find", *NODE, "--config", str(config), "--date", "20241301"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "not UTF-8" in err and "corrupt-" in err and "calendar date" in err


def test_listen_refuses_a_storage_folder_it_cannot_create(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _refused(capsys, ["listen", "--port", "11199", "--out", str(blocker / "in")],
             "--out", str(blocker / "in"))


def test_retrieve_refuses_a_storage_folder_it_cannot_create(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _refused(capsys, ["retrieve", *NODE, "--study", "1.2.3", "--out", str(blocker)], "--out")


def test_retrieve_refuses_a_diagram_it_could_not_write_before_starting(capsys, tmp_path):
    _refused(capsys, ["retrieve", *NODE, "--study", "1.2.3", "--out", str(tmp_path),
                      "--diagram", str(tmp_path / "missing" / "d.svg")], "--diagram")


def test_doctor_refuses_a_bundle_it_could_not_write_before_starting(capsys, tmp_path):
    _refused(capsys, ["doctor", *NODE, "--bundle", str(tmp_path / "missing" / "b.zip")],
             "--bundle")


def _without_file_permission_override() -> list[str]:
    """Run as root but without the right to ignore file permissions (a real EACCES)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to drop CAP_DAC_OVERRIDE")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_listen_on_a_read_only_folder_is_refused_before_it_starts(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [*_without_file_permission_override(), sys.executable, "-m", "qrscope",
               "listen", "--port", "11198", "--out", str(folder)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                env=env)
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "--out" in result.stderr and "cannot write" in result.stderr
    assert "listening" not in result.stderr


def test_demo_pacs_refuses_a_data_folder_that_does_not_exist(capsys, tmp_path):
    _refused(capsys, ["demo-pacs", "--port", "11197", "--data", str(tmp_path / "nope")],
             "--data", "does not exist")


def test_demo_pacs_refuses_a_data_folder_without_dicom_files(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("not DICOM")
    _refused(capsys, ["demo-pacs", "--port", "11196",
                      "--data", str(tmp_path)], "--data", "no DICOM")


def test_accept_sets_the_listeners_policy_and_the_profile_is_the_default(tmp_path):
    from qrscope.cli.main import build_parser

    parser = build_parser()
    for command in (["listen"], ["retrieve", *NODE, "--study", "1.2.3"]):
        args = parser.parse_args([*command, "--accept", "any"])
        assert local_from_args(args, Profiles()).accept is AcceptPolicy.ANY
        args = parser.parse_args(command)
        assert local_from_args(args, Profiles()).accept is AcceptPolicy.KNOWN


def test_accept_is_explained_in_help(capsys):
    for command in ("listen", "retrieve"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--accept {known,any}" in out and "known nodes" in out


# -- text from the network ---------------------------------------------------------


def test_received_text_is_escaped_for_the_terminal():
    from qrscope.cli.terminal import for_terminal

    shown = for_terminal(FORGED)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert "\x9b" not in shown and "\u202e" not in shown
    assert shown.startswith("1.2.3\\n12:00:00 forged line \\x1b[31mred")
    assert for_terminal("DOE^JOHN") == "DOE^JOHN" and for_terminal(None) == ""


def test_listen_prints_a_received_uid_on_one_line():
    from qrscope.cli.server_commands import describe_received
    from qrscope.core.receive.reception import ReceivedInstance

    instance = ReceivedInstance(sop_instance_uid=FORGED, sop_class_uid="1.2",
                                transfer_syntax="1.2.840.10008.1.2", calling_ae="EVIL\x1b[2J",
                                called_ae="QRSCOPE", peer_address="127.0.0.1",
                                association_id="a1", status=0xA700, error="refused " + FORGED)
    line = describe_received(instance, as_json=False)
    assert "\n" not in line and "\x1b" not in line
    record = describe_received(instance, as_json=True)
    assert json.loads(record)["sop_instance_uid"] == FORGED and "\x1b" not in record


def test_retrieve_prints_uids_from_the_pacs_on_their_own_lines(capsys):
    from qrscope.cli.retrieve_command import _print_outcome
    from qrscope.core.profiles import RemoteNode, RetrieveMethod
    from qrscope.core.retrieve.types import RetrieveOutcome

    outcome = RetrieveOutcome(job_id="j1", method=RetrieveMethod.MOVE, failed_uids=[FORGED])
    _print_outcome(outcome, RemoteNode(name="P", ae_title="P", host="h"))
    out = capsys.readouterr().out
    assert "forged line" in out and "\x1b" not in out
    assert not any(line.startswith("12:00:00") for line in out.splitlines())


def test_find_prints_a_hostile_description_on_one_line(capsys, sample_folder, tmp_path):
    from qrscope.demo_pacs import DemoPacs

    data = tmp_path / "hostile"
    data.mkdir()
    source = next(p for p in sorted(Path(sample_folder).rglob("*")) if p.is_file())
    dataset = pydicom.dcmread(source)
    dataset.StudyDescription = "HEAD\n12:00:00 forged \x1b[31mred"
    dataset.save_as(data / "one.dcm")
    pacs = DemoPacs(data_folder=data, host="127.0.0.1", port=0)
    pacs.start()
    try:
        code = main(["find", "--host", "127.0.0.1", "--port", str(pacs.port),
                     "--called-aet", pacs.ae_title])
    finally:
        pacs.stop()
    out = capsys.readouterr().out
    assert code == 0
    assert "forged" in out and "\x1b" not in out
    assert len(out.splitlines()) == 2  # the header and the one study

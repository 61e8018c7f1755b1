"""Who is measured, and the command line each one is run with.

Each contender is a program a user would run: qrscope's command line, DCMTK's
tools (started with ``TCP_NODELAY=1``: DCMTK at its best) and pynetdicom's own
apps (``python -m pynetdicom ...``, its defaults). They all talk to the same
Orthanc on loopback, one after another, and each writes into a fresh folder.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tests.interop.peers import HOST, find_dcmtk_tool

from qrscope.core.engine.choice import PIECES

from .orthanc import ORTHANC_AE_TITLE

PYTHON = sys.executable

# Each retrieving contender has its own AE title, known to Orthanc as a
# modality with its own port, so no two share a listener port.
QRSCOPE_AE = "QRSCOPE"
DCMTK_AE = "DCMTKSCU"
PYNETDICOM_AE = "PYNETDICOM"
RETRIEVERS = (QRSCOPE_AE, DCMTK_AE, PYNETDICOM_AE)

# The study-level return keys qrscope's search asks for (core/query/find.py), so
# every C-FIND contender asks Orthanc for the same work.
STUDY_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
              "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
              "StudyDescription", "ReferringPhysicianName", "ModalitiesInStudy",
              "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances")


@dataclass(frozen=True)
class Target:
    """What a contender is asked for and where."""

    pacs_port: int
    listen_ports: dict[str, int]
    out: Path
    study_uid: str = ""


@dataclass(frozen=True)
class Contender:
    name: str
    tool: str
    """"qrscope", "dcmtk" or "pynetdicom": ratios are taken against "dcmtk"."""
    method: str
    """"move", "get", "find" or "store"."""
    nodelay: bool
    engine: str = ""
    """qrscope only: "tuned", "stock" or "without:PIECE" (see :data:`ENGINES`)."""
    environment: tuple[tuple[str, str], ...] = ()
    """Further variables for this contender's process (e.g. QRSCOPE_ARCHIVE_INDEX=off)."""

    def command(self, target: Target) -> list[str]:
        return _BUILDERS[(self.tool, self.method)](target)

    def engine_environment(self) -> dict[str, str]:
        """How qrscope is told its engine (qrscope.core.engine.choice)."""
        if self.tool != "qrscope":
            return {}
        if self.engine == "stock":
            return {"QRSCOPE_ENGINE": "stock", "QRSCOPE_ENGINE_OFF": ""}
        piece = self.engine.removeprefix("without:") if self.engine != "tuned" else ""
        return {"QRSCOPE_ENGINE": "tuned", "QRSCOPE_ENGINE_OFF": piece}


# qrscope's engines: its tuned pynetdicom, stock pynetdicom, and the tuned one
# without each of its pieces in turn: what each piece buys is the difference.
ENGINES = ("tuned", "stock", *(f"without:{piece}" for piece in PIECES))


def with_engines(contenders: Sequence[Contender], engines: Sequence[str]) -> tuple[Contender, ...]:
    """Each qrscope contender once per engine (the tuned one keeps its name); others once."""
    out: list[Contender] = []
    for contender in contenders:
        if contender.tool != "qrscope":
            out.append(contender)
            continue
        for engine in engines:
            label = "stock pynetdicom" if engine == "stock" else engine.replace(
                "without:", "tuned without ")
            name = contender.name if engine == "tuned" else f"{contender.name} [{label}]"
            out.append(replace(contender, name=name, engine=engine))
    return tuple(out)


def dcmtk(name: str) -> str:
    path = find_dcmtk_tool(name)
    if path is None:
        raise RuntimeError(f"DCMTK {name} is not installed")
    return path


def _study_keys(target: Target) -> list[str]:
    return ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={target.study_uid}"]


def _qrscope(*args: str) -> list[str]:
    return [PYTHON, "-m", "qrscope", *args]


def _qrscope_retrieve(method: str):
    def build(t: Target) -> list[str]:
        return _qrscope("retrieve", "--host", HOST, "--port", str(t.pacs_port),
                        "--called-aet", ORTHANC_AE_TITLE, "--aet", QRSCOPE_AE,
                        "--study", t.study_uid, "--method", method,
                        "--listen-port", str(t.listen_ports[QRSCOPE_AE]),
                        "--out", str(t.out), "--json")
    return build


def _dcmtk_move(t: Target) -> list[str]:
    return [dcmtk("movescu"), "-S", "-aet", DCMTK_AE, "-aec", ORTHANC_AE_TITLE, "-aem", DCMTK_AE,
            "--port", str(t.listen_ports[DCMTK_AE]), "-od", str(t.out), *_study_keys(t),
            HOST, str(t.pacs_port)]


def _dcmtk_get(t: Target) -> list[str]:
    return [dcmtk("getscu"), "-S", "-aet", DCMTK_AE, "-aec", ORTHANC_AE_TITLE,
            "-od", str(t.out), *_study_keys(t), HOST, str(t.pacs_port)]


def _pynetdicom_move(t: Target) -> list[str]:
    port = str(t.listen_ports[PYNETDICOM_AE])
    return [PYTHON, "-m", "pynetdicom", "movescu", HOST, str(t.pacs_port), "-S",
            "-aet", PYNETDICOM_AE, "-aec", ORTHANC_AE_TITLE, "-aem", PYNETDICOM_AE,
            "--store", "--store-port", port, "--store-aet", PYNETDICOM_AE,
            "-od", str(t.out), *_study_keys(t)]


def _pynetdicom_get(t: Target) -> list[str]:
    return [PYTHON, "-m", "pynetdicom", "getscu", HOST, str(t.pacs_port), "-S",
            "-aet", PYNETDICOM_AE, "-aec", ORTHANC_AE_TITLE, "-od", str(t.out),
            *_study_keys(t)]


def _keys(keys: Sequence[str]) -> list[str]:
    return [arg for key in keys for arg in ("-k", key)]


def _qrscope_find(t: Target) -> list[str]:
    # --limit above the count: the whole answer, no C-CANCEL.
    return _qrscope("find", "--host", HOST, "--port", str(t.pacs_port),
                    "--called-aet", ORTHANC_AE_TITLE, "--aet", QRSCOPE_AE,
                    "--level", "study", "--limit", "20000", "--json")


def _dcmtk_find(t: Target) -> list[str]:
    # -Xs: every response into one XML file, so the answer can be checked.
    return [dcmtk("findscu"), "-S", "-aet", QRSCOPE_AE, "-aec", ORTHANC_AE_TITLE,
            "-k", "QueryRetrieveLevel=STUDY", *_keys(STUDY_KEYS),
            "-Xs", str(t.out / "responses.xml"), HOST, str(t.pacs_port)]


def _pynetdicom_find(t: Target) -> list[str]:
    # -w: every response as rsp000001.dcm... in the working folder (t.out).
    return [PYTHON, "-m", "pynetdicom", "findscu", HOST, str(t.pacs_port), "-S",
            "-aet", QRSCOPE_AE, "-aec", ORTHANC_AE_TITLE,
            "-k", "QueryRetrieveLevel=STUDY", *_keys(STUDY_KEYS), "-w"]


def _qrscope_listen(t: Target) -> list[str]:
    return _qrscope("listen", "--aet", QRSCOPE_AE, "--port", str(t.listen_ports[QRSCOPE_AE]),
                    "--bind", HOST, "--out", str(t.out), "--accept", "any")


def _dcmtk_listen(t: Target) -> list[str]:
    return [dcmtk("storescp"), "--aetitle", QRSCOPE_AE, "-od", str(t.out),
            str(t.listen_ports[QRSCOPE_AE])]


_BUILDERS = {
    ("qrscope", "move"): _qrscope_retrieve("move"),
    ("qrscope", "get"): _qrscope_retrieve("get"),
    ("dcmtk", "move"): _dcmtk_move,
    ("dcmtk", "get"): _dcmtk_get,
    ("pynetdicom", "move"): _pynetdicom_move,
    ("pynetdicom", "get"): _pynetdicom_get,
    ("qrscope", "find"): _qrscope_find,
    ("dcmtk", "find"): _dcmtk_find,
    ("pynetdicom", "find"): _pynetdicom_find,
    ("qrscope", "store"): _qrscope_listen,
    ("dcmtk", "store"): _dcmtk_listen,
}

RETRIEVE = (
    Contender("qrscope retrieve --method move", "qrscope", "move", False, "tuned"),
    Contender("DCMTK movescu --port", "dcmtk", "move", True),
    Contender("pynetdicom movescu --store", "pynetdicom", "move", False),
    Contender("qrscope retrieve --method get", "qrscope", "get", False, "tuned"),
    Contender("DCMTK getscu", "dcmtk", "get", True),
    Contender("pynetdicom getscu", "pynetdicom", "get", False),
)
FIND = (
    Contender("qrscope find --json", "qrscope", "find", False, "tuned"),
    Contender("DCMTK findscu -Xs", "dcmtk", "find", True),
    Contender("pynetdicom findscu -w", "pynetdicom", "find", False),
)
LISTEN = (
    Contender("qrscope listen", "qrscope", "store", False, "tuned"),
    Contender("DCMTK storescp", "dcmtk", "store", True),
)

"""``qrscope jobs retry JOB_ID`` against DCMTK ``storescp``: exactly what a send did not deliver.

A node of the profiles is a ``storescp`` that does not take Encapsulated PDF
Storage; a send of the study of an SR and its PDF stores the SR and fails the
PDF. The administrator then points the node at a ``storescp`` that takes
both; ``qrscope jobs retry`` sends the PDF alone (the peer counts one
C-STORE), as a job that ``qrscope jobs`` lists with its link to the first.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from pynetdicom.sop_class import EncapsulatedPDFStorage

from qrscope.cli.main import main
from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.archive.index import ArchiveLevel, close_index, open_index
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.demo_pacs.clinical import build_clinical_studies

from .conftest import require
from .peers import WORKSTATION_AE_TITLE, find_dcmtk_tool
from .send_targets import UNCOMPRESSED, StoreTarget, running_storescp

pytestmark = pytest.mark.timeout(300)


def _run(*args: str) -> tuple[int, object]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main([*args, "--json"])
    return code, json.loads(out.getvalue())


def _profiles(path: Path, target: StoreTarget) -> None:
    node = RemoteNode(name="archive2", ae_title=target.ae_title, host=target.host,
                      port=target.port).validated()
    ProfileStore(path).save(Profiles(local=LocalAE(ae_title=WORKSTATION_AE_TITLE),
                                     nodes=[node]))


def test_jobs_retry_sends_exactly_what_failed_to_the_node_as_it_is_now(tmp_path: Path) -> None:
    require(find_dcmtk_tool("storescp"), "DCMTK not installed (apt-get install dcmtk)")
    storage = tmp_path / "archive"
    import_paths(build_clinical_studies(tmp_path / "clinical"), storage, ImportMode.COPY)
    try:
        rows = list(open_index(storage).select(ArchiveLevel.INSTANCE))
    finally:
        close_index(storage)
    pdf = next(r for r in rows if r["sop_class_uid"] == EncapsulatedPDFStorage)
    classes = {r["sop_class_uid"] for r in rows if r["study_uid"] == pdf["study_uid"]}
    config = tmp_path / "config" / "profiles.json"
    common = ("--config", str(config))
    with running_storescp(tmp_path / "first", {c: UNCOMPRESSED for c in
                                               classes - {EncapsulatedPDFStorage}}) as first:
        _profiles(config, first)
        code, sent = _run("archive", "send", "--study", pdf["study_uid"], "--node", "archive2",
                          "--storage", str(storage), *common)
        assert first.stores() == len(classes) - 1
    assert code == 1 and sent["failed"] == 1, sent
    with running_storescp(tmp_path / "second", {c: UNCOMPRESSED for c in classes}) as second:
        _profiles(config, second)  # the node now points at an archive that takes PDFs
        code, retried = _run("jobs", "retry", sent["job_id"], *common)
        assert second.stores() == 1
        assert second.received_file(pdf["sop_instance_uid"]).is_file()
    assert code == 0 and retried["status"] == "success", retried
    assert retried["retry_of"] == sent["job_id"]
    assert [i["sop_instance_uid"] for i in retried["instances"]] == [pdf["sop_instance_uid"]]
    code, nothing = _run("jobs", "retry", retried["job_id"], *common)
    assert code == 0 and nothing["status"] == "nothing-to-retry"  # type: ignore[index]
    assert main(["jobs", "retry", "j999", *common]) == 2  # no such job: a usage error
    code, jobs = _run("jobs", *common)
    listed = {j["job_id"]: j for j in jobs}  # type: ignore[union-attr]
    assert listed[retried["job_id"]]["retry_of"] == sent["job_id"]
    assert listed[retried["job_id"]]["kind"] == "send"
    assert listed[retried["job_id"]]["state"] == "success"
    assert listed[sent["job_id"]]["state"] == "partial"

"""The demo PACS's own promises: its sample set, its lifecycle, its read-only store."""

from __future__ import annotations

import pydicom
from pydicom import uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from qrscope.core.demo_pacs import DemoPacs, build_sample_studies


def test_samples_are_deterministic_and_cover_the_transfer_syntaxes(tmp_path):
    first = build_sample_studies(tmp_path / "a")
    second = build_sample_studies(tmp_path / "b")
    uids_a = sorted(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in first)
    uids_b = sorted(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in second)
    assert uids_a == uids_b and len(set(uids_a)) == len(uids_a) >= 40
    datasets = [pydicom.dcmread(p, stop_before_pixels=True) for p in first]
    syntaxes = {ds.file_meta.TransferSyntaxUID for ds in datasets}
    assert {uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.JPEGBaseline8Bit,
            uid.JPEG2000Lossless, uid.JPEGLSLossless, uid.RLELossless} <= syntaxes
    assert len({ds.PatientID for ds in datasets}) >= 4
    assert len({ds.StudyInstanceUID for ds in datasets}) >= 6
    assert {"CT", "MR", "SR"} <= {ds.Modality for ds in datasets}
    assert any(ds.SpecificCharacterSet == "ISO_IR 192" and not str(ds.PatientName).isascii()
               for ds in datasets)


def test_bundled_samples_live_in_a_private_folder_removed_on_stop():
    pacs = DemoPacs(port=0)
    pacs.start()
    try:
        assert pacs.is_running and pacs.port > 0 and pacs.instances
        folder = pacs.instances[0].path.parents[3]
        assert folder.exists()
    finally:
        pacs.stop()
    assert not pacs.is_running and not folder.exists()


def test_demo_pacs_refuses_to_store(demo):
    sender = AE(ae_title="PUSHER")
    sender.add_requested_context(CTImageStorage, uid.ExplicitVRLittleEndian)
    ct = next(i for i in demo.pacs.instances if i.sop_class_uid == CTImageStorage
              and i.transfer_syntax == uid.ExplicitVRLittleEndian)
    assoc = sender.associate("127.0.0.1", demo.pacs.port, ae_title=demo.pacs.ae_title)
    assert assoc.is_established
    status = assoc.send_c_store(pydicom.dcmread(ct.path))
    assoc.release()
    assert status.Status == 0x0124  # refused: not authorised (the demo is read-only)

"""One vocabulary for both sides: the client's Q/R table is the demo PACS's too."""

import pytest

from qrscope.core.dicom.qr_models import (
    QR_MODELS,
    Operation,
    model_levels,
    model_name,
    model_of,
    model_uid,
)
from qrscope.core.dicom.records import QueryLevel
from qrscope.core.profiles import QueryModel
from qrscope.demo_pacs.index import QR_SOP_CLASSES


@pytest.mark.parametrize(("model", "operation"), list(QR_MODELS))
def test_every_sop_class_leads_back_to_its_model(model: QueryModel, operation: Operation):
    assert model_of(model_uid(model, operation)) is model


def test_a_sop_class_outside_query_retrieve_has_no_model():
    with pytest.raises(KeyError):
        model_of("1.2.840.10008.1.1")  # Verification


def test_study_root_has_no_patient_level():
    assert QueryLevel.PATIENT not in model_levels(QueryModel.STUDY_ROOT)
    assert model_levels(QueryModel.PATIENT_ROOT) == tuple(QueryLevel)


def test_the_demo_pacs_serves_exactly_the_clients_table():
    assert sorted(QR_SOP_CLASSES) == sorted(QR_MODELS.values())


def test_model_names_for_reports():
    assert model_name(QueryModel.STUDY_ROOT, "move") == "Study Root MOVE"

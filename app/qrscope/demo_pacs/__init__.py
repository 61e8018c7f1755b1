"""The embedded demo PACS: sample studies and a Query/Retrieve SCP that serves them."""

from qrscope.demo_pacs.behaviour import DemoPacsBehaviour
from qrscope.demo_pacs.faults import FAULTS, configure, describe
from qrscope.demo_pacs.index import IndexedInstance
from qrscope.demo_pacs.samples import build_sample_studies
from qrscope.demo_pacs.server import DEMO_AE_TITLE, DemoPacs
from qrscope.demo_pacs.service import MoveDestinations

__all__ = [
    "DEMO_AE_TITLE",
    "FAULTS",
    "DemoPacs",
    "DemoPacsBehaviour",
    "IndexedInstance",
    "MoveDestinations",
    "build_sample_studies",
    "configure",
    "describe",
]

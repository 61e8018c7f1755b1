"""Interoperability tests against real Orthanc and DCMTK servers on loopback."""

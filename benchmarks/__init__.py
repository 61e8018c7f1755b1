"""Benchmarks that compare qrscope with DCMTK and pynetdicom's apps in the same run.

Run ``python benchmarks/run.py --help``; results are written up in docs/PERFORMANCE.md.
"""

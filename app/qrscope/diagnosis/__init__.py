"""Diagnosis: hints that explain failures in plain words."""

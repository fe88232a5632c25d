"""Datasets, UMA splits, the ST / CA / C3T trainers and evaluation."""

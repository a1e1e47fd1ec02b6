"""Corpus handling, held-out split, training and evaluation."""

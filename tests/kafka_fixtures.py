"""Embedded-broker fixtures (filled in with the streaming pipeline)."""

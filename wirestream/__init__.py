"""wirestream: classify news wire stories as they stream through Kafka."""

__version__ = "0.1.0"

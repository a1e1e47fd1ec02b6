"""The newsroom review console: ``wirestream console``.

Editors work the review queue, watch alerts and the classified feed, and turn
their decisions into labels on ``wire.labels``. The console reads the output
topics through its own consumer group and keeps its state in one SQLite file,
so nothing in it touches the classification path.
"""

"""Everything that touches Kafka and Faust lives here."""

"""Developer tooling that is not part of the product: local Prometheus, dashboard preview."""

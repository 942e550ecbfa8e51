"""Redacted capture of HTTP exchanges and the run's reports (results.yaml, HTML, summary table)."""

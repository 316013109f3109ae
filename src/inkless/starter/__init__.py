"""Starter files written by `inkless init` (the repository's config.yaml and org.example.yaml)."""

"""Persistent state: SQLite in WAL mode under the data root."""

"""The package's version: the single place it is written (pyproject.toml reads it; a test
checks that it equals the library's version in Cargo.toml)."""

__version__ = "0.1.0"

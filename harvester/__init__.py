"""harvester: sweep US and HK symbols through two short-selling endpoints into SQLite."""

__version__ = "0.1.0"

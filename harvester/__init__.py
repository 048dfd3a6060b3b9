"""harvester: sweep US and HK symbols through two short-selling endpoints into SQLite."""

__version__ = "0.2.0"

"""Settings: defaults, the TOML file and ``HARVESTER_*`` variables, and the symbols file.

Everything a command knows before it touches the network or the database.
"""

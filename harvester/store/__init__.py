"""The SQLite file: its connection, schema and migrations, upserts and the sweep's lock.

Also the columns and their units, and point-in-time history. Never imports the upstream
or the sweep.
"""

"""Reading the file back: show, latest, export, changes and their formats, --as-of, chart,
status, check, Datasette.

Read-only; never imports the sweep.
"""

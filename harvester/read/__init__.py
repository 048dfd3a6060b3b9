"""Reading the file back: show, latest, export and their formats, status, check, Datasette.

Read-only; never imports the sweep.
"""

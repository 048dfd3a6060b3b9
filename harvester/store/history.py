"""Point-in-time reads: the data as it was known at a moment (``database.HISTORY_VERSION``).

Each data table has a ``<table>_versions`` view: every set of values a row has
had, with ``valid_from`` (when the harvester first stored those values) and
``valid_to`` (when a fetch replaced them; NULL for the current ones), and the
row's ``first_seen_at``. The values known at moment T are the versions with
``valid_from <= T`` and no ``valid_to`` at or before T; a row first stored
after T has none.
"""

from __future__ import annotations

from harvester.catalog import ENDPOINTS

TABLES = tuple(endpoint.name for endpoint in ENDPOINTS)  #: the tables with versions
#: The condition that keeps the versions known at ``?`` (passed twice).
AS_OF = "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"

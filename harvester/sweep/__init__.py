"""A sweep: the run and its ledger, each task fetched to its final status, and the one writer.

Also the outage guard, the daily quota, nightly probes and incremental counts, the
``plan`` of a sweep before it runs, and the progress it reports.
"""

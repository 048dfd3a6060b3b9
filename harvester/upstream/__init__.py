"""The upstream: the HTTP client, the rate limit, and each endpoint's adapter.

An adapter builds a request, reads the envelope and maps records to rows.
"""

"""The servers the dev stack starts from pip packages, one module each.

Each is a :class:`~.base.Server`: a fresh data directory under the run directory, one managed
process, and a readiness check made with the server's own client (``SELECT 1``, ``PING``, a Kafka
metadata request, an S3 port), so "started" means "answers its protocol".
"""

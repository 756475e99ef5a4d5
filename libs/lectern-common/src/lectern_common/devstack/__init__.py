"""The dev stack: real infrastructure from pip packages plus every service, on one machine.

``python -m lectern_common.devstack up`` (what ``make up`` runs) is the one entry point; tests use
the same code through the ``lectern`` pytest plugin (:mod:`lectern_common.testing.plugin`).
Nothing here is imported by services at run time.
"""

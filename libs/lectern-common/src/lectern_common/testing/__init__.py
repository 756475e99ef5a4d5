"""Test support shared by every Lectern package: the ``lectern`` pytest plugin and its helpers."""

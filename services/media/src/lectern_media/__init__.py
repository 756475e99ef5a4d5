"""Lectern's media service: files, links to course content, usage, audit, soft delete, purge."""

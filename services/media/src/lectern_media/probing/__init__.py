"""Probing uploaded files: what a file really is (container, duration, size, codecs), off the
request path, in a child process bounded in time and memory (see the media README)."""

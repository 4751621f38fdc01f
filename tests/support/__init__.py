"""Helpers shared by the test suites: a live HTTP server, polling, process control."""

"""Audit trail service: audited GraphQL mutations, a searchable log and signed webhook delivery."""

__version__ = "0.1.0"

"""Tenants, their API keys, the JWTs those keys are exchanged for, and the identity of a request."""

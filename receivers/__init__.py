"""Reference receivers for the audit trail's signed webhooks."""

"""The account's webhook: configuration, validation, signing, verify-on-save, delivery wake-ups."""

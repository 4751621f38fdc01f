"""Recording audit events (with their webhook deliveries), searching them, and retention."""

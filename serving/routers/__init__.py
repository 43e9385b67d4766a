"""One router per resource (health, metrics, decisions, admin, ledger and margin)."""

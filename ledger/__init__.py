"""The `ledger` room of creditdesk (see DESIGN.md, Layout)."""

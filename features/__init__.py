"""The `features` room of creditdesk (see DESIGN.md, Layout)."""

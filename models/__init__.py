"""The `models` room of creditdesk (see DESIGN.md, Layout)."""

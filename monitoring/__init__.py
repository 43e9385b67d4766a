"""The `monitoring` room of creditdesk (see DESIGN.md, Layout)."""

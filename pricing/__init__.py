"""The `pricing` room of creditdesk (see DESIGN.md, Layout)."""

"""The `serving` room of creditdesk (see DESIGN.md, Layout)."""

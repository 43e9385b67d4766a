"""The `margin` room of creditdesk (see DESIGN.md, Layout)."""

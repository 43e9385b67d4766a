"""Jobs that tie the rooms together, and the ``creditdesk`` CLI."""

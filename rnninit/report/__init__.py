"""The report layer: terminal tables and plots, drawn from plain data (never imports experiment or cli)."""

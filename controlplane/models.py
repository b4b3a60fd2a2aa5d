"""Local Arthur control-plane data (filled by the control-plane issue)."""

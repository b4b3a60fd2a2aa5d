"""Local Arthur engine store (filled by the data-plane issue)."""

"""The one HTTP client for the Arthur control-plane API: ``ArthurClient`` plus its auth, errors and records."""

"""The data plane's engine endpoints (filled by the data-plane issue)."""

urlpatterns: list = []

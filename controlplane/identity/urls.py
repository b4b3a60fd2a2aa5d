"""The identity provider's URLs (filled by the identity issue)."""

urlpatterns: list = []

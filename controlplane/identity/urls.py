"""The identity provider's URLs, all under the issuer path ``/api/v1/auth/oidc/``."""

from django.urls import path

from controlplane.identity import views

app_name = "identity"

urlpatterns = [
    path("api/v1/auth/oidc/.well-known/openid-configuration", views.discovery, name="discovery"),
    path("api/v1/auth/oidc/jwks", views.jwks, name="jwks"),
    path("api/v1/auth/oidc/authorize", views.authorize, name="authorize"),
    path("api/v1/auth/oidc/token", views.token, name="token"),
    path("api/v1/auth/oidc/revoke", views.revoke, name="revoke"),
    path("api/v1/auth/oidc/userinfo", views.userinfo, name="userinfo"),
    path("api/v1/auth/oidc/device/code", views.device_authorization, name="device_authorization"),
    path("api/v1/auth/oidc/device", views.device_verify, name="device"),
    path("api/v1/auth/oidc/login", views.login, name="login"),
    path("api/v1/auth/oidc/logout", views.logout, name="logout"),
]

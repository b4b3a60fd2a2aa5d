"""Identity endpoints on the JSON API (`/api/v1/users/...`), filled by the identity issue."""

from ninja import Router

router = Router(tags=["users"])

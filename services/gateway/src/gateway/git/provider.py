"""The git provider's client, configured once: GitHub's OAuth endpoints (web flow, device flow,
refresh), its token revocation and the two REST calls the platform makes (``GET /user``,
``GET /user/repos``). GitHub Enterprise, or any provider speaking the same endpoints, by the
settings' URLs.

Tokens travel in request bodies and headers only, never in a URL; nothing here logs one. The
OAuth token endpoint answers errors with a 200 and an ``error`` field (GitHub's way): they
become :class:`OAuthError` with that code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from ..settings import GatewaySettings

__all__ = [
    "DEVICE_GRANT",
    "Account",
    "DeviceCode",
    "GitProviderClient",
    "OAuthError",
    "ProviderUnreachable",
    "Repository",
    "TokenGrant",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API_VERSION = "2022-11-28"
_NEXT_PAGE = re.compile(r'<[^>]*>;\s*rel="next"')


class OAuthError(Exception):
    """The provider refused: ``code`` is its ``error`` (``authorization_pending``,
    ``slow_down``, ``bad_refresh_token``, ...), ``description`` its words."""

    def __init__(self, code: str, description: str = "", interval: int | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.interval = interval


class ProviderUnreachable(Exception):
    """The provider did not answer, or answered something that is not its API."""


@dataclass(frozen=True)
class TokenGrant:
    access_token: SecretStr
    refresh_token: SecretStr | None
    expires_in: int | None
    """Seconds the access token lives; None: it does not expire (an OAuth app's)."""
    refresh_token_expires_in: int | None
    scope: str


@dataclass(frozen=True)
class DeviceCode:
    device_code: SecretStr
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class Account:
    login: str
    account_id: str
    scopes: str | None
    """From ``X-OAuth-Scopes``, when the provider says (OAuth apps); None otherwise."""


@dataclass(frozen=True)
class Repository:
    full_name: str
    name: str
    owner: str
    private: bool
    default_branch: str | None
    clone_url: str
    html_url: str | None
    description: str | None


class GitProviderClient:
    """One HTTP client for the provider, made at start-up and closed at shutdown."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.client_id = settings.git_client_id or ""
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.git_timeout_seconds, connect=5.0),
            follow_redirects=False,
            headers={"User-Agent": "ClaudeCloud"},
        )

    # OAuth

    def authorize_url(self, *, state: str, redirect_uri: str, challenge: str | None) -> str:
        """Where the browser goes to authorize (GitHub's ``/login/oauth/authorize``)."""
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.settings.git_scopes,
            "state": state,
            "allow_signup": "false",
        }
        if challenge is not None:
            query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        return f"{self.settings.git_authorize_url}?{urlencode(query)}"

    async def exchange_code(
        self, code: str, *, redirect_uri: str, verifier: str | None
    ) -> TokenGrant:
        form = {
            "client_id": self.client_id,
            "client_secret": self._secret(),
            "code": code,
            "redirect_uri": redirect_uri,
        }
        if verifier is not None:
            form["code_verifier"] = verifier
        return _grant(await self._token_call(form))

    async def start_device(self) -> DeviceCode:
        form = {"client_id": self.client_id, "scope": self.settings.git_scopes}
        body = await self._oauth_call(self.settings.git_device_code_url, form)
        try:
            return DeviceCode(
                device_code=SecretStr(str(body["device_code"])),
                user_code=str(body["user_code"]),
                verification_uri=str(body["verification_uri"]),
                expires_in=int(body["expires_in"]),
                interval=int(body.get("interval") or 5),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderUnreachable("the device code answer lacks its fields") from exc

    async def poll_device(self, device_code: SecretStr) -> TokenGrant:
        form = {
            "client_id": self.client_id,
            "device_code": device_code.get_secret_value(),
            "grant_type": DEVICE_GRANT,
        }
        return _grant(await self._token_call(form))

    async def refresh(self, refresh_token: SecretStr, *, device_grant: bool) -> TokenGrant:
        form = {
            "client_id": self.client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.get_secret_value(),
        }
        if not device_grant:  # GitHub: required unless the token came from the device flow
            form["client_secret"] = self._secret()
        return _grant(await self._token_call(form))

    async def revoke(self, access_token: SecretStr) -> None:
        """GitHub's ``DELETE /applications/{client_id}/token``: the token stops working. One the
        provider no longer knows (already revoked) counts as revoked."""
        url = f"{self._api()}/applications/{self.client_id}/token"
        response = await self._send(
            "DELETE",
            url,
            json={"access_token": access_token.get_secret_value()},
            auth=(self.client_id, self._secret()),
        )
        if response.status_code not in (204, 404):
            raise OAuthError("revoke_failed", f"the provider answered {response.status_code}")

    # REST

    async def account(self, access_token: SecretStr) -> Account:
        response = await self._send("GET", f"{self._api()}/user", headers=_rest(access_token))
        body = _json(response)
        if response.status_code == 401:
            raise OAuthError("bad_credentials", "the provider no longer accepts the token")
        if response.status_code != 200 or not isinstance(body, dict) or "login" not in body:
            raise ProviderUnreachable(f"GET /user answered {response.status_code}")
        scopes = response.headers.get("x-oauth-scopes")
        return Account(str(body["login"]), str(body.get("id", "")), scopes)

    async def repositories(
        self, access_token: SecretStr, *, page: int, per_page: int
    ) -> tuple[list[Repository], bool]:
        """One page of the user's repositories, most recently updated first, and whether more
        follow (the ``Link`` header's ``next``)."""
        params = {"sort": "updated", "per_page": str(per_page), "page": str(page)}
        response = await self._send(
            "GET", f"{self._api()}/user/repos", params=params, headers=_rest(access_token)
        )
        body = _json(response)
        if response.status_code == 401:
            raise OAuthError("bad_credentials", "the provider no longer accepts the token")
        if response.status_code != 200 or not isinstance(body, list):
            raise ProviderUnreachable(f"GET /user/repos answered {response.status_code}")
        more = bool(_NEXT_PAGE.search(response.headers.get("link", "")))
        return [_repository(item) for item in body if isinstance(item, dict)], more

    async def close(self) -> None:
        await self.http.aclose()

    # Plumbing

    def _api(self) -> str:
        return self.settings.git_api_url.rstrip("/")

    def _secret(self) -> str:
        secret = self.settings.git_client_secret
        return secret.get_secret_value() if secret is not None else ""

    async def _token_call(self, form: dict[str, str]) -> dict[str, Any]:
        return await self._oauth_call(self.settings.git_token_url, form)

    async def _oauth_call(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        response = await self._send("POST", url, data=form, headers={"Accept": "application/json"})
        body = _json(response)
        if not isinstance(body, dict):
            raise ProviderUnreachable(f"the provider answered {response.status_code}, not JSON")
        if "error" in body:
            raise OAuthError(
                str(body["error"]),
                str(body.get("error_description") or ""),
                _optional_int(body.get("interval")),
            )
        if response.status_code != 200:
            raise ProviderUnreachable(f"the provider answered {response.status_code}")
        return body

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(
                f"the provider did not answer ({type(exc).__name__})"
            ) from exc


def _rest(token: SecretStr) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token.get_secret_value()}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
    }


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _optional_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _grant(body: dict[str, Any]) -> TokenGrant:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ProviderUnreachable("the token answer has no access_token")
    refresh = body.get("refresh_token")
    return TokenGrant(
        access_token=SecretStr(token),
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        expires_in=_optional_int(body.get("expires_in")),
        refresh_token_expires_in=_optional_int(body.get("refresh_token_expires_in")),
        scope=str(body.get("scope") or ""),
    )


def _repository(item: dict[str, Any]) -> Repository:
    owner = item.get("owner") if isinstance(item.get("owner"), dict) else {}
    full_name = str(item.get("full_name") or "")
    return Repository(
        full_name=full_name,
        name=str(item.get("name") or full_name.rsplit("/", 1)[-1]),
        owner=str((owner or {}).get("login") or full_name.split("/", 1)[0]),
        private=bool(item.get("private")),
        default_branch=item.get("default_branch") or None,
        clone_url=str(item.get("clone_url") or ""),
        html_url=item.get("html_url") or None,
        description=item.get("description") or None,
    )

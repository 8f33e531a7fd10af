"""Claude credentials through the gateway, on real containers: the proxies' platform (the docker
provider, the stand-in ``claude`` image) with users of these tests' own."""

from __future__ import annotations

from tests.gateway.workspace.conftest import proxied, standin_engine

__all__ = ["proxied", "standin_engine"]

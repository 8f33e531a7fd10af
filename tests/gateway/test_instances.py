"""The instance API answering the provisioner's refusals (the real provisioner's rules), each
kind with its own error body."""

from __future__ import annotations

from uuid import uuid4

from claudecloud_common.contracts.instances import InstanceStatus

from .conftest import ADMIN_KEY, Gateway

ADMIN = {"X-API-Key": ADMIN_KEY}


async def test_a_second_create_and_waking_a_running_instance_are_different_409s(
    gateway: Gateway,
) -> None:
    token = await gateway.sign_in("ada@example.com")
    user = {"Authorization": f"Bearer {token}"}
    first = await gateway.client.post("/instances", headers=user)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "provisioning"
    instance_id = first.json()["id"]

    again = await gateway.client.post("/instances", headers=user)
    wake = await gateway.client.post(f"/instances/{instance_id}/wake", headers=user)

    assert again.status_code == 409
    assert again.json()["error"] == "InstanceAlreadyExists"
    assert again.json()["existing_instance_id"] == instance_id
    assert wake.status_code == 409
    assert wake.json()["error"] == "IllegalTransition"
    assert wake.json()["detail"].startswith(f"cannot wake instance {instance_id}: ")


async def test_the_openapi_document_declares_both_refusals(gateway: Gateway) -> None:
    document = (await gateway.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def refusals(path: str, method: str) -> set[str]:
        schema = document["paths"][path][method]["responses"]["409"]["content"]["application/json"][
            "schema"
        ]
        refs = [schema] if "$ref" in schema else schema["anyOf"]
        names = {ref["$ref"].rsplit("/", 1)[1] for ref in refs}
        return {schemas[name]["properties"]["error"]["const"] for name in names}

    assert refusals("/instances", "post") == {"InstanceAlreadyExists"}
    assert refusals("/instances/{instance_id}/wake", "post") == {"IllegalTransition"}
    assert "existing_instance_id" in schemas["InstanceAlreadyExists"]["properties"]


async def test_every_route_declares_its_error_bodies(gateway: Gateway) -> None:
    document = (await gateway.client.get("/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {s for s in operation["responses"] if s.startswith(("4", "5"))}
            assert errors, f"{method.upper()} {path} declares no error"
            for status in errors:
                content = operation["responses"][status].get("content")
                assert content, f"{method.upper()} {path} {status} has no body model"


async def test_someone_elses_instance_is_not_found(gateway: Gateway) -> None:
    instance_id = await gateway.instance(uuid4())
    token = await gateway.sign_in("eve@example.com")

    response = await gateway.client.post(
        f"/instances/{instance_id}/pause", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 404
    assert response.json()["error"] == "InstanceNotFound"
    assert await gateway.status(instance_id) is InstanceStatus.RUNNING


async def test_an_operator_pauses_any_instance(gateway: Gateway) -> None:
    owner = uuid4()
    instance_id = await gateway.instance(owner)

    response = await gateway.client.post(f"/instances/{instance_id}/pause", headers=ADMIN)

    assert response.status_code == 202
    assert response.json() == {"id": str(instance_id), "user_id": str(owner), "status": "pausing"}

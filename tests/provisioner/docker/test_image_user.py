"""The instance image's user is the uid the kubernetes provider runs pods as: a pod with
``runAsNonRoot`` must name a numeric user, since the kubelet cannot check a name is not root."""

from __future__ import annotations

import docker

from provisioner.settings import ProvisionerSettings

from .conftest import IMAGE


def test_the_images_user_is_the_pods_uid(engine: docker.DockerClient) -> None:
    output = engine.containers.run(IMAGE, ["id", "-u"], entrypoint="", remove=True)
    assert int(output.decode().strip()) == ProvisionerSettings().kubernetes_uid

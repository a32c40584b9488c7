"""Create a container group with a user-assigned identity through the Azure
SDK for Python (azure-mgmt-containerinstance), then read its instance view.

Run by tests/all/aci.rs in transparent mode (HTTPS_PROXY to azemu). Inputs:
AZEMU_IMAGE (an emulated-registry image), AZEMU_IDENTITY (a user-assigned
identity id with AcrPull on that registry).
"""

import os

from azure.identity import ClientSecretCredential
from azure.mgmt.containerinstance import ContainerInstanceManagementClient
from azure.mgmt.containerinstance.models import (
    Container,
    ContainerGroup,
    ContainerGroupIdentity,
    ImageRegistryCredential,
    ResourceRequests,
    ResourceRequirements,
    UserAssignedIdentities,
)

TENANT = "a2e0a2e0-0000-4000-8000-000000000001"
SUBSCRIPTION = "a2e0a2e0-0000-4000-8000-000000000002"
cred = ClientSecretCredential(TENANT, "a2e0a2e0-0000-4000-8000-000000000003", "azemu-well-known-secret-not-for-production")
client = ContainerInstanceManagementClient(cred, SUBSCRIPTION)

image = os.environ["AZEMU_IMAGE"]
identity = os.environ["AZEMU_IDENTITY"]
group = ContainerGroup(
    location="eastus",
    identity=ContainerGroupIdentity(type="UserAssigned", user_assigned_identities={identity: UserAssignedIdentities()}),
    os_type="Linux",
    containers=[
        Container(
            name="app",
            image=image,
            resources=ResourceRequirements(requests=ResourceRequests(cpu=1.0, memory_in_gb=1.5)),
        )
    ],
    image_registry_credentials=[ImageRegistryCredential(server=image.split("/")[0], identity=identity)],
)
poller = client.container_groups.begin_create_or_update("sdk", "sdk-group", group, polling_interval=0)
created = poller.result()
print("provisioning", created.provisioning_state)
got = client.container_groups.get("sdk", "sdk-group")
print("state", got.instance_view.state)
for event in got.containers[0].instance_view.events:
    print("event", event.name, event.type, event.message)

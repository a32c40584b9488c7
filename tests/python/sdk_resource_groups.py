"""Create, read, list and delete a resource group with the Azure SDK for Python.

Run by tests/all/python_sdk.rs against a running azemu. AZEMU_MODE=explicit
points the SDK at https://localhost:$AZEMU_PORT; AZEMU_MODE=transparent uses
the SDK's defaults (public Azure host names) through HTTPS_PROXY.
"""

import os
import sys

from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.core.exceptions import ResourceNotFoundError

TENANT = "a2e0a2e0-0000-4000-8000-000000000001"
SUBSCRIPTION = "a2e0a2e0-0000-4000-8000-000000000002"
CLIENT_ID = "a2e0a2e0-0000-4000-8000-000000000003"
SECRET = "azemu-well-known-secret-not-for-production"

mode = os.environ["AZEMU_MODE"]
if mode == "explicit":
    base = f"https://localhost:{os.environ['AZEMU_PORT']}"
    cred = ClientSecretCredential(TENANT, CLIENT_ID, SECRET, authority=base, disable_instance_discovery=True)
    client = ResourceManagementClient(
        cred, SUBSCRIPTION, base_url=base, credential_scopes=["https://management.azure.com/.default"]
    )
else:
    cred = ClientSecretCredential(TENANT, CLIENT_ID, SECRET)
    client = ResourceManagementClient(cred, SUBSCRIPTION)

rg = client.resource_groups.create_or_update("sdk-rg", {"location": "westeurope", "tags": {"by": "sdk"}})
print("created", rg.name, rg.properties.provisioning_state)
assert rg.tags == {"by": "sdk"}, rg.tags

got = client.resource_groups.get("sdk-rg")
assert got.id == f"/subscriptions/{SUBSCRIPTION}/resourceGroups/sdk-rg", got.id
assert any(g.name == "sdk-rg" for g in client.resource_groups.list())
assert client.resource_groups.check_existence("sdk-rg") is True

poller = client.resource_groups.begin_delete("sdk-rg", polling_interval=0)
poller.result()
assert poller.status() == "Succeeded", poller.status()
assert client.resource_groups.check_existence("sdk-rg") is False
try:
    client.resource_groups.get("sdk-rg")
    sys.exit("the group is still there")
except ResourceNotFoundError as e:
    assert e.error.code == "ResourceGroupNotFound", e.error.code
print("deleted sdk-rg")

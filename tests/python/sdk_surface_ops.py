"""Computed lists and actions through the Azure SDK for Python, printed as
JSON for tests/all/surface_ops.rs (transparent mode: HTTPS_PROXY to azemu).

Usage: sdk_surface_ops.py WHAT [ARGS…]
  aci_location LOCATION        ContainerInstanceManagementClient.location.*
  zone_peers LOCATION SUB…      SubscriptionClient.subscriptions.check_zone_peers
  vault_name NAME              KeyVaultManagementClient.vaults.check_name_availability
  permissions RG [RESOURCE]    AuthorizationManagementClient.permissions.*
AZEMU_CLIENT_ID/AZEMU_CLIENT_SECRET sign in as another principal.
An SDK error prints {"error": {"status": …, "code": …, "message": …}}.
"""

import json
import os
import sys

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential

TENANT = "a2e0a2e0-0000-4000-8000-000000000001"
SUBSCRIPTION = "a2e0a2e0-0000-4000-8000-000000000002"
cred = ClientSecretCredential(
    TENANT,
    os.environ.get("AZEMU_CLIENT_ID", "a2e0a2e0-0000-4000-8000-000000000003"),
    os.environ.get("AZEMU_CLIENT_SECRET", "azemu-well-known-secret-not-for-production"),
)


def items(pages):
    return [i.as_dict() for i in pages]


def aci_location(location):
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient

    c = ContainerInstanceManagementClient(cred, SUBSCRIPTION)
    return {
        "usage": items(c.location.list_usage(location)),
        "capabilities": items(c.location.list_capabilities(location)),
        "cachedImages": items(c.location.list_cached_images(location)),
    }


def zone_peers(location, *subs):
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    c = SubscriptionClient(cred)
    body = {"location": location, "subscriptionIds": [f"subscriptions/{s}" for s in subs]}
    return c.subscriptions.check_zone_peers(SUBSCRIPTION, body).as_dict()


def vault_name(name):
    from azure.mgmt.keyvault import KeyVaultManagementClient

    c = KeyVaultManagementClient(cred, SUBSCRIPTION)
    return c.vaults.check_name_availability({"name": name, "type": "Microsoft.KeyVault/vaults"}).as_dict()


def permissions(group, resource=None):
    from azure.mgmt.authorization import AuthorizationManagementClient

    c = AuthorizationManagementClient(cred, SUBSCRIPTION, api_version="2022-04-01")
    if resource:
        ns, ty, name = resource.split("/")
        return items(c.permissions.list_for_resource(group, ns, "", ty, name))
    return items(c.permissions.list_for_resource_group(group))


try:
    out = globals()[sys.argv[1]](*sys.argv[2:])
except HttpResponseError as e:
    out = {"error": {"status": e.status_code, "code": e.error.code if e.error else None, "message": e.error.message if e.error else str(e)}}
print(json.dumps(out))

"""The first seed flow (deploy to ACI from ACR with a user-assigned identity)
through the `azemu` fixture, with az and with the Azure SDK for Python."""

import subprocess

import pytest

RG = "myResourceGroup"
IMAGE = "myacr.azurecr.io/hello-world:v1"


def identity_id(azemu):
    return azemu.az("identity", "show", "-g", RG, "-n", "myACRId", "--query", "id")


def test_az_runs_the_seed_command(azemu):
    userid = identity_id(azemu)
    group = azemu.az(
        "container", "create", "--name", "my-containergroup", "--resource-group", RG,
        "--image", IMAGE, "--acr-identity", userid, "--assign-identity", userid,
        "--ports", "80", "--dns-name-label", "wheel-demo",
    )
    assert group["provisioningState"] == "Succeeded"
    assert group["instanceView"]["state"] == "Running"
    assert group["ipAddress"]["fqdn"] == "wheel-demo.eastus.azurecontainer.io"


def test_the_sdk_runs_a_group_with_the_ready_made_credential(azemu):
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.containerinstance.models import (
        Container, ContainerGroup, ContainerGroupIdentity, ImageRegistryCredential,
        ResourceRequests, ResourceRequirements, UserAssignedIdentities,
    )

    userid = identity_id(azemu)
    client = ContainerInstanceManagementClient(azemu.credential(), azemu.subscription_id, **azemu.sdk_kwargs())
    group = ContainerGroup(
        location="eastus",
        identity=ContainerGroupIdentity(type="UserAssigned", user_assigned_identities={userid: UserAssignedIdentities()}),
        os_type="Linux",
        containers=[Container(name="app", image=IMAGE,
                              resources=ResourceRequirements(requests=ResourceRequests(cpu=1.0, memory_in_gb=1.5)))],
        image_registry_credentials=[ImageRegistryCredential(server="myacr.azurecr.io", identity=userid)],
    )
    created = client.container_groups.begin_create_or_update(RG, "sdk-group", group, polling_interval=0).result()
    assert created.provisioning_state == "Succeeded"
    assert client.container_groups.get(RG, "sdk-group").instance_view.state == "Running"


def test_without_acrpull_the_pull_fails_as_aci_says(azemu_function):
    """A test's own emulator: a second identity, never granted AcrPull."""
    other = azemu_function.az("identity", "create", "-g", RG, "-n", "no-pull")["id"]
    with pytest.raises(subprocess.CalledProcessError) as failed:
        azemu_function.az(
            "container", "create", "-n", "denied", "-g", RG, "--image", IMAGE,
            "--acr-identity", other, "--assign-identity", other,
        )
    assert (
        "(InaccessibleImage) The image 'myacr.azurecr.io/hello-world:v1' in container group 'denied' "
        "is not accessible. Please check the image and registry credential." in failed.value.stderr
    )


def test_each_function_emulator_is_its_own(azemu, azemu_function):
    azemu_function.az("group", "create", "-n", "only-here", "-l", "eastus", output=None)
    assert [g["name"] for g in azemu_function.az("group", "list")].count("only-here") == 1
    assert "only-here" not in [g["name"] for g in azemu.az("group", "list")]
    assert azemu_function.port != azemu.port


def test_env_points_subprocesses_at_the_emulator(azemu):
    env = azemu.env()
    assert env["HTTPS_PROXY"] == azemu.proxy
    assert env["REQUESTS_CA_BUNDLE"] == str(azemu.bundle_path.resolve())
    assert env["AZURE_SUBSCRIPTION_ID"] == azemu.subscription_id
    assert azemu.ca_path.read_text().startswith("-----BEGIN CERTIFICATE-----")

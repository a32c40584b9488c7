//! Every ARM operation the emulator serves is called twice here: without a
//! token (401) and as a principal that holds no role (403, or an empty list
//! where ARM filters lists by access). The emulator publishes its operations
//! at `/_emulator/routes`; any it serves without a case below is written to
//! `fixtures/golden/arm-routes-without-authz-test.txt`, which must stay empty.

use crate::harness::{Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};

/// (operation as published, concrete path, expected status for a principal with no role).
fn cases(rg_scope: &str) -> Vec<(&'static str, String, u16)> {
    let s = format!("/subscriptions/{SUBSCRIPTION}");
    let rg = format!("{s}/resourcegroups/rg1");
    let mi = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities");
    let ra = format!("{rg_scope}/providers/Microsoft.Authorization/roleAssignments");
    let perms = format!("{rg_scope}/providers/Microsoft.Authorization/permissions");
    let rd = format!("{rg_scope}/providers/Microsoft.Authorization/roleDefinitions");
    let guid = "6b8c9f2e-1111-4222-8333-944444444444";
    let acr = format!("{rg}/providers/Microsoft.ContainerRegistry/registries");
    let cg = format!("{rg}/providers/Microsoft.ContainerInstance/containerGroups");
    let vn = format!("{rg}/providers/Microsoft.Network/virtualNetworks");
    let rgp = format!("{rg}/providers");
    let dep = format!("{rg}/providers/Microsoft.Resources/deployments/d1");
    let sdep = format!("{s}/providers/Microsoft.Resources/deployments/d1");
    vec![
        ("GET /subscriptions", "/subscriptions".into(), 200),
        ("GET /tenants", "/tenants".into(), 200),
        // Provider metadata: any signed-in caller reads it (no RBAC action).
        ("GET /providers", "/providers".into(), 200),
        (
            "GET /providers/{ns}",
            "/providers/Microsoft.Network".into(),
            200,
        ),
        (
            "GET /providers/{ns}/operations",
            "/providers/Microsoft.Network/operations".into(),
            200,
        ),
        // What the caller may do: asked about itself, no role needed (none here).
        (
            "GET {scope}/providers/Microsoft.Authorization/permissions",
            perms,
            200,
        ),
        ("GET /subscriptions/{sub}", s.clone(), 403),
        (
            "GET /subscriptions/{sub}/locations",
            format!("{s}/locations"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups",
            format!("{s}/resourcegroups"),
            200,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}",
            rg.clone(),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}",
            rg.clone(),
            403,
        ),
        (
            "HEAD /subscriptions/{sub}/resourcegroups/{rg}",
            rg.clone(),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}",
            rg.clone(),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}",
            rg.clone(),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/exportTemplate",
            format!("{rg}/exportTemplate"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resources",
            format!("{s}/resources"),
            200,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/resources",
            format!("{rg}/resources"),
            200,
        ),
        (
            "GET /subscriptions/{sub}/providers",
            format!("{s}/providers"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/providers/{ns}",
            format!("{s}/providers/Microsoft.ManagedIdentity"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/providers/{ns}/register",
            format!("{s}/providers/Microsoft.ManagedIdentity/register"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/providers/{ns}/unregister",
            format!("{s}/providers/Microsoft.ManagedIdentity/unregister"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/operationresults/{op}",
            format!("{s}/operationresults/nope"),
            404,
        ),
        (
            "GET /subscriptions/{sub}/providers/{ns}/locations/{loc}/operationStatuses/{op}",
            format!(
                "{s}/providers/Microsoft.Resources/locations/westeurope/operationStatuses/nope"
            ),
            404,
        ),
        (
            "GET /subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
            format!("{s}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
            mi.clone(),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            format!("{mi}/id1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            format!("{mi}/id1"),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            format!("{mi}/id1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            format!("{mi}/id1"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/providers/Microsoft.ContainerRegistry/checkNameAvailability",
            format!("{s}/providers/Microsoft.ContainerRegistry/checkNameAvailability"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/providers/Microsoft.ContainerRegistry/registries",
            format!("{s}/providers/Microsoft.ContainerRegistry/registries"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries",
            acr.clone(),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
            format!("{acr}/authzreg1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
            format!("{acr}/authzreg1"),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
            format!("{acr}/authzreg1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
            format!("{acr}/authzreg1"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/listCredentials",
            format!("{acr}/authzreg1/listCredentials"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/regenerateCredential",
            format!("{acr}/authzreg1/regenerateCredential"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps",
            format!("{acr}/authzreg1/scopeMaps"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
            format!("{acr}/authzreg1/scopeMaps/m1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
            format!("{acr}/authzreg1/scopeMaps/m1"),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
            format!("{acr}/authzreg1/scopeMaps/m1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scopeMaps/{map}",
            format!("{acr}/authzreg1/scopeMaps/m1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens",
            format!("{acr}/authzreg1/tokens"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
            format!("{acr}/authzreg1/tokens/t1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
            format!("{acr}/authzreg1/tokens/t1"),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
            format!("{acr}/authzreg1/tokens/t1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tokens/{token}",
            format!("{acr}/authzreg1/tokens/t1"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/generateCredentials",
            format!("{acr}/authzreg1/generateCredentials"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/providers/Microsoft.ContainerInstance/containerGroups",
            format!("{s}/providers/Microsoft.ContainerInstance/containerGroups"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups",
            cg.clone(),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
            format!("{cg}/cg1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
            format!("{cg}/cg1"),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
            format!("{cg}/cg1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
            format!("{cg}/cg1"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/start",
            format!("{cg}/cg1/start"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/stop",
            format!("{cg}/cg1/stop"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/restart",
            format!("{cg}/cg1/restart"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}/containers/{container}/logs",
            format!("{cg}/cg1/containers/c1/logs"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/providers/Microsoft.Network/virtualNetworks",
            format!("{s}/providers/Microsoft.Network/virtualNetworks"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks",
            vn.clone(),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}",
            format!("{vn}/v1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}",
            format!("{vn}/v1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}",
            format!("{vn}/v1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets",
            format!("{vn}/v1/subnets"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets/{subnet}",
            format!("{vn}/v1/subnets/s1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets/{subnet}",
            format!("{vn}/v1/subnets/s1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/subnets/{subnet}",
            format!("{vn}/v1/subnets/s1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints",
            format!("{rgp}/Microsoft.Network/privateEndpoints"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}",
            format!("{rgp}/Microsoft.Network/privateEndpoints/pe1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}",
            format!("{rgp}/Microsoft.Network/privateEndpoints/pe1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}",
            format!("{rgp}/Microsoft.Network/privateEndpoints/pe1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones",
            format!("{rgp}/Microsoft.Network/privateDnsZones"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}",
            format!("{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}",
            format!("{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}",
            format!("{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks/{link}",
            format!(
                "{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/virtualNetworkLinks/l1"
            ),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks/{link}",
            format!(
                "{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/virtualNetworkLinks/l1"
            ),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks/{link}",
            format!(
                "{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/virtualNetworkLinks/l1"
            ),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A/{record}",
            format!("{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/A/r1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A/{record}",
            format!("{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/A/r1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A/{record}",
            format!("{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/A/r1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections",
            format!("{acr}/authzreg1/privateEndpointConnections"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections/{connection}",
            format!("{acr}/authzreg1/privateEndpointConnections/c1"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections/{connection}",
            format!("{acr}/authzreg1/privateEndpointConnections/c1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateEndpointConnections/{connection}",
            format!("{acr}/authzreg1/privateEndpointConnections/c1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/privateLinkResources",
            format!("{acr}/authzreg1/privateLinkResources"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/virtualNetworkPeerings/{peering}",
            format!("{vn}/v1/virtualNetworkPeerings/p1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/virtualNetworkPeerings/{peering}",
            format!("{vn}/v1/virtualNetworkPeerings/p1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}/virtualNetworkPeerings/{peering}",
            format!("{vn}/v1/virtualNetworkPeerings/p1"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}/privateDnsZoneGroups/{group}",
            format!("{rgp}/Microsoft.Network/privateEndpoints/pe1/privateDnsZoneGroups/g1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}/privateDnsZoneGroups/{group}",
            format!("{rgp}/Microsoft.Network/privateEndpoints/pe1/privateDnsZoneGroups/g1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}/privateDnsZoneGroups/{group}",
            format!("{rgp}/Microsoft.Network/privateEndpoints/pe1/privateDnsZoneGroups/g1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/A",
            format!("{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/A"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks",
            format!(
                "{rgp}/Microsoft.Network/privateDnsZones/privatelink.azurecr.io/virtualNetworkLinks"
            ),
            403,
        ),
        (
            "GET {scope}/providers/Microsoft.Authorization/roleAssignments",
            ra.clone(),
            403,
        ),
        (
            "PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
            format!("{ra}/{guid}"),
            403,
        ),
        (
            "GET {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
            format!("{ra}/{guid}"),
            403,
        ),
        (
            "DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
            format!("{ra}/{guid}"),
            403,
        ),
        (
            "GET {scope}/providers/Microsoft.Authorization/roleDefinitions",
            rd.clone(),
            403,
        ),
        (
            "PUT {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            format!("{rd}/{guid}"),
            403,
        ),
        (
            "GET {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            format!("{rd}/{guid}"),
            403,
        ),
        (
            "DELETE {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            format!("{rd}/{guid}"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks",
            format!("{acr}/authzreg1/tasks"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
            format!("{acr}/authzreg1/tasks/task1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
            format!("{acr}/authzreg1/tasks/task1"),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
            format!("{acr}/authzreg1/tasks/task1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}",
            format!("{acr}/authzreg1/tasks/task1"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/tasks/{task}/listDetails",
            format!("{acr}/authzreg1/tasks/task1/listDetails"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scheduleRun",
            format!("{acr}/authzreg1/scheduleRun"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/listBuildSourceUploadUrl",
            format!("{acr}/authzreg1/listBuildSourceUploadUrl"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs",
            format!("{acr}/authzreg1/runs"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}",
            format!("{acr}/authzreg1/runs/ca1"),
            403,
        ),
        (
            "PATCH /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}",
            format!("{acr}/authzreg1/runs/ca1"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}/cancel",
            format!("{acr}/authzreg1/runs/ca1/cancel"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/runs/{run}/listLogSasUrl",
            format!("{acr}/authzreg1/runs/ca1/listLogSasUrl"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns",
            format!("{acr}/authzreg1/taskRuns"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}",
            format!("{acr}/authzreg1/taskRuns/tr1"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}",
            format!("{acr}/authzreg1/taskRuns/tr1"),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}",
            format!("{acr}/authzreg1/taskRuns/tr1"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/taskRuns/{taskRun}/listDetails",
            format!("{acr}/authzreg1/taskRuns/tr1/listDetails"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments",
            format!("{rg}/providers/Microsoft.Resources/deployments"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
            dep.clone(),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
            dep.clone(),
            403,
        ),
        (
            "HEAD /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
            dep.clone(),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
            dep.clone(),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/validate",
            format!("{dep}/validate"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/whatIf",
            format!("{dep}/whatIf"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/cancel",
            format!("{dep}/cancel"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}/exportTemplate",
            format!("{dep}/exportTemplate"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/deployments/{name}/operations",
            format!("{rg}/deployments/d1/operations"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/resourcegroups/{rg}/deployments/{name}/operations/{op}",
            format!("{rg}/deployments/d1/operations/08584"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/providers/Microsoft.Resources/deployments",
            format!("{s}/providers/Microsoft.Resources/deployments"),
            403,
        ),
        (
            "PUT /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}",
            sdep.clone(),
            403,
        ),
        (
            "GET /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}",
            sdep.clone(),
            403,
        ),
        (
            "DELETE /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}",
            sdep.clone(),
            403,
        ),
        (
            "POST /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/validate",
            format!("{sdep}/validate"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/whatIf",
            format!("{sdep}/whatIf"),
            403,
        ),
        (
            "POST /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/cancel",
            format!("{sdep}/cancel"),
            403,
        ),
        (
            "GET /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/operations",
            format!("{sdep}/operations"),
            403,
        ),
    ]
}

/// An api-version the operation (as `/_emulator/routes` publishes it) is served with.
pub(crate) fn api_version(op: &str) -> &'static str {
    if op.contains("Microsoft.Authorization") {
        "2022-04-01"
    } else if op.contains("privateDnsZones") {
        "2018-09-01"
    } else if op.contains("Microsoft.Network") {
        "2024-05-01"
    } else if op.contains("ContainerInstance") {
        "2023-05-01"
    } else if op.contains("ContainerRegistry") {
        "2023-07-01"
    } else if op.contains("ManagedIdentity/") {
        "2023-01-31"
    } else {
        "2024-07-01"
    }
}

fn body_for(op: &str) -> Option<Value> {
    let method = op.split(' ').next().unwrap_or_default();
    match method {
        "PUT" | "PATCH" if op.contains("roleAssignments") => Some(json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"),
            "principalId": "a2e0a2e0-0000-4000-8000-000000000004",
        }})),
        "PUT" if op.contains("roleDefinitions") => Some(json!({"properties": {
            "roleName": "custom", "assignableScopes": [format!("/subscriptions/{SUBSCRIPTION}")],
            "permissions": [{"actions": ["*/read"]}],
        }})),
        "PUT" | "PATCH" if op.contains("registries") => {
            Some(json!({"location": "westeurope", "sku": {"name": "Premium"}}))
        }
        "POST" if op.contains("checkNameAvailability") => {
            Some(json!({"name": "authzreg1", "type": "Microsoft.ContainerRegistry/registries"}))
        }
        "PUT" | "PATCH" => Some(json!({"location": "westeurope"})),
        _ => None,
    }
}

#[tokio::test]
async fn every_arm_route_refuses_no_token_and_no_role() {
    let em = Emulator::start();
    let http = em.http();
    let owner = em.arm_token().await;
    // Something to find: a group, an identity in it.
    let s = format!("/subscriptions/{SUBSCRIPTION}");
    for (path, body) in [
        (
            format!("{s}/resourcegroups/rg1?api-version=2024-07-01"),
            json!({"location": "westeurope"}),
        ),
        (
            format!(
                "{s}/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1?api-version=2023-01-31"
            ),
            json!({"location": "westeurope"}),
        ),
        (
            format!(
                "{s}/resourcegroups/rg1/providers/Microsoft.ContainerRegistry/registries/authzreg1?api-version=2023-07-01"
            ),
            json!({"location": "westeurope", "sku": {"name": "Premium"}}),
        ),
    ] {
        let r = http
            .put(format!("{}{path}", em.base()))
            .bearer_auth(&owner)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    let nobody = em.new_principal().await.token;

    let served: Value = http
        .get(format!("{}/_emulator/routes", em.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served: Vec<String> = served["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let scopes = [
        s.clone(),
        format!("{s}/resourceGroups/rg1"),
        format!(
            "{s}/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
        ),
        format!(
            "{s}/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/authzreg1"
        ),
    ];
    let mut covered = std::collections::BTreeSet::new();
    for scope in &scopes {
        for (op, path, expected) in cases(scope) {
            covered.insert(op);
            let method: Method = op.split(' ').next().unwrap().parse().unwrap();
            let version = api_version(op);
            let url = format!("{}{path}?api-version={version}", em.base());
            for (who, token, want) in [
                ("no token", None, 401u16),
                ("no role", Some(&nobody), expected),
            ] {
                let mut req = http.request(method.clone(), &url);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                if let Some(b) = body_for(op) {
                    req = req.json(&b);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                assert_eq!(status, want, "{op} at {path} with {who}: {text}");
                if status >= 400 && method != Method::HEAD {
                    let v: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|_| panic!("{op}: ARM error JSON: {text}"));
                    assert!(v["error"]["code"].is_string(), "{op}: {text}");
                }
                if status == 200
                    && who == "no role"
                    && v_value_len(&text) > 0
                    && !op.contains("/tenants")
                    && !op.starts_with("GET /providers")
                {
                    panic!("{op}: a principal with no role sees {text}");
                }
            }
        }
    }
    let untested: Vec<&String> = served
        .iter()
        .filter(|op| !covered.contains(op.as_str()))
        .collect();
    let listed: String = untested.iter().map(|s| format!("{s}\n")).collect();
    let golden_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden/arm-routes-without-authz-test.txt");
    let golden = std::fs::read_to_string(&golden_path).unwrap();
    assert_eq!(
        listed, golden,
        "ARM routes without a no-token/no-role case (update the cases, not the golden file)"
    );
    assert!(golden.is_empty());
}

fn v_value_len(text: &str) -> usize {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["value"].as_array().map(Vec::len))
        .unwrap_or(0)
}

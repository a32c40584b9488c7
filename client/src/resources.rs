//! Typed views of the resource types azemu emulates: the fields a caller
//! reads most, typed; everything else kept as it came (`other`, and the
//! properties' own `other`), so nothing ARM returns is lost.
//!
//! ```no_run
//! # async fn demo(client: &azemu_client::Client, id: &str) -> Result<(), azemu_client::Error> {
//! use azemu_client::resources::Registry;
//! let reg: Registry = client.get_typed(id).await?.expect("exists");
//! println!("{}", reg.properties.login_server);
//! # Ok(()) }
//! ```

use crate::{Client, Error};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A resource type: its ARM type name and the api-version the client uses.
pub trait ArmResource: DeserializeOwned {
    const TYPE: &'static str;
    const API_VERSION: &'static str;
}

/// An ARM resource with typed properties `P`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Resource<P> {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Option<Map<String, Value>>,
    #[serde(default)]
    pub identity: Option<Value>,
    #[serde(default)]
    pub sku: Option<Value>,
    pub properties: P,
    /// Every other top-level field (systemData, etag, kind, zones, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

macro_rules! properties {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty = $wire:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize, Serialize)]
        pub struct $name {
            $($(#[$fdoc])* #[serde(rename = $wire, default)] pub $field: $ty,)*
            /// The properties not typed here.
            #[serde(flatten)]
            pub other: Map<String, Value>,
        }
    };
}

macro_rules! resource {
    ($(#[$doc:meta])* $alias:ident = $props:ident, $ty:literal, $api:literal) => {
        $(#[$doc])*
        pub type $alias = Resource<$props>;
        impl ArmResource for $alias {
            const TYPE: &'static str = $ty;
            const API_VERSION: &'static str = $api;
        }
    };
}

properties!(IdentityProperties {
    principal_id: String = "principalId",
    client_id: String = "clientId",
    tenant_id: String = "tenantId",
});
resource!(
    /// `Microsoft.ManagedIdentity/userAssignedIdentities`
    Identity = IdentityProperties, "Microsoft.ManagedIdentity/userAssignedIdentities", "2023-01-31"
);

properties!(RoleAssignmentProperties {
    role_definition_id: String = "roleDefinitionId",
    principal_id: String = "principalId",
    principal_type: Option<String> = "principalType",
    scope: String = "scope",
    condition: Option<String> = "condition",
});
resource!(
    /// `Microsoft.Authorization/roleAssignments`
    RoleAssignment = RoleAssignmentProperties, "Microsoft.Authorization/roleAssignments", "2022-04-01"
);

properties!(RoleDefinitionProperties {
    role_name: String = "roleName",
    role_type: String = "type",
    permissions: Vec<Value> = "permissions",
    assignable_scopes: Vec<String> = "assignableScopes",
});
resource!(
    /// `Microsoft.Authorization/roleDefinitions`
    RoleDefinition = RoleDefinitionProperties, "Microsoft.Authorization/roleDefinitions", "2022-04-01"
);

properties!(RegistryProperties {
    login_server: String = "loginServer",
    provisioning_state: String = "provisioningState",
    admin_user_enabled: bool = "adminUserEnabled",
    public_network_access: Option<String> = "publicNetworkAccess",
    network_rule_bypass_options: Option<String> = "networkRuleBypassOptions",
    network_rule_set: Option<Value> = "networkRuleSet",
    private_endpoint_connections: Vec<Value> = "privateEndpointConnections",
});
resource!(
    /// `Microsoft.ContainerRegistry/registries`
    Registry = RegistryProperties, "Microsoft.ContainerRegistry/registries", "2023-07-01"
);

properties!(TaskProperties {
    provisioning_state: String = "provisioningState",
    status: String = "status",
    platform: Option<Value> = "platform",
    step: Option<Value> = "step",
    credentials: Option<Value> = "credentials",
});
resource!(
    /// `Microsoft.ContainerRegistry/registries/tasks`
    Task = TaskProperties, "Microsoft.ContainerRegistry/registries/tasks", "2019-06-01-preview"
);

properties!(RunProperties {
    run_id: String = "runId",
    status: String = "status",
    run_type: Option<String> = "runType",
    task: Option<String> = "task",
    output_images: Vec<Value> = "outputImages",
});
resource!(
    /// `Microsoft.ContainerRegistry/registries/runs`
    Run = RunProperties, "Microsoft.ContainerRegistry/registries/runs", "2019-06-01-preview"
);

/// A container's instance view: its state and events.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct InstanceView {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, rename = "currentState")]
    pub current_state: Option<Value>,
    #[serde(default)]
    pub events: Vec<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

properties!(ContainerProperties {
    image: String = "image",
    ports: Vec<Value> = "ports",
    environment_variables: Vec<Value> = "environmentVariables",
    resources: Option<Value> = "resources",
    instance_view: Option<InstanceView> = "instanceView",
});

/// One container of a group.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Container {
    pub name: String,
    pub properties: ContainerProperties,
}

properties!(ContainerGroupProperties {
    provisioning_state: String = "provisioningState",
    os_type: String = "osType",
    containers: Vec<Container> = "containers",
    image_registry_credentials: Vec<Value> = "imageRegistryCredentials",
    ip_address: Option<Value> = "ipAddress",
    subnet_ids: Vec<Value> = "subnetIds",
    instance_view: Option<InstanceView> = "instanceView",
});
resource!(
    /// `Microsoft.ContainerInstance/containerGroups`
    ContainerGroup = ContainerGroupProperties, "Microsoft.ContainerInstance/containerGroups", "2023-05-01"
);

properties!(VirtualNetworkProperties {
    provisioning_state: String = "provisioningState",
    address_space: Option<Value> = "addressSpace",
    subnets: Vec<Value> = "subnets",
    virtual_network_peerings: Vec<Value> = "virtualNetworkPeerings",
});
resource!(
    /// `Microsoft.Network/virtualNetworks`
    VirtualNetwork = VirtualNetworkProperties, "Microsoft.Network/virtualNetworks", "2024-05-01"
);

properties!(SubnetProperties {
    provisioning_state: String = "provisioningState",
    address_prefix: Option<String> = "addressPrefix",
    address_prefixes: Vec<String> = "addressPrefixes",
    delegations: Vec<Value> = "delegations",
    private_endpoint_network_policies: Option<String> = "privateEndpointNetworkPolicies",
});
resource!(
    /// `Microsoft.Network/virtualNetworks/subnets`
    Subnet = SubnetProperties, "Microsoft.Network/virtualNetworks/subnets", "2024-05-01"
);

properties!(PrivateEndpointProperties {
    provisioning_state: String = "provisioningState",
    subnet: Option<Value> = "subnet",
    private_link_service_connections: Vec<Value> = "privateLinkServiceConnections",
    manual_private_link_service_connections: Vec<Value> = "manualPrivateLinkServiceConnections",
    custom_dns_configs: Vec<Value> = "customDnsConfigs",
});
resource!(
    /// `Microsoft.Network/privateEndpoints`
    PrivateEndpoint = PrivateEndpointProperties, "Microsoft.Network/privateEndpoints", "2024-05-01"
);

properties!(PrivateDnsZoneProperties {
    provisioning_state: String = "provisioningState",
    number_of_record_sets: Option<u64> = "numberOfRecordSets",
});
resource!(
    /// `Microsoft.Network/privateDnsZones`
    PrivateDnsZone = PrivateDnsZoneProperties, "Microsoft.Network/privateDnsZones", "2024-06-01"
);

properties!(DeploymentProperties {
    provisioning_state: String = "provisioningState",
    mode: Option<String> = "mode",
    outputs: Option<Value> = "outputs",
    output_resources: Vec<Value> = "outputResources",
    error: Option<Value> = "error",
});
resource!(
    /// `Microsoft.Resources/deployments`
    Deployment = DeploymentProperties, "Microsoft.Resources/deployments", "2024-07-01"
);

fn typed<T: DeserializeOwned>(v: Value) -> Result<T, Error> {
    serde_json::from_value(v.clone()).map_err(|e| Error::Protocol(format!("{e}: {v}")))
}

impl Client {
    /// `GET` a resource as `T` (`None`: 404).
    pub async fn get_typed<T: ArmResource>(&self, id: &str) -> Result<Option<T>, Error> {
        match self.get_resource(id, T::API_VERSION).await? {
            Some(v) => typed(v).map(Some),
            None => Ok(None),
        }
    }

    /// `PUT` a resource and wait for it; the result as `T`.
    pub async fn put_typed<T: ArmResource>(&self, id: &str, body: &Value) -> Result<T, Error> {
        typed(self.put_resource(id, T::API_VERSION, body).await?)
    }

    /// Every `T` in a collection (`{scope}/providers/{namespace}/{type}`, or a
    /// child collection such as `{registry}/runs`), page by page.
    pub async fn list_typed<T: ArmResource>(&self, collection: &str) -> Result<Vec<T>, Error> {
        self.list_all(&self.arm_url(collection, T::API_VERSION))
            .await
    }
}

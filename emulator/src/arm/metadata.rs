//! `GET /metadata/endpoints?api-version=…`: the cloud description `az cloud register`
//! and `ARM_CLOUD_METADATA_URL` read. Three shapes, by api-version:
//! - `2022-09-01` and other recent versions: one cloud object;
//! - `2019-05-01`: an array of clouds;
//! - `1.0` / `2015-01-01`: the legacy object.
//!
//! When a client reached us as `management.azure.com` (transparent mode) the
//! document describes AzureCloud itself; when it came directly (`localhost:8443`)
//! every endpoint points back at that host.

use super::error::ArmError;
use crate::web::BaseUrl;
use axum::Json;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

fn is_public_arm_host(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    h == "management.azure.com" || h == "management.core.windows.net"
}

pub fn cloud(base: &BaseUrl) -> Value {
    let public = is_public_arm_host(base.host());
    let me = format!("{}/", base.0);
    let (name, login, graph) = if public {
        (
            "AzureCloud",
            "https://login.microsoftonline.com".to_string(),
            "https://graph.microsoft.com/".to_string(),
        )
    } else {
        ("azemu", me.clone(), me.clone())
    };
    json!({
        "portal": "https://portal.azure.com",
        "authentication": {
            "loginEndpoint": login,
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "media": "https://rest.media.azure.net",
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "name": name,
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net"
        },
        "batch": "https://batch.core.windows.net/",
        "resourceManager": me,
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "microsoftGraphResourceId": graph,
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrDbmsResourceId": "https://ossrdbms-aad.database.windows.net"
    })
}

/// `GET /metadata/endpoints`
pub async fn endpoints(base: BaseUrl, Query(q): Query<HashMap<String, String>>) -> Response {
    let version = q
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.as_str());
    let Some(version) = version else {
        return ArmError::missing_api_version().into_response();
    };
    if version.parse::<super::ApiVersion>().is_err() {
        let supported =
            super::api_version::supported_versions("Microsoft.Resources/metadata").join(",");
        return ArmError::invalid_api_version(version, &supported).into_response();
    }
    let c = cloud(&base);
    match version {
        "1.0" | "2015-01-01" => Json(json!({
            "galleryEndpoint": "https://gallery.azure.com/",
            "graphEndpoint": "https://graph.windows.net/",
            "portalEndpoint": "https://portal.azure.com/",
            "authentication": {"loginEndpoint": c["authentication"]["loginEndpoint"], "audiences": c["authentication"]["audiences"]}
        }))
        .into_response(),
        v if v < "2022-09-01" => Json(json!([c])).into_response(),
        _ => Json(c).into_response(),
    }
}

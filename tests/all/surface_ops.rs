//! The operations beside the resources: the subscription's locations, the
//! provider types' locations, and the lists and actions Azure computes
//! (ACI location usage and capabilities, NRP's private-endpoint types and
//! subnet links, zone peers, Key Vault's deleted vaults, RBAC permissions).

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn az_account_list_locations_lists_the_regions_in_azures_shape() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Explicit).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let list = az.json(&["account", "list-locations"]).await;
    let list = list.as_array().unwrap();
    let eastus = list.iter().find(|l| l["name"] == "eastus").unwrap();
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    assert_eq!(eastus["id"], format!("{sub}/locations/eastus"));
    assert_eq!(eastus["displayName"], "East US");
    assert_eq!(eastus["regionalDisplayName"], "(US) East US");
    assert_eq!(eastus["type"], "Region");
    let m = &eastus["metadata"];
    assert_eq!(
        (
            &m["regionType"],
            &m["regionCategory"],
            &m["geography"],
            &m["geographyGroup"]
        ),
        (
            &json!("Physical"),
            &json!("Recommended"),
            &json!("United States"),
            &json!("US")
        )
    );
    assert_eq!(
        (&m["longitude"], &m["latitude"]),
        (&json!("-79.8164"), &json!("37.3719"))
    );
    assert_eq!(m["physicalLocation"], "Virginia");
    assert_eq!(m["pairedRegion"][0]["name"], "westus");
    assert_eq!(
        m["pairedRegion"][0]["id"],
        format!("{sub}/locations/westus")
    );
    // A script's usual query: the names.
    let names = az
        .json(&["account", "list-locations", "--query", "[].name"])
        .await;
    assert!(names.as_array().unwrap().contains(&json!("westeurope")));

    // The provider types list their regions by display name, as Azure does.
    let aci = az
        .json(&["provider", "show", "-n", "Microsoft.ContainerInstance"])
        .await;
    let types = aci["resourceTypes"].as_array().unwrap();
    let groups = types
        .iter()
        .find(|t| t["resourceType"] == "containerGroups")
        .unwrap();
    assert!(
        groups["locations"]
            .as_array()
            .unwrap()
            .contains(&json!("East US")),
        "{groups}"
    );
    let ops = types
        .iter()
        .find(|t| t["resourceType"] == "operations")
        .unwrap();
    assert_eq!(ops["locations"], json!([]));
}

#[tokio::test]
async fn locations_by_api_version_and_refused_without_a_role() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let path = format!("/subscriptions/{SUBSCRIPTION}/locations");
    // The 2019-11-01 shape (azure-cli's recording): no type, geography or zones.
    let (s, old) = em
        .arm(
            &token,
            Method::GET,
            &format!("{path}?api-version=2019-11-01"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{old}");
    let westus = old["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "westus")
        .unwrap();
    assert_eq!(
        westus,
        &json!({
            "id": format!("/subscriptions/{SUBSCRIPTION}/locations/westus"),
            "name": "westus", "displayName": "West US", "regionalDisplayName": "(US) West US",
            "metadata": {
                "regionType": "Physical", "regionCategory": "Other", "geographyGroup": "US",
                "longitude": "-122.417", "latitude": "37.783", "physicalLocation": "California",
                "pairedRegion": [{"name": "eastus", "id": format!("/subscriptions/{SUBSCRIPTION}/locations/eastus")}],
            }
        })
    );
    // The current shape, with the subscription's zone mapping where a region has zones.
    let (s, new) = em
        .arm(
            &token,
            Method::GET,
            &format!("{path}?api-version=2022-12-01&includeExtendedLocations=true"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{new}");
    let value = new["value"].as_array().unwrap();
    assert!(value.iter().all(|l| l["type"] == "Region"));
    let ne = value.iter().find(|l| l["name"] == "northeurope").unwrap();
    assert_eq!(
        ne["availabilityZoneMappings"][0],
        json!({"logicalZone": "1", "physicalZone": "northeurope-az1"})
    );
    let stage = value.iter().find(|l| l["name"] == "eastusstage").unwrap();
    assert_eq!(stage["metadata"].get("pairedRegion"), None);
    assert_eq!(stage.get("availabilityZoneMappings"), None);

    // No role anywhere in the subscription: ARM's 403.
    let nobody = em.new_principal().await;
    let (s, body) = em
        .arm(
            &nobody.token,
            Method::GET,
            &format!("{path}?api-version=2022-12-01"),
            None,
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    // Another subscription: ARM's 404.
    let (s, body) = em
        .arm(
            &token,
            Method::GET,
            "/subscriptions/00000000-0000-0000-0000-0000000000ff/locations?api-version=2022-12-01",
            None,
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["error"]["code"], "SubscriptionNotFound");
}

//! Azure regions. Locations compare ignoring case and spaces ("West US" = "westus").

pub const ALL: &[&str] = &[
    "eastus",
    "eastus2",
    "southcentralus",
    "westus2",
    "westus3",
    "australiaeast",
    "southeastasia",
    "northeurope",
    "swedencentral",
    "uksouth",
    "westeurope",
    "centralus",
    "southafricanorth",
    "centralindia",
    "eastasia",
    "japaneast",
    "koreacentral",
    "canadacentral",
    "francecentral",
    "germanywestcentral",
    "italynorth",
    "norwayeast",
    "polandcentral",
    "spaincentral",
    "switzerlandnorth",
    "mexicocentral",
    "uaenorth",
    "brazilsouth",
    "israelcentral",
    "qatarcentral",
    "centralusstage",
    "eastusstage",
    "eastus2stage",
    "northcentralus",
    "westus",
    "japanwest",
    "australiacentral",
    "australiasoutheast",
    "westcentralus",
    "southindia",
    "westindia",
    "canadaeast",
    "francesouth",
    "germanynorth",
    "norwaywest",
    "switzerlandwest",
    "ukwest",
    "uaecentral",
    "brazilsoutheast",
    "koreasouth",
    "newzealandnorth",
    "southafricawest",
];

/// Canonical form: lower case, spaces removed.
pub fn normalize(loc: &str) -> String {
    loc.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The canonical name if `loc` is a known region.
pub fn known(loc: &str) -> Option<&'static str> {
    let n = normalize(loc);
    ALL.iter().copied().find(|l| *l == n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn spaces_and_case_fold() {
        assert_eq!(super::known("West US"), Some("westus"));
        assert_eq!(super::known("Mars North"), None);
    }
}

//! Azure regions, as `GET /subscriptions/{s}/locations` lists them.
//! Locations compare ignoring case and spaces ("West US" = "westus").
//!
//! The facts (display names, coordinates, pairs, category) are those Azure
//! answered in azure-cli's recordings (`profile/…/test_list_locations.yaml`,
//! `vm/…/test_defer_only_commands.yaml`, api-version 2019-11-01).
// TODO-fidelity: `geography` (added in 2022-12-01), which regions have
// availability zones, and the five regions the recordings show before launch
// or not at all (italynorth, israelcentral, mexicocentral, spaincentral,
// newzealandnorth) are from Azure's public region list as remembered, not a
// recording: searched azure-cli recordings for "geography" and "Italy North".

/// One region and what Azure publishes about it.
pub struct Region {
    pub name: &'static str,
    pub display_name: &'static str,
    pub regional_display_name: &'static str,
    flags: u8,
    pub geography: &'static str,
    /// Empty where Azure leaves the field out (logical regions).
    pub geography_group: &'static str,
    /// Longitude, latitude (empty for logical regions).
    pub coordinates: [&'static str; 2],
    pub physical_location: &'static str,
    pub paired: &'static [&'static str],
}

const PHYSICAL: u8 = 1;
const RECOMMENDED: u8 = 2;
const ZONES: u8 = 4;

impl Region {
    /// `Physical` or `Logical`.
    pub fn region_type(&self) -> &'static str {
        if self.flags & PHYSICAL != 0 {
            "Physical"
        } else {
            "Logical"
        }
    }

    /// `Recommended` or `Other`.
    pub fn category(&self) -> &'static str {
        if self.flags & RECOMMENDED != 0 {
            "Recommended"
        } else {
            "Other"
        }
    }

    /// Whether the region has availability zones (1, 2, 3).
    pub fn has_zones(&self) -> bool {
        self.flags & ZONES != 0
    }
}

#[allow(clippy::too_many_arguments)]
const fn r(
    name: &'static str,
    display_name: &'static str,
    regional_display_name: &'static str,
    flags: u8,
    geography: &'static str,
    geography_group: &'static str,
    coordinates: [&'static str; 2],
    physical_location: &'static str,
    paired: &'static [&'static str],
) -> Region {
    Region {
        name,
        display_name,
        regional_display_name,
        flags,
        geography,
        geography_group,
        coordinates,
        physical_location,
        paired,
    }
}

/// Every region azemu knows, in Azure's list order.
#[rustfmt::skip]
pub const REGIONS: &[Region] = &[
    r("eastus", "East US", "(US) East US", PHYSICAL | RECOMMENDED | ZONES, "United States", "US", ["-79.8164", "37.3719"], "Virginia", &["westus"]),
    r("eastus2", "East US 2", "(US) East US 2", PHYSICAL | RECOMMENDED | ZONES, "United States", "US", ["-78.3889", "36.6681"], "Virginia", &["centralus"]),
    r("southcentralus", "South Central US", "(US) South Central US", PHYSICAL | RECOMMENDED | ZONES, "United States", "US", ["-98.5", "29.4167"], "Texas", &["northcentralus"]),
    r("westus2", "West US 2", "(US) West US 2", PHYSICAL | RECOMMENDED | ZONES, "United States", "US", ["-119.852", "47.233"], "Washington", &["westcentralus"]),
    r("westus3", "West US 3", "(US) West US 3", PHYSICAL | RECOMMENDED | ZONES, "United States", "US", ["-112.074036", "33.448376"], "Phoenix", &["eastus"]),
    r("australiaeast", "Australia East", "(Asia Pacific) Australia East", PHYSICAL | RECOMMENDED | ZONES, "Australia", "Asia Pacific", ["151.2094", "-33.86"], "New South Wales", &["australiasoutheast"]),
    r("southeastasia", "Southeast Asia", "(Asia Pacific) Southeast Asia", PHYSICAL | RECOMMENDED | ZONES, "Asia Pacific", "Asia Pacific", ["103.833", "1.283"], "Singapore", &["eastasia"]),
    r("northeurope", "North Europe", "(Europe) North Europe", PHYSICAL | RECOMMENDED | ZONES, "Europe", "Europe", ["-6.2597", "53.3478"], "Ireland", &["westeurope"]),
    r("swedencentral", "Sweden Central", "(Europe) Sweden Central", PHYSICAL | RECOMMENDED | ZONES, "Sweden", "Europe", ["17.14127", "60.67488"], "Gävle", &["swedensouth"]),
    r("uksouth", "UK South", "(Europe) UK South", PHYSICAL | RECOMMENDED | ZONES, "United Kingdom", "Europe", ["-0.799", "50.941"], "London", &["ukwest"]),
    r("westeurope", "West Europe", "(Europe) West Europe", PHYSICAL | RECOMMENDED | ZONES, "Europe", "Europe", ["4.9", "52.3667"], "Netherlands", &["northeurope"]),
    r("centralus", "Central US", "(US) Central US", PHYSICAL | RECOMMENDED | ZONES, "United States", "US", ["-93.6208", "41.5908"], "Iowa", &["eastus2"]),
    r("southafricanorth", "South Africa North", "(Africa) South Africa North", PHYSICAL | RECOMMENDED | ZONES, "South Africa", "Africa", ["28.21837", "-25.73134"], "Johannesburg", &["southafricawest"]),
    r("centralindia", "Central India", "(Asia Pacific) Central India", PHYSICAL | RECOMMENDED | ZONES, "India", "Asia Pacific", ["73.9197", "18.5822"], "Pune", &["southindia"]),
    r("eastasia", "East Asia", "(Asia Pacific) East Asia", PHYSICAL | RECOMMENDED | ZONES, "Asia Pacific", "Asia Pacific", ["114.188", "22.267"], "Hong Kong", &["southeastasia"]),
    r("japaneast", "Japan East", "(Asia Pacific) Japan East", PHYSICAL | RECOMMENDED | ZONES, "Japan", "Asia Pacific", ["139.77", "35.68"], "Tokyo, Saitama", &["japanwest"]),
    r("koreacentral", "Korea Central", "(Asia Pacific) Korea Central", PHYSICAL | RECOMMENDED | ZONES, "Korea", "Asia Pacific", ["126.978", "37.5665"], "Seoul", &["koreasouth"]),
    r("canadacentral", "Canada Central", "(Canada) Canada Central", PHYSICAL | RECOMMENDED | ZONES, "Canada", "Canada", ["-79.383", "43.653"], "Toronto", &["canadaeast"]),
    r("francecentral", "France Central", "(Europe) France Central", PHYSICAL | RECOMMENDED | ZONES, "France", "Europe", ["2.373", "46.3772"], "Paris", &["francesouth"]),
    r("germanywestcentral", "Germany West Central", "(Europe) Germany West Central", PHYSICAL | RECOMMENDED | ZONES, "Germany", "Europe", ["8.682127", "50.110924"], "Frankfurt", &["germanynorth"]),
    r("italynorth", "Italy North", "(Europe) Italy North", PHYSICAL | RECOMMENDED | ZONES, "Italy", "Europe", ["9.18109", "45.46888"], "Milan", &[]),
    r("norwayeast", "Norway East", "(Europe) Norway East", PHYSICAL | RECOMMENDED | ZONES, "Norway", "Europe", ["10.752245", "59.913868"], "Norway", &["norwaywest"]),
    r("polandcentral", "Poland Central", "(Europe) Poland Central", PHYSICAL | RECOMMENDED | ZONES, "Poland", "Europe", ["21.01666", "52.23334"], "Warsaw", &[]),
    r("spaincentral", "Spain Central", "(Europe) Spain Central", PHYSICAL | RECOMMENDED | ZONES, "Spain", "Europe", ["3.4209", "40.4259"], "Madrid", &[]),
    r("switzerlandnorth", "Switzerland North", "(Europe) Switzerland North", PHYSICAL | RECOMMENDED | ZONES, "Switzerland", "Europe", ["8.564572", "47.451542"], "Zurich", &["switzerlandwest"]),
    r("mexicocentral", "Mexico Central", "(Mexico) Mexico Central", PHYSICAL | RECOMMENDED | ZONES, "Mexico", "Mexico", ["-100.389888", "20.588818"], "Querétaro State", &[]),
    r("uaenorth", "UAE North", "(Middle East) UAE North", PHYSICAL | RECOMMENDED | ZONES, "UAE", "Middle East", ["55.316666", "25.266666"], "Dubai", &["uaecentral"]),
    r("brazilsouth", "Brazil South", "(South America) Brazil South", PHYSICAL | RECOMMENDED | ZONES, "Brazil", "South America", ["-46.633", "-23.55"], "Sao Paulo State", &["southcentralus"]),
    r("israelcentral", "Israel Central", "(Middle East) Israel Central", PHYSICAL | RECOMMENDED | ZONES, "Israel", "Middle East", ["33.4506633", "31.2655698"], "Israel", &[]),
    r("qatarcentral", "Qatar Central", "(Middle East) Qatar Central", PHYSICAL | RECOMMENDED | ZONES, "Qatar", "Middle East", ["51.439327", "25.551462"], "Doha", &[]),
    r("centralusstage", "Central US (Stage)", "(US) Central US (Stage)", 0, "usa", "US", ["", ""], "", &[]),
    r("eastusstage", "East US (Stage)", "(US) East US (Stage)", 0, "usa", "US", ["", ""], "", &[]),
    r("eastus2stage", "East US 2 (Stage)", "(US) East US 2 (Stage)", 0, "usa", "US", ["", ""], "", &[]),
    r("northcentralus", "North Central US", "(US) North Central US", PHYSICAL, "United States", "US", ["-87.6278", "41.8819"], "Illinois", &["southcentralus"]),
    r("westus", "West US", "(US) West US", PHYSICAL, "United States", "US", ["-122.417", "37.783"], "California", &["eastus"]),
    r("japanwest", "Japan West", "(Asia Pacific) Japan West", PHYSICAL, "Japan", "Asia Pacific", ["135.5022", "34.6939"], "Osaka", &["japaneast"]),
    r("australiacentral", "Australia Central", "(Asia Pacific) Australia Central", PHYSICAL, "Australia", "Asia Pacific", ["149.1244", "-35.3075"], "Canberra", &["australiacentral"]),
    r("australiasoutheast", "Australia Southeast", "(Asia Pacific) Australia Southeast", PHYSICAL, "Australia", "Asia Pacific", ["144.9631", "-37.8136"], "Victoria", &["australiaeast"]),
    r("westcentralus", "West Central US", "(US) West Central US", PHYSICAL, "United States", "US", ["-110.234", "40.89"], "Wyoming", &["westus2"]),
    r("southindia", "South India", "(Asia Pacific) South India", PHYSICAL, "India", "Asia Pacific", ["80.1636", "12.9822"], "Chennai", &["centralindia"]),
    r("westindia", "West India", "(Asia Pacific) West India", PHYSICAL, "India", "Asia Pacific", ["72.868", "19.088"], "Mumbai", &["southindia"]),
    r("canadaeast", "Canada East", "(Canada) Canada East", PHYSICAL, "Canada", "Canada", ["-71.217", "46.817"], "Quebec", &["canadacentral"]),
    r("francesouth", "France South", "(Europe) France South", PHYSICAL, "France", "Europe", ["2.1972", "43.8345"], "Marseille", &["francecentral"]),
    r("germanynorth", "Germany North", "(Europe) Germany North", PHYSICAL, "Germany", "Europe", ["8.806422", "53.073635"], "Berlin", &["germanywestcentral"]),
    r("norwaywest", "Norway West", "(Europe) Norway West", PHYSICAL, "Norway", "Europe", ["5.733107", "58.969975"], "Norway", &["norwayeast"]),
    r("switzerlandwest", "Switzerland West", "(Europe) Switzerland West", PHYSICAL, "Switzerland", "Europe", ["6.143158", "46.204391"], "Geneva", &["switzerlandnorth"]),
    r("ukwest", "UK West", "(Europe) UK West", PHYSICAL, "United Kingdom", "Europe", ["-3.084", "53.427"], "Cardiff", &["uksouth"]),
    r("uaecentral", "UAE Central", "(Middle East) UAE Central", PHYSICAL, "UAE", "Middle East", ["54.366669", "24.466667"], "Abu Dhabi", &["uaenorth"]),
    r("brazilsoutheast", "Brazil Southeast", "(South America) Brazil Southeast", PHYSICAL, "Brazil", "South America", ["-43.2075", "-22.90278"], "Rio", &["brazilsouth"]),
    r("koreasouth", "Korea South", "(Asia Pacific) Korea South", PHYSICAL, "Korea", "Asia Pacific", ["129.0756", "35.1796"], "Busan", &["koreacentral"]),
    r("newzealandnorth", "New Zealand North", "(Asia Pacific) New Zealand North", PHYSICAL | RECOMMENDED | ZONES, "New Zealand", "Asia Pacific", ["174.76349", "-36.84853"], "Auckland", &[]),
    r("southafricawest", "South Africa West", "(Africa) South Africa West", PHYSICAL, "South Africa", "Africa", ["18.843266", "-34.075691"], "Cape Town", &["southafricanorth"]),
];

/// Every region's name, in list order.
pub fn names() -> impl Iterator<Item = &'static str> {
    REGIONS.iter().map(|r| r.name)
}

/// The names joined by `,` (the list ARM's location errors quote).
pub fn names_joined() -> String {
    names().collect::<Vec<_>>().join(",")
}

/// Canonical form: lower case, spaces removed.
pub fn normalize(loc: &str) -> String {
    loc.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The region `loc` names (any case, spaces or not).
pub fn region(loc: &str) -> Option<&'static Region> {
    let n = normalize(loc);
    REGIONS.iter().find(|r| r.name == n)
}

/// The canonical name if `loc` is a known region.
pub fn known(loc: &str) -> Option<&'static str> {
    region(loc).map(|r| r.name)
}

/// The display name Azure shows for `loc` ("East US"), if known.
pub fn display_name(loc: &str) -> Option<&'static str> {
    region(loc).map(|r| r.display_name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn spaces_and_case_fold() {
        assert_eq!(super::known("West US"), Some("westus"));
        assert_eq!(super::known("Mars North"), None);
        assert_eq!(super::display_name("eastus2"), Some("East US 2"));
    }
}

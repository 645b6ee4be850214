//! A repository's dependencies from its dependency graph, exported by GitHub as an SPDX
//! SBOM (`GET /repos/{owner}/{repo}/dependency-graph/sbom`): each package's purl names its
//! ecosystem, name and version.

use crate::incident::Dependency;
use packageurl::PackageUrl;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct SbomAnswer {
    pub sbom: Sbom,
}

#[derive(Debug, Deserialize)]
pub struct Sbom {
    #[serde(default)]
    pub packages: Vec<SbomPackage>,
}

#[derive(Debug, Deserialize)]
pub struct SbomPackage {
    #[serde(rename = "versionInfo")]
    pub version_info: Option<String>,
    #[serde(rename = "externalRefs", default)]
    pub external_refs: Vec<ExternalRef>,
}

#[derive(Debug, Deserialize)]
pub struct ExternalRef {
    #[serde(rename = "referenceType")]
    pub reference_type: String,
    #[serde(rename = "referenceLocator")]
    pub reference_locator: String,
}

/// GitHub's advisory ecosystem for a purl type; `None` for types advisories do not cover.
fn ecosystem(purl_type: &str) -> Option<&'static str> {
    Some(match purl_type {
        "npm" => "npm",
        "pypi" => "pip",
        "maven" => "maven",
        "gem" => "rubygems",
        "golang" => "go",
        "nuget" => "nuget",
        "cargo" => "rust",
        "composer" => "composer",
        "pub" => "pub",
        "swift" => "swift",
        "hex" => "erlang",
        // `pkg:github/…` is the repository itself (the SBOM's root), not a dependency.
        "githubactions" => "actions",
        _ => return None,
    })
}

/// The name as GitHub's advisories write it: `group:artifact` for Maven, `@scope/name` for
/// npm, `host/path/name` for Go, `vendor/name` for Composer and Actions.
fn advisory_name(purl: &PackageUrl<'_>) -> String {
    match (purl.ty(), purl.namespace()) {
        ("maven", Some(group)) => format!("{group}:{}", purl.name()),
        (_, Some(namespace)) => format!("{namespace}/{}", purl.name()),
        (_, None) => purl.name().to_owned(),
    }
}

impl Sbom {
    /// The packages with a purl of a known ecosystem and a version.
    pub fn dependencies(&self) -> Vec<Dependency> {
        self.packages
            .iter()
            .filter_map(|package| {
                let locator = package
                    .external_refs
                    .iter()
                    .find(|reference| reference.reference_type == "purl")?;
                let purl: PackageUrl = locator.reference_locator.parse().ok()?;
                let ecosystem = ecosystem(purl.ty())?;
                let version = purl
                    .version()
                    .map(str::to_owned)
                    .or_else(|| package.version_info.clone())
                    .filter(|version| !version.is_empty())?;
                Some(Dependency {
                    ecosystem: ecosystem.to_owned(),
                    name: advisory_name(&purl),
                    version,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_become_dependencies_in_githubs_words() {
        let answer: SbomAnswer = serde_json::from_value(serde_json::json!({
            "sbom": {
                "spdxVersion": "SPDX-2.3",
                "packages": [
                    { "name": "pip:django", "versionInfo": "2.0.1", "externalRefs": [
                        { "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": "pkg:pypi/django@2.0.1" } ] },
                    { "name": "maven:org.apache.logging.log4j:log4j-core", "versionInfo": "2.14.1",
                      "externalRefs": [ { "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1" } ] },
                    { "name": "npm:@babel/core", "versionInfo": "7.0.0", "externalRefs": [
                        { "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": "pkg:npm/%40babel/core@7.0.0" } ] },
                    { "name": "com.github.Codertocat/Hello-World", "versionInfo": "main", "externalRefs": [
                        { "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": "pkg:github/Codertocat/Hello-World@main" } ] },
                    { "name": "actions:actions/checkout", "versionInfo": "4", "externalRefs": [
                        { "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": "pkg:githubactions/actions/checkout@4" } ] },
                    { "name": "no purl", "versionInfo": "1.0" },
                    { "name": "unknown type", "externalRefs": [
                        { "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": "pkg:deb/debian/curl@7.50.3" } ] }
                ]
            }
        }))
        .expect("SBOM shape");
        let dependencies = answer.sbom.dependencies();
        let names: Vec<(&str, &str, &str)> = dependencies
            .iter()
            .map(|d| (d.ecosystem.as_str(), d.name.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("pip", "django", "2.0.1"),
                ("maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
                ("npm", "@babel/core", "7.0.0"),
                ("actions", "actions/checkout", "4"),
            ]
        );
    }
}

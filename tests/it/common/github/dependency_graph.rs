//! The dependency graph's SPDX export.

use super::*;

/// `GET …/dependency-graph/sbom`: SPDX 2.3 as GitHub exports it, the repository itself as
/// the root package, then one package per dependency with its purl.
pub(super) fn sbom_json(repo: &Repo) -> Answer {
    let Some(purls) = &repo.sbom else {
        return Err(Reply::not_found());
    };
    let root = json!({
        "SPDXID": "SPDXRef-com.github.root",
        "name": format!("com.github.{}/{}", repo.owner, repo.name),
        "versionInfo": repo.default_branch,
        "downloadLocation": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:github/{}/{}@{}", repo.owner, repo.name, repo.default_branch),
        }],
    });
    let packages = purls.iter().enumerate().map(|(index, purl)| {
        let version = purl
            .rsplit_once('@')
            .map(|(_, version)| version)
            .unwrap_or("");
        json!({
            "SPDXID": format!("SPDXRef-package-{index}"),
            "name": purl.trim_start_matches("pkg:").split('@').next().unwrap_or(purl),
            "versionInfo": version,
            "downloadLocation": "NOASSERTION",
            "licenseConcluded": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }],
        })
    });
    Ok(Reply::ok(json!({
        "sbom": {
            "SPDXID": "SPDXRef-DOCUMENT",
            "spdxVersion": "SPDX-2.3",
            "creationInfo": { "created": timestamp(Utc::now()), "creators": ["Tool: GitHub.com-Dependency-Graph"] },
            "name": format!("com.github.{}/{}", repo.owner, repo.name),
            "dataLicense": "CC0-1.0",
            "documentNamespace": format!("https://spdx.org/spdxdocs/protobom/{}", repo.id),
            "packages": std::iter::once(root).chain(packages).collect::<Vec<_>>(),
        }
    })))
}

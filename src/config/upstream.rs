//! `[[upstream]]` tables: the software the project runs, each with its deployed versions
//! and where its upstream announces security fixes. Operator-only (herald.toml): no
//! repository chooses what herald fetches.

use super::ConfigError;
use crate::feeds::{Package, UpstreamProduct};
use crate::incident::{DEFAULT_WORDS, Product};
use serde::Deserialize;

/// `[[upstream]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamFile {
    product: String,
    #[serde(default)]
    aliases: Vec<String>,
    versions: Vec<String>,
    #[serde(default)]
    feeds: Vec<String>,
    #[serde(default)]
    security_feeds: Vec<String>,
    #[serde(default)]
    lists: Vec<String>,
    osv: Option<OsvFile>,
    cpe: Option<String>,
    words: Option<Vec<String>>,
}

/// `osv = { ecosystem = "…", package = "…" }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OsvFile {
    ecosystem: String,
    package: String,
}

/// The most products, and the most sources or versions of one: far above a team's
/// servers, and a bound on what one reading fetches.
const MAX_PRODUCTS: usize = 100;
const MAX_EACH: usize = 50;

/// The checked products.
pub(super) fn products(files: Vec<UpstreamFile>) -> Result<Vec<UpstreamProduct>, ConfigError> {
    if files.len() > MAX_PRODUCTS {
        return Err(invalid(
            "[[upstream]]",
            format!(
                "{} products; herald reads at most {MAX_PRODUCTS}",
                files.len()
            ),
        ));
    }
    let mut products: Vec<UpstreamProduct> = Vec::new();
    for file in files {
        let product = product(file)?;
        if products.iter().any(|known| {
            known
                .product
                .name
                .eq_ignore_ascii_case(&product.product.name)
        }) {
            return Err(invalid(
                &table(&product.product.name),
                "named twice: one table per product, with every version deployed".to_owned(),
            ));
        }
        products.push(product);
    }
    Ok(products)
}

fn table(name: &str) -> String {
    format!("[[upstream]] product = {name:?}")
}

fn invalid(name: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        message,
    }
}

fn product(file: UpstreamFile) -> Result<UpstreamProduct, ConfigError> {
    let name = file.product.trim().to_owned();
    let table = table(&name);
    let refused = |message: String| invalid(&table, message);
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(refused(
            "`product` is a name of 1 to 100 printable characters".to_owned(),
        ));
    }
    for (key, list) in [
        ("versions", &file.versions),
        ("feeds", &file.feeds),
        ("security_feeds", &file.security_feeds),
        ("lists", &file.lists),
        ("aliases", &file.aliases),
    ] {
        if list.len() > MAX_EACH {
            return Err(refused(format!(
                "`{key}` lists {}; at most {MAX_EACH}",
                list.len()
            )));
        }
    }
    let versions = versions(&file.versions).map_err(refused)?;
    let check = |urls: &[String]| -> Result<Vec<String>, ConfigError> {
        urls.iter()
            .map(|url| source_url(url).map_err(refused))
            .collect()
    };
    let osv = file.osv.map(package).transpose().map_err(refused)?;
    let cpe = file.cpe.map(|cpe| cpe.trim().to_owned());
    if let Some(cpe) = &cpe {
        cpe_prefix(cpe).map_err(refused)?;
    }
    if let Some(both) = file
        .feeds
        .iter()
        .find(|url| file.security_feeds.contains(url))
    {
        return Err(refused(format!(
            "{both:?} is in both `feeds` and `security_feeds`: name it once"
        )));
    }
    let upstream = UpstreamProduct {
        product: Product {
            name,
            aliases: words(&file.aliases),
            versions,
            words: file
                .words
                .map(|words_given| words(&words_given))
                .unwrap_or_else(|| DEFAULT_WORDS.map(str::to_owned).to_vec()),
        },
        feeds: check(&file.feeds)?,
        security_feeds: check(&file.security_feeds)?,
        lists: file
            .lists
            .iter()
            .map(|list| list.trim().trim_matches(['<', '>']).to_ascii_lowercase())
            .filter(|list| !list.is_empty())
            .collect(),
        osv,
        cpe,
    };
    let sourceless = upstream.feeds.is_empty()
        && upstream.security_feeds.is_empty()
        && upstream.lists.is_empty()
        && upstream.osv.is_none()
        && upstream.cpe.is_none();
    if sourceless {
        return Err(refused(
            "names no source: give it `feeds`, `security_feeds`, `lists`, `osv` or `cpe`"
                .to_owned(),
        ));
    }
    Ok(upstream)
}

/// The deployed versions: at least one, each as NVD's CPE name and OSV's query take it
/// (`*` or `:` would ask for every version, or another product).
fn versions(given: &[String]) -> Result<Vec<String>, String> {
    let versions = words(given);
    if versions.is_empty() {
        return Err("`versions` names at least one deployed version".to_owned());
    }
    let odd = versions.iter().find(|version| {
        version.len() > 64
            || !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+~".contains(&b))
    });
    match odd {
        Some(odd) => Err(format!(
            "{odd:?} is not a version: letters, digits and . _ - + ~ only, as `11.2.1`"
        )),
        None => Ok(versions),
    }
}

/// OSV's package, both of its names given.
fn package(osv: OsvFile) -> Result<Package, String> {
    let package = Package {
        ecosystem: osv.ecosystem.trim().to_owned(),
        name: osv.package.trim().to_owned(),
    };
    if package.ecosystem.is_empty() || package.name.is_empty() {
        return Err(
            "`osv` names an ecosystem and a package, as { ecosystem = \"Go\", package = \
             \"github.com/grafana/grafana\" }"
                .to_owned(),
        );
    }
    Ok(package)
}

/// The non-blank entries of `list`, trimmed.
fn words(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|word| word.trim().to_owned())
        .filter(|word| !word.is_empty())
        .collect()
}

/// A feed's address: `https://`, or `http://` to this machine only (an announcement read
/// in clear text could be forged on the way); no credentials.
pub fn source_url(text: &str) -> Result<String, String> {
    // The text may hold a credential: errors show only the address.
    let url = reqwest::Url::parse(text.trim())
        .map_err(|error| format!("a feed's URL that is not a URL: {error}"))?;
    let shown = crate::redact::address(&url);
    let loopback = url.host_str().is_some_and(crate::redact::is_this_machine);
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{shown}: a feed is read over https:// (http:// only on this machine)"
        ));
    }
    // A feed's address is shown on issues and in logs: it holds no credential.
    let secret_query = url.query_pairs().any(|(name, _)| {
        let name = name.to_ascii_lowercase();
        ["token", "key", "secret", "password", "auth", "sig"]
            .iter()
            .any(|word| name.contains(word))
    });
    if !url.username().is_empty() || url.password().is_some() || secret_query {
        return Err(format!("{shown}: a feed's URL holds no credentials"));
    }
    Ok(url.to_string())
}

/// A CPE 2.3 name without its version: `cpe:2.3:a:VENDOR:PRODUCT`.
fn cpe_prefix(cpe: &str) -> Result<(), String> {
    let parts: Vec<&str> = cpe.split(':').collect();
    let tame = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.~\\".contains(&b))
    };
    let well_formed = parts.len() == 5
        && parts[0] == "cpe"
        && parts[1] == "2.3"
        && ["a", "o", "h"].contains(&parts[2])
        && tame(parts[3])
        && tame(parts[4]);
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`cpe` is a CPE 2.3 name without its version, as `cpe:2.3:a:grafana:grafana`; got {cpe:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_feeds_or_this_machine() {
        for good in [
            "https://github.com/grafana/grafana/releases.atom",
            "https://community.example.org/c/security/5.rss?page=1",
            "http://127.0.0.1:8080/feed",
        ] {
            assert!(source_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://github.com/grafana/grafana/releases.atom",
            "https://user:secret@example.org/feed",
            "https://example.org/feed?token=secret@x",
            "https://example.org/feed?api_key=secret@x",
            "file:///etc/passwd",
            "feed",
        ] {
            let error = source_url(bad).expect_err(bad);
            assert!(!error.contains("secret@"), "{error}");
        }
    }

    fn table(text: &str) -> Result<Vec<UpstreamProduct>, String> {
        #[derive(Deserialize)]
        struct File {
            upstream: Vec<UpstreamFile>,
        }
        let file: File = toml::from_str(text).map_err(|error| error.to_string())?;
        products(file.upstream).map_err(|error| error.to_string())
    }

    #[test]
    fn a_product_is_refused_with_what_it_lacks() {
        let good = "[[upstream]]\nproduct = \"Grafana\"\nversions = [\"11.2.1\"]\n\
                    cpe = \"cpe:2.3:a:grafana:grafana\"\n";
        assert!(table(good).is_ok());
        let cpe = "cpe = \"cpe:2.3:a:grafana:grafana\"";
        for (bad, why) in [
            (good.replace("11.2.1", "*"), "is not a version"),
            (good.replace("11.2.1", "16.2:*"), "is not a version"),
            (good.replace(cpe, ""), "names no source"),
            (
                good.replace(cpe, "osv = { ecosystem = \"\", package = \"\" }"),
                "`osv` names an ecosystem and a package",
            ),
            (format!("{good}{good}"), "named twice"),
            (
                good.replace("[\"11.2.1\"]", "[]"),
                "at least one deployed version",
            ),
        ] {
            let error = table(&bad).expect_err(&bad);
            assert!(
                error.contains(why) && error.contains("product = \"Grafana\""),
                "{error}"
            );
        }
    }

    #[test]
    fn a_cpe_names_vendor_and_product_only() {
        assert!(cpe_prefix("cpe:2.3:a:grafana:grafana").is_ok());
        assert!(cpe_prefix("cpe:2.3:a:grafana:grafana:11.2.1:*:*:*:*:*:*:*").is_err());
        assert!(cpe_prefix("cpe:2.3:a:grafana:gra&fana").is_err());
        assert!(cpe_prefix("cpe:/a:grafana:grafana").is_err());
    }
}

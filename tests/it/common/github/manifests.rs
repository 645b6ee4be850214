//! GitHub's App manifest flow: the "new App" page a form posts the manifest to (GitHub
//! asks the user to confirm; the fake confirms at once and sends the browser back with a
//! one-time code), and `POST /app-manifests/{code}/conversions`, which answers the App's
//! credentials, as GitHub documents.

use super::server::{Answer, Ctx, Reply};
use super::state::World;
use super::*;

/// `application/x-www-form-urlencoded` pairs.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// The "new App" page: takes the form's `manifest`, redirects to its `redirect_url` with a
/// code and the `state` the form's URL carried.
pub(super) fn new_app_page(world: &mut World, ctx: &mut Ctx) -> Answer {
    let form = form_pairs(&String::from_utf8_lossy(ctx.body));
    let manifest: Value = form
        .iter()
        .find(|(name, _)| name == "manifest")
        .and_then(|(_, manifest)| serde_json::from_str(manifest).ok())
        .ok_or_else(|| Reply::bad_request("Invalid GitHub App configuration"))?;
    let query = form_pairs(ctx.uri.query().unwrap_or_default());
    let state = query
        .iter()
        .find(|(name, _)| name == "state")
        .map(|(_, state)| state.clone())
        .unwrap_or_default();
    let redirect = manifest["redirect_url"]
        .as_str()
        .ok_or_else(|| Reply::bad_request("redirect_url is missing"))?
        .to_owned();
    let code = format!("manifest-code-{}", world.manifests_received.len() + 1);
    world.manifest_codes.insert(code.clone(), manifest.clone());
    world.manifests_received.push(manifest);
    let location = format!(
        "{redirect}?code={code}&state={}",
        percent_encoding::utf8_percent_encode(&state, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut reply = Reply::json(StatusCode::FOUND, Value::Null);
    reply.body = super::server::ReplyBody::Empty;
    reply.headers.push((header::LOCATION, location));
    Ok(reply)
}

/// The conversion: the App's id, slug, webhook secret and private key, once per code.
pub(super) fn convert(world: &mut World, base: &str, app_id: u64, code: &str) -> Answer {
    let manifest = world
        .manifest_codes
        .remove(code)
        .ok_or_else(Reply::not_found)?;
    let pem = world.manifest_pem.clone().ok_or_else(Reply::not_found)?;
    let name = manifest["name"].as_str().unwrap_or("herald").to_owned();
    let slug = name.to_ascii_lowercase().replace(' ', "-");
    Ok(Reply::created(json!({
        "id": app_id,
        "slug": slug,
        "node_id": "MDM6QXBwNTk=",
        "owner": { "login": "Codertocat", "id": 1, "type": "User" },
        "name": name,
        "description": manifest["description"],
        "external_url": manifest["url"],
        "html_url": format!("{base}/apps/{slug}"),
        "created_at": "2026-12-01T12:00:00Z",
        "updated_at": "2026-12-01T12:00:00Z",
        "permissions": manifest["default_permissions"],
        "events": manifest["default_events"],
        "client_id": "Iv1.8a61f9b3a7aba766",
        "client_secret": "1726be1638095a19edd134c77bde3aa2ece1e5d8",
        "webhook_secret": "e340154128314309424b7c8e90325147d99fdafa",
        "pem": pem,
    })))
}

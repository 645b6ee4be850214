//! Reading request input: path segments, query parameters, JSON fields, git names.

use super::*;

/// Path segments, percent-decoded; `None` when a segment does not decode (no route knows it).
pub(super) fn decode_segments(path: &str) -> Option<Vec<String>> {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect()
}

pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// A numeric path segment; anything else is a route the fake (and GitHub) does not have.
pub(super) fn parse_id(segment: &str) -> Result<u64, Reply> {
    segment.parse().map_err(|_| Reply::unexpected())
}

pub(super) fn number_param(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
) -> Result<usize, Reply> {
    query.get(name).map_or(Ok(default), |value| {
        value.parse().map_err(|_| {
            Reply::message(StatusCode::UNPROCESSABLE_ENTITY, &format!("Invalid {name}"))
        })
    })
}

pub(super) fn descending(query: &HashMap<String, String>) -> Result<bool, Reply> {
    match query.get("direction").map_or("desc", String::as_str) {
        "desc" => Ok(true),
        "asc" => Ok(false),
        _ => Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid direction",
        )),
    }
}

/// A string field that may be absent or null.
pub(super) fn optional_string(
    body: &Map<String, Value>,
    resource: &str,
    field: &str,
) -> Result<Option<String>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Reply::invalid(resource, field, "invalid")),
    }
}

/// A string field the request must have, with GitHub's wording when it is missing.
pub(super) fn required_string(body: &Map<String, Value>, field: &str) -> Result<String, Reply> {
    match body.get(field) {
        Some(Value::String(text)) => Ok(text.clone()),
        None | Some(Value::Null) => Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\n\"{field}\" wasn't supplied."),
        )),
        Some(_) => Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\nFor '{field}', the value is not a string."),
        )),
    }
}

/// Git's rules for a branch name (`git check-ref-format --branch`), the common part.
pub(super) fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('/')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name
            .split('/')
            .all(|part| !part.starts_with('.') && !part.ends_with(".lock"))
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

/// A list of names (labels, assignees) that may be absent; entries may be `{"name": ..}`.
pub(super) fn names(
    body: &Map<String, Value>,
    resource: &str,
    field: &str,
) -> Result<Option<Vec<String>>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => label_names(items)
            .map(Some)
            .ok_or_else(|| Reply::invalid(resource, field, "invalid")),
        Some(_) => Err(Reply::invalid(resource, field, "invalid")),
    }
}

pub(super) fn label_names(items: &[Value]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|item| match item {
            Value::String(name) => Some(name.clone()),
            Value::Object(object) => object.get("name")?.as_str().map(str::to_owned),
            _ => None,
        })
        .collect()
}

pub(super) fn dedup(names: Vec<String>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for name in names {
        if !unique.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
            unique.push(name);
        }
    }
    unique
}

pub(super) fn recorded_body(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
    )
}

/// One page of `items`, with GitHub's `Link` header (absolute URLs on the fake) when there
/// is more than one page.
pub(super) fn paginate(ctx: &Ctx, query: &HashMap<String, String>, items: Vec<Value>) -> Answer {
    let per_page = number_param(query, "per_page", 30)?.clamp(1, 100);
    let page = number_param(query, "page", 1)?.max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let reply = Reply::ok(Value::Array(items));
    // Keep the other parameters as sent (still encoded), replacing only `page`.
    let others: Vec<&str> = ctx
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("page="))
        .collect();
    let link = |page: usize, rel: &str| {
        let mut pairs = others.clone();
        let page = format!("page={page}");
        pairs.push(&page);
        format!(
            "<{}{}?{}>; rel=\"{rel}\"",
            ctx.link_base,
            ctx.uri.path(),
            pairs.join("&")
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    Ok(if links.is_empty() {
        reply
    } else {
        reply.header(header::LINK, links.join(", "))
    })
}

/// What an issue edit and a pull request edit share, checked as GitHub checks it.
pub(super) struct Edit {
    pub(super) title: Option<String>,
    /// `Some(None)`: the body is cleared.
    pub(super) text: Option<Option<String>>,
    pub(super) state: Option<String>,
}

/// The shared fields of an edit of `resource` (GitHub's name for it in errors).
pub(super) fn edit(body: &Map<String, Value>, resource: &str) -> Result<Edit, Reply> {
    let title = match body.get("title") {
        None => None,
        Some(Value::String(title)) if !title.is_empty() => Some(title.clone()),
        Some(_) => return Err(Reply::invalid(resource, "title", "invalid")),
    };
    let text = body
        .contains_key("body")
        .then(|| optional_string(body, resource, "body"))
        .transpose()?;
    let state = optional_string(body, resource, "state")?;
    if state
        .as_deref()
        .is_some_and(|state| state != "open" && state != "closed")
    {
        return Err(Reply::invalid(resource, "state", "invalid"));
    }
    Ok(Edit { title, text, state })
}

//! Organisation roles (`/orgs/{org}/organization-roles`): GitHub's predefined roles, and who
//! holds the security manager role, directly or through a team.

use super::*;

/// GitHub's predefined organisation roles, as (id, name, description, base role).
const PREDEFINED: [(u64, &str, &str, Option<&str>); 3] = [
    (
        138,
        "all_repo_read",
        "Grants read access to all repositories in the organization.",
        Some("read"),
    ),
    (
        8132,
        "security_manager",
        "Manages security policies, alerts, and configurations for an organization and its \
         repositories.",
        Some("read"),
    ),
    (
        143,
        "all_repo_admin",
        "Grants admin access to all repositories in the organization.",
        Some("admin"),
    ),
];

/// Who holds the security manager role in one organisation.
#[derive(Default)]
pub(super) struct SecurityManagers {
    /// Logins given the role directly.
    pub(super) users: Vec<String>,
    /// Teams given the role, as (slug, member logins).
    pub(super) teams: Vec<(String, Vec<String>)>,
}

/// The organisation an installation token may read roles of: its own account, when the App
/// holds the permission.
fn readable_org(world: &World, installation: u64, org: &str) -> Result<(), Reply> {
    let own = world
        .installations
        .get(&installation)
        .is_some_and(|account| account.eq_ignore_ascii_case(org));
    if !own {
        return Err(Reply::not_found());
    }
    if world.org_roles_forbidden {
        return Err(Reply::message(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    Ok(())
}

/// `GET /orgs/{org}/organization-roles`.
pub(super) fn list_roles(world: &World, installation: u64, org: &str) -> Answer {
    readable_org(world, installation, org)?;
    let organization = user_json(&world.base, org, "Organization");
    let roles: Vec<Value> = PREDEFINED
        .iter()
        .map(|(id, name, description, base_role)| {
            json!({
                "id": id,
                "name": name,
                "description": description,
                "base_role": base_role,
                "source": "Predefined",
                "permissions": [],
                "organization": organization,
                "created_at": "2024-07-01T00:00:00Z",
                "updated_at": "2024-07-01T00:00:00Z",
            })
        })
        .collect();
    Ok(Reply::ok(
        json!({ "total_count": roles.len(), "roles": roles }),
    ))
}

/// `GET /orgs/{org}/organization-roles/{role_id}/users`: everyone holding the role, with
/// how (`direct`, `indirect` through a team, or `mixed`), one page at a time.
pub(super) fn role_users(
    world: &World,
    installation: u64,
    org: &str,
    role_id: &str,
    ctx: &Ctx,
) -> Answer {
    readable_org(world, installation, org)?;
    let role_id = parse_id(role_id)?;
    let (_, name, ..) = PREDEFINED
        .iter()
        .find(|(id, ..)| *id == role_id)
        .ok_or_else(Reply::not_found)?;
    let empty = SecurityManagers::default();
    let holders = match *name {
        "security_manager" => world
            .security_managers
            .get(&org.to_ascii_lowercase())
            .unwrap_or(&empty),
        _ => &empty,
    };
    let mut logins: Vec<String> = holders.users.clone();
    for (_, members) in &holders.teams {
        for member in members {
            if !logins
                .iter()
                .any(|login| login.eq_ignore_ascii_case(member))
            {
                logins.push(member.clone());
            }
        }
    }
    let users: Vec<Value> = logins
        .iter()
        .map(|login| {
            let direct = holders.users.contains(login);
            let teams: Vec<Value> = holders
                .teams
                .iter()
                .filter(|(_, members)| members.contains(login))
                .map(|(slug, _)| {
                    json!({
                        "id": 1,
                        "slug": slug,
                        "name": slug,
                        "url": format!("{}/orgs/{org}/teams/{slug}", world.base),
                    })
                })
                .collect();
            let mut user = person_or_bot(&world.base, login);
            user["assignment"] = json!(match (direct, teams.is_empty()) {
                (true, true) => "direct",
                (false, _) => "indirect",
                (true, false) => "mixed",
            });
            user["inherited_from"] = json!(teams);
            user
        })
        .collect();
    paginate(ctx, &ctx.query()?, users)
}

//! Issue 19, items 1 and 2, and the RBAC half of its "must stay refused"
//! list, driven over HTTP against the real binary with a second principal
//! holding a narrow role:
//!
//! - custom roles are written and deleted only by a caller allowed at every
//!   one of their assignable scopes, old and new, wherever the URL addresses
//!   them (the attack: an Owner of one resource group widening a role
//!   assignable at the subscription by PUTting it at the group's URL);
//! - role-assignment writes and deletes carry the attributes Microsoft's
//!   delegation conditions read, so a Role Based Access Control
//!   Administrator limited by a condition is held to it (the documented
//!   examples, verbatim, as a table);
//! - role assignments without `roleAssignments/write`, above, beside
//!   (`rt-a` vs `rt-ab`) or outside the caller's scope stay refused.
//!
//! az drives what az has a command for (`role definition create/update/delete`,
//! `role assignment create --condition`); raw requests pin the exact bodies.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, TENANT, TestPrincipal};
use reqwest::Method;
use serde_json::{Value, json};

const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const UAA: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
const RBAC_ADMIN: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const BACKUP_CONTRIBUTOR: &str = "5e467623-bb1f-42f4-a55d-6e525e11384b";
const BACKUP_READER: &str = "a795c7a0-d4a2-40c1-ae25-d81f01202912";
const VM_ADMIN_LOGIN: &str = "1c0163c0-47e6-4577-8991-ea5c82e286e4";
const AKS_RBAC_WRITER: &str = "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb";
/// The delegation examples' Marketing group and user Dara (not in the emulator's directory).
const MARKETING: &str = "28c35fea-2099-4cf5-8ad9-473547bc9423";
const DARA: &str = "ea585310-c95c-4a68-af22-49af4363bbb1";
const SOMEONE: &str = "0b0b0b0b-0000-4000-8000-00000000beef";
const V: &str = "api-version=2022-04-01";

fn sub() -> String {
    format!("/subscriptions/{SUBSCRIPTION}")
}

fn rg(name: &str) -> String {
    format!("{}/resourceGroups/{name}", sub())
}

/// `az login` as `p`, in a config dir of its own.
async fn az_as<'a>(em: &'a Emulator, p: &TestPrincipal) -> Az<'a> {
    let az = Az::new(em, Mode::Transparent).await;
    az.ok(&[
        "login",
        "--service-principal",
        "-u",
        &p.app_id,
        // A generated secret may start with '-': az's documented form.
        &format!("--password={}", p.secret),
        "--tenant",
        TENANT,
        "-o",
        "none",
    ])
    .await;
    az
}

/// Run az as someone it must fail for: az prints ARM's `(code) message`.
async fn az_refused(az: &Az<'_>, args: &[&str], want: &Value) {
    let out = az.run(args).await;
    assert!(!out.ok, "az {args:?} succeeded: {}", out.stdout);
    let e = &want["error"];
    let printed = format!(
        "({}) {}",
        e["code"].as_str().unwrap(),
        e["message"].as_str().unwrap()
    );
    assert!(
        out.stderr.contains(&printed),
        "want {printed}\ngot {}",
        out.stderr
    );
}

async fn call(
    em: &Emulator,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    em.arm(token, method, &format!("{path}{sep}{V}"), body)
        .await
}

async fn group(em: &Emulator, owner: &str, name: &str) {
    let (s, b) = em
        .arm(
            owner,
            Method::PUT,
            &format!("{}?api-version=2024-07-01", rg(name)),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

fn ra_path(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
}

fn rd_path(scope: &str, guid: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
}

fn assignment_body(role: &str, principal: &str, principal_type: Option<&str>) -> Value {
    let mut p = json!({
        "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{role}", sub()),
        "principalId": principal,
    });
    if let Some(t) = principal_type {
        p["principalType"] = json!(t);
    }
    json!({"properties": p})
}

/// PUT a role assignment named `name`; (status, body).
async fn assign_named(
    em: &Emulator,
    token: &str,
    scope: &str,
    name: &str,
    role: &str,
    principal: &str,
    principal_type: Option<&str>,
) -> (u16, Value) {
    call(
        em,
        token,
        Method::PUT,
        &ra_path(scope, name),
        Some(assignment_body(role, principal, principal_type)),
    )
    .await
}

/// PUT a role assignment under a fresh name; (status, body, its path).
async fn assign(
    em: &Emulator,
    token: &str,
    scope: &str,
    role: &str,
    principal: &str,
    principal_type: Option<&str>,
) -> (u16, Value, String) {
    let name = uuid::Uuid::new_v4().to_string();
    let (s, b) = assign_named(em, token, scope, &name, role, principal, principal_type).await;
    (s, b, ra_path(scope, &name))
}

/// An emulator, its owner's ARM token, and these resource groups.
async fn with_groups(names: &[&str]) -> (Emulator, String) {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    for g in names {
        group(&em, &owner, g).await;
    }
    (em, owner)
}

/// PUT the role definition `body` at `{url_scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
async fn put_role(
    em: &Emulator,
    token: &str,
    url_scope: &str,
    guid: &str,
    body: Value,
) -> (u16, Value) {
    call(
        em,
        token,
        Method::PUT,
        &rd_path(url_scope, guid),
        Some(body),
    )
    .await
}

/// ARM's 403 for an action the caller may not perform.
fn authorization_failed(p: &TestPrincipal, action: &str, scope: &str) -> Value {
    json!({"error": {"code": "AuthorizationFailed", "message": format!(
        "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
        p.app_id, p.object_id
    )}})
}

/// ARM's 403 for a role-assignment write or delete (a missing role or a failed condition).
fn assignment_refused(p: &TestPrincipal, action: &str, assignment_id: &str) -> Value {
    json!({"error": {"code": "AuthorizationFailed", "message": format!(
        "The client '{}' with object id '{}' does not have authorization or an ABAC condition not fulfilled to perform action 'Microsoft.Authorization/roleAssignments/{action}' over scope '{assignment_id}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
        p.app_id, p.object_id
    )}})
}

/// A custom-role write or delete allowed at the URL's scope but not at every assignable scope.
fn linked_refused(p: &TestPrincipal, action: &str, scope: &str, linked: &str) -> Value {
    json!({"error": {"code": "LinkedAuthorizationFailed", "message": format!(
        "The client '{}' with object id '{}' has permission to perform action 'Microsoft.Authorization/roleDefinitions/{action}' on scope '{scope}'; however, it does not have permission to perform action 'Microsoft.Authorization/roleDefinitions/{action}' on the linked scope(s)'{linked}' or the linked scope(s)are invalid",
        p.app_id, p.object_id
    )}})
}

fn role_body(name: &str, actions: &[&str], data_actions: &[&str], scopes: &[String]) -> Value {
    json!({"properties": {
        "roleName": name,
        "description": "hardening",
        "assignableScopes": scopes,
        "permissions": [{"actions": actions, "notActions": [], "dataActions": data_actions, "notDataActions": []}],
    }})
}

fn role_not_in_scope(guid: &str) -> Value {
    json!({"error": {"code": "RoleDefinitionDoesNotExist", "message": format!("The specified role definition with ID '{guid}' does not exist.")}})
}

/// The attack the adversarial review found, and every way around it: an
/// Owner of `rt-a` cannot widen, narrow, replace or delete a role assignable
/// at the subscription, whichever URL it addresses it at, with az or raw
/// requests; it can author roles for its own group only.
#[tokio::test]
async fn a_group_owner_cannot_touch_a_role_assignable_above_its_group() {
    let (em, owner_token) = with_groups(&["rt-a", "rt-ab"]).await;
    let owner = Az::new(&em, Mode::Transparent).await;
    assert!(owner.login(CLIENT_SECRET).await.ok);
    let s = sub();
    let (rt_a, rt_ab) = (rg("rt-a"), rg("rt-ab"));

    // The subscription's owner makes a custom role assignable at the subscription (az).
    let created = owner
        .json(&[
            "role",
            "definition",
            "create",
            "--role-definition",
            &json!({"Name": "Team Operator", "Description": "reads everything",
                    "Actions": ["*/read"], "AssignableScopes": [s]})
            .to_string(),
        ])
        .await;
    let guid = created["name"].as_str().unwrap().to_string();
    assert_eq!(created["roleType"], "CustomRole");
    assert_eq!(created["assignableScopes"], json!([s]));

    // The attacker: Owner of rt-a, nothing else.
    let attacker = em.new_principal().await;
    let (st, b, _) = assign(
        &em,
        &owner_token,
        &rt_a,
        OWNER,
        &attacker.object_id,
        Some("ServicePrincipal"),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let widened = role_body("Team Operator", &["*"], &[], std::slice::from_ref(&s));

    // Widening it through the group's URL (the attack), through a resource
    // inside the group, or through the subscription's own URL.
    let (st, b) = put_role(&em, &attacker.token, &rt_a, &guid, widened.clone()).await;
    assert_eq!(
        (st, b),
        (403, linked_refused(&attacker, "write", &rt_a, &s))
    );
    let ident = format!("{rt_a}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1");
    let (st, b) = put_role(&em, &attacker.token, &ident, &guid, widened.clone()).await;
    assert_eq!(
        (st, b),
        (403, linked_refused(&attacker, "write", &ident, &s))
    );
    let (st, b) = put_role(&em, &attacker.token, &s, &guid, widened.clone()).await;
    assert_eq!(
        (st, b),
        (
            403,
            authorization_failed(
                &attacker,
                "Microsoft.Authorization/roleDefinitions/write",
                &rd_path(&s, &guid)
            )
        )
    );
    // The tenant-level address is no way in either: the emulator routes no
    // role definition outside a subscription.
    let (st, b) = call(
        &em,
        &attacker.token,
        Method::PUT,
        &format!("/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
        Some(widened.clone()),
    )
    .await;
    let tenant_level = format!("/providers/Microsoft.Authorization/roleDefinitions/{guid}");
    assert_eq!(
        (st, b),
        (
            404,
            json!({"error": {"code": "NotFound", "target": tenant_level,
                "message": format!("The requested path '{tenant_level}' was not found.")}})
        )
    );

    // Narrowing it to the group (it was assignable at the subscription: the old scope counts), with az.
    let az_attacker = az_as(&em, &attacker).await;
    let update = json!({"id": rd_path(&s, &guid), "roleName": "Team Operator", "description": "mine now",
        "actions": ["*"], "notActions": [], "assignableScopes": [rt_a]});
    let want = linked_refused(&attacker, "write", &rt_a, &s);
    az_refused(
        &az_attacker,
        &[
            "role",
            "definition",
            "update",
            "--role-definition",
            &update.to_string(),
        ],
        &want,
    )
    .await;
    let (st, b) = put_role(
        &em,
        &attacker.token,
        &rt_a,
        &guid,
        role_body("Team Operator", &["*"], &[], std::slice::from_ref(&rt_a)),
    )
    .await;
    assert_eq!(
        (st, b),
        (403, linked_refused(&attacker, "write", &rt_a, &s))
    );

    // Deleting it: az finds it by name at the group and deletes it there; refused.
    let want = linked_refused(&attacker, "delete", &rt_a, &s);
    let args = [
        "role",
        "definition",
        "delete",
        "--name",
        "Team Operator",
        "--scope",
        &rt_a,
    ];
    az_refused(&az_attacker, &args, &want).await;
    let (st, b) = call(
        &em,
        &attacker.token,
        Method::DELETE,
        &rd_path(&rt_a, &guid),
        None,
    )
    .await;
    assert_eq!(
        (st, b),
        (403, linked_refused(&attacker, "delete", &rt_a, &s))
    );

    // Nothing changed.
    let (st, role) = call(&em, &owner_token, Method::GET, &rd_path(&s, &guid), None).await;
    assert_eq!(st, 200);
    assert_eq!(
        role["properties"]["permissions"][0]["actions"],
        json!(["*/read"])
    );
    assert_eq!(role["properties"]["assignableScopes"], json!([s]));
    assert_eq!(role["properties"]["description"], "reads everything");

    // New roles: assignable above the group, or beside it (rt-ab shares rt-a's
    // prefix but is no child of it), are refused, naming only what is missing.
    let (st, b) = put_role(
        &em,
        &attacker.token,
        &rt_a,
        &uuid::Uuid::new_v4().to_string(),
        role_body("Wide", &["*"], &[], std::slice::from_ref(&s)),
    )
    .await;
    assert_eq!(
        (st, b),
        (403, linked_refused(&attacker, "write", &rt_a, &s))
    );
    let (st, b) = put_role(
        &em,
        &attacker.token,
        &rt_a,
        &uuid::Uuid::new_v4().to_string(),
        role_body(
            "Beside",
            &["*"],
            &[],
            &[
                rt_a.clone(),
                rt_ab.clone(),
                format!("{s}/resourceGroups/other"),
            ],
        ),
    )
    .await;
    assert_eq!(
        (st, b),
        (
            403,
            linked_refused(
                &attacker,
                "write",
                &rt_a,
                &format!("{rt_ab},{s}/resourceGroups/other")
            )
        )
    );
    // A role for its own group, with every data action, is the attacker's to make,
    // and reaches no further than the group.
    let own = uuid::Uuid::new_v4().to_string();
    let (st, b) = put_role(
        &em,
        &attacker.token,
        &rt_a,
        &own,
        role_body(
            "Group Everything",
            &["*"],
            &["*"],
            std::slice::from_ref(&rt_a),
        ),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let (st, b, _) = assign(
        &em,
        &attacker.token,
        &rt_a,
        &own,
        &attacker.object_id,
        Some("ServicePrincipal"),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let (st, b, path) = assign(
        &em,
        &attacker.token,
        &s,
        &own,
        &attacker.object_id,
        Some("ServicePrincipal"),
    )
    .await;
    assert_eq!(
        (st, b),
        (403, assignment_refused(&attacker, "write", &path))
    );
    // Not assignable above or beside the group, even by the subscription's owner.
    for scope in [&s, &rt_ab] {
        let (st, b, _) = assign(&em, &owner_token, scope, &own, &attacker.object_id, None).await;
        assert_eq!((st, b), (400, role_not_in_scope(&own)), "{scope}");
    }

    // Built-in roles stay immutable, even for the subscription's owner.
    for (token, scope) in [(&attacker.token, &rt_a), (&owner_token, &s)] {
        let (st, b) = put_role(&em, token, scope, OWNER, widened.clone()).await;
        let immutable = json!({"error": {"code": "CannotModifyBuiltInRole", "message": "Built-in roles cannot be modified or deleted."}});
        assert_eq!((st, &b), (400, &immutable));
        let (st, b) = call(&em, token, Method::DELETE, &rd_path(scope, READER), None).await;
        assert_eq!((st, b), (400, immutable));
    }

    // The subscription's owner may do all of it (az update, az delete).
    let update = json!({"id": rd_path(&s, &guid), "roleName": "Team Operator", "description": "reads more",
        "actions": ["*/read", "Microsoft.Support/*"], "assignableScopes": [s, rt_a]});
    let updated = owner
        .json(&[
            "role",
            "definition",
            "update",
            "--role-definition",
            &update.to_string(),
        ])
        .await;
    assert_eq!(
        updated["permissions"][0]["actions"],
        json!(["*/read", "Microsoft.Support/*"])
    );
    owner
        .ok(&[
            "role",
            "definition",
            "delete",
            "--name",
            "Team Operator",
            "--scope",
            &s,
        ])
        .await;
    let (st, b) = call(&em, &owner_token, Method::GET, &rd_path(&s, &guid), None).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (404, Some("RoleDefinitionDoesNotExist"))
    );
}

/// The rules a custom role's author meets beyond authorization: names unique
/// in the tenant, no root or wildcard assignable scope, no scope dropped
/// from under its assignments, no delete while assigned, and a role shows
/// only where it can be assigned.
#[tokio::test]
async fn custom_role_authoring_rules() {
    let (em, owner) = with_groups(&["rt-a", "rt-ab", "rt-c"]).await;
    let s = sub();
    let (rt_a, rt_ab) = (rg("rt-a"), rg("rt-ab"));
    let a = uuid::Uuid::new_v4().to_string();
    // The role under test, "Dup", (re)written at rt-a's URL with these assignable scopes.
    let dup = |scopes: Vec<String>| {
        let (em, owner, rt_a, a) = (&em, &owner, &rt_a, &a);
        async move {
            put_role(
                em,
                owner,
                rt_a,
                a,
                role_body("Dup", &["*/read"], &[], &scopes),
            )
            .await
        }
    };
    let (st, b) = dup(vec![rt_a.clone(), rt_ab.clone()]).await;
    assert_eq!(st, 201, "{b}");

    // Names are the tenant's: a sibling scope, another case, a built-in's name.
    let same_name = json!({"error": {"code": "RoleDefinitionWithSameNameExists",
        "message": "A custom role with the same name already exists in this directory. Use a different name."}});
    for (name, scope) in [("dup", &rg("rt-c")), ("DUP", &s), ("owner", &s)] {
        let (st, b) = put_role(
            &em,
            &owner,
            scope,
            &uuid::Uuid::new_v4().to_string(),
            role_body(name, &["*/read"], &[], std::slice::from_ref(scope)),
        )
        .await;
        assert_eq!((st, &b), (409, &same_name), "{name}");
    }

    // Root and wildcard assignable scopes, and things that are no scope.
    for bad in [
        "/",
        "/subscriptions/*",
        &format!("{s}/*"),
        &format!("{s}/resourceGroups/*"),
        "*",
        "rt-a",
        &format!("{s}/resourceGroups/x/.."),
        &format!("{s}/resourceGroups"),
    ] {
        let (st, b) = put_role(
            &em,
            &owner,
            &s,
            &uuid::Uuid::new_v4().to_string(),
            role_body("Bad scope", &["*/read"], &[], &[s.clone(), bad.to_string()]),
        )
        .await;
        assert_eq!(
            (st, b),
            (
                400,
                json!({"error": {"code": "InvalidAssignableScope", "message": format!(
                    "The assignable scope '{bad}' is not valid. A custom role's assignable scopes must be subscriptions, resource groups or resources; the root scope '/' and wildcards ('*') are not allowed."
                )}})
            ),
            "{bad}"
        );
    }

    // Shown where assignable (at, above, below), not beside.
    let (st, _) = call(&em, &owner, Method::GET, &rd_path(&s, &a), None).await;
    assert_eq!(
        st, 200,
        "a role assignable in a group shows at the subscription above it"
    );
    let (st, b) = call(&em, &owner, Method::GET, &rd_path(&rg("rt-c"), &a), None).await;
    assert_eq!(
        (st, b),
        (
            404,
            json!({"error": {"code": "RoleDefinitionDoesNotExist", "message": "The specified role definition does not exist."}})
        )
    );

    // An assignment in rt-ab pins that scope; deleting the role is refused too.
    let p = em.new_principal().await;
    let (st, b, ra) = assign(&em, &owner, &rt_ab, &a, &p.object_id, None).await;
    assert_eq!(st, 201, "{b}");
    let (st, b) = dup(vec![rt_a.clone()]).await;
    assert_eq!(
        (st, b),
        (
            409,
            json!({"error": {"code": "RoleScopeBeingRemovedContainsAssignments", "message": format!(
                "Role assignments found under scope '{rt_ab}' which is being removed. Removing this scope from the role will orphan these assignments. Delete these assignments before removing the scope."
            )}})
        )
    );
    // Replacing rt-ab by the subscription above it keeps the assignment covered: allowed.
    let (st, b) = dup(vec![rt_a.clone(), s.clone()]).await;
    assert_eq!(
        (st, &b["properties"]["assignableScopes"]),
        (201, &json!([rt_a, s])),
        "{b}"
    );
    let (st, b) = call(&em, &owner, Method::DELETE, &rd_path(&s, &a), None).await;
    assert_eq!(
        (st, b),
        (
            409,
            json!({"error": {"code": "RoleDefinitionHasAssignments", "message": "There are existing role assignments referencing role"}})
        )
    );
    let (st, _) = call(&em, &owner, Method::DELETE, &ra, None).await;
    assert_eq!(st, 200);
    let (st, b) = dup(vec![rt_a.clone()]).await;
    assert_eq!(st, 201, "{b}");
    let (st, b) = call(&em, &owner, Method::DELETE, &rd_path(&rt_a, &a), None).await;
    assert_eq!((st, &b["name"]), (200, &json!(a)), "{b}");
    let (st, _) = call(&em, &owner, Method::DELETE, &rd_path(&rt_a, &a), None).await;
    assert_eq!(st, 204);
}

/// The example: a Role Based Access Control Administrator limited by
/// the "cannot assign Owner" condition (given with az) cannot assign Owner,
/// to anyone or itself, nor remove an Owner assignment; it can assign and
/// remove other roles. Without the condition the same role can.
#[tokio::test]
async fn rbac_administrator_that_cannot_assign_owner() {
    let em = Emulator::start();
    let owner_token = em.arm_token().await;
    let owner = Az::new(&em, Mode::Transparent).await;
    assert!(owner.login(CLIENT_SECRET).await.ok);
    let examples = delegation_examples();
    let condition = examples["Cannot assign Owner"].clone();
    let s = sub();
    let delegate = em.new_principal().await;
    let made = owner
        .json(&[
            "role",
            "assignment",
            "create",
            "--assignee-object-id",
            &delegate.object_id,
            "--assignee-principal-type",
            "ServicePrincipal",
            "--role",
            "Role Based Access Control Administrator",
            "--scope",
            &s,
            "--condition",
            &condition,
            "--condition-version",
            "2.0",
        ])
        .await;
    assert_eq!(made["condition"], condition.as_str());
    assert_eq!(made["conditionVersion"], "2.0");
    assert!(
        made["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with(RBAC_ADMIN),
        "{made}"
    );

    let other = em.new_principal().await;
    for target in [&other.object_id, &delegate.object_id] {
        let (st, b, path) = assign(&em, &delegate.token, &s, OWNER, target, None).await;
        assert_eq!(
            (st, b),
            (403, assignment_refused(&delegate, "write", &path))
        );
    }
    // Naming the role in any case or with a trailing slash changes nothing.
    let mut shouted = assignment_body(OWNER, &other.object_id, None);
    shouted["properties"]["roleDefinitionId"] = json!(format!(
        "{s}/providers/Microsoft.Authorization/roleDefinitions/{}/",
        OWNER.to_uppercase()
    ));
    let name = uuid::Uuid::new_v4().to_string();
    let (st, b) = call(
        &em,
        &delegate.token,
        Method::PUT,
        &ra_path(&s, &name),
        Some(shouted),
    )
    .await;
    assert_eq!(
        (st, b),
        (
            403,
            assignment_refused(&delegate, "write", &ra_path(&s, &name))
        )
    );

    let (st, b, reader) = assign(&em, &delegate.token, &s, READER, &other.object_id, None).await;
    assert_eq!(st, 201, "{b}");
    // Deletes read the stored assignment: Owner's is out of reach, Reader's is not.
    let (st, b, owners) = assign(&em, &owner_token, &s, OWNER, &other.object_id, None).await;
    assert_eq!(st, 201, "{b}");
    let (st, b) = call(&em, &delegate.token, Method::DELETE, &owners, None).await;
    assert_eq!(
        (st, b),
        (403, assignment_refused(&delegate, "delete", &owners))
    );
    let (st, _) = call(&em, &delegate.token, Method::DELETE, &reader, None).await;
    assert_eq!(st, 200);
    // A delete of nothing has no attributes either: refused, saying nothing of existence.
    let nothing = ra_path(&s, &uuid::Uuid::new_v4().to_string());
    let (st, b) = call(&em, &delegate.token, Method::DELETE, &nothing, None).await;
    assert_eq!(
        (st, b),
        (403, assignment_refused(&delegate, "delete", &nothing))
    );

    // az, as the delegate, meets the same refusal.
    let az_delegate = az_as(&em, &delegate).await;
    let name = uuid::Uuid::new_v4().to_string();
    let want = assignment_refused(&delegate, "write", &ra_path(&s, &name));
    #[rustfmt::skip]
    let args = ["role", "assignment", "create", "--assignee-object-id", &other.object_id,
        "--assignee-principal-type", "ServicePrincipal", "--role", "Owner", "--scope", &s, "--name", &name];
    az_refused(&az_delegate, &args, &want).await;

    // The same role with no condition assigns Owner.
    let free = em.new_principal().await;
    let (st, b, _) = assign(&em, &owner_token, &s, RBAC_ADMIN, &free.object_id, None).await;
    assert_eq!(st, 201, "{b}");
    let (st, b, _) = assign(
        &em,
        &free.token,
        &s,
        OWNER,
        &free.object_id,
        Some("ServicePrincipal"),
    )
    .await;
    assert_eq!(st, 201, "{b}");
}

/// The conditions of the fixture, by example name.
fn delegation_examples() -> std::collections::BTreeMap<String, String> {
    let doc: Value = serde_json::from_str(include_str!(
        "../../fixtures/conditions/delegation-examples.json"
    ))
    .unwrap();
    doc["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["example"].as_str().unwrap().to_string(),
                e["condition"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// What one table row tries as the delegate.
#[derive(Clone, Copy)]
enum Try {
    /// Assign `role` to `principal` (declaring `type`, if any): `expect` 201,
    /// 403, or 400 when the condition passes but the emulator lacks the role.
    Write {
        role: &'static str,
        principal: Who,
        declared: Option<&'static str>,
        expect: u16,
    },
    /// The owner assigns `role` to `principal`; the delegate deletes it: `expect` 200 or 403.
    Delete {
        role: &'static str,
        principal: Who,
        declared: Option<&'static str>,
        expect: u16,
    },
}

/// A principal of the row: the delegation examples' own ids, or a service
/// principal of the emulator's directory (its type is the directory's,
/// whatever the request declares).
#[derive(Clone, Copy)]
enum Who {
    Id(&'static str),
    DirectoryPrincipal,
}

/// Microsoft's delegation examples, each condition verbatim on a Role Based
/// Access Control Administrator assignment at a resource group, then an
/// allowed and a refused write (and delete, where the example constrains
/// deletes) by the delegate, with the exact status and body.
#[tokio::test]
async fn microsofts_delegation_examples_as_a_table() {
    use Try::{Delete, Write};
    use Who::{DirectoryPrincipal as SP, Id};
    let em = Emulator::start();
    let owner = em.arm_token().await;
    group(&em, &owner, "delegated").await;
    let scope = rg("delegated");
    let examples = delegation_examples();
    // w: the delegate assigns; d: the owner assigns, the delegate deletes.
    // (role, principal, principalType declared, expected status)
    let w = |role, who, declared, expect| Write {
        role,
        principal: who,
        declared,
        expect,
    };
    let d = |role, who, declared, expect| Delete {
        role,
        principal: who,
        declared,
        expect,
    };
    let (user, group, none) = (Some("User"), Some("Group"), None);
    #[rustfmt::skip]
    let table: Vec<(&str, Vec<Try>)> = vec![
        ("Constrain roles", vec![
            w(BACKUP_READER, SP, none, 201),
            w(CONTRIBUTOR, SP, none, 403),
            d(BACKUP_CONTRIBUTOR, SP, none, 200),
            d(READER, SP, none, 403),
        ]),
        ("Constrain roles and principal types", vec![
            w(BACKUP_READER, Id(SOMEONE), user, 201),
            w(BACKUP_READER, SP, none, 403),
            // A service principal passed off as a group is still a service principal.
            w(BACKUP_CONTRIBUTOR, SP, group, 403),
            d(BACKUP_CONTRIBUTOR, Id(MARKETING), group, 200),
            d(BACKUP_CONTRIBUTOR, SP, none, 403),
        ]),
        ("Constrain roles and specific groups", vec![
            w(BACKUP_READER, Id(MARKETING), group, 201),
            w(BACKUP_READER, Id(SOMEONE), group, 403),
            d(BACKUP_CONTRIBUTOR, Id(MARKETING), group, 200),
            d(BACKUP_CONTRIBUTOR, Id(SOMEONE), group, 403),
        ]),
        // The virtual-machine and AKS roles are not in the emulator's catalog: the
        // allowed write passes authorization and meets RoleDefinitionDoesNotExist.
        ("Constrain virtual machine management", vec![
            w(VM_ADMIN_LOGIN, Id(DARA), user, 400),
            w(VM_ADMIN_LOGIN, Id(SOMEONE), user, 403),
            w(READER, Id(DARA), user, 403),
        ]),
        ("Constrain AKS cluster management", vec![
            w(AKS_RBAC_WRITER, Id(DARA), user, 400),
            w(AKS_RBAC_WRITER, SP, none, 403),
        ]),
        ("Constrain ACR management", vec![
            w(ACRPULL, SP, none, 201),
            w(ACRPULL, Id(SOMEONE), user, 403),
            w(READER, SP, none, 403),
            d(ACRPULL, SP, none, 200),
            d(ACRPULL, Id(SOMEONE), group, 403),
        ]),
        ("Constrain add role assignments", vec![
            w(BACKUP_CONTRIBUTOR, SP, none, 201),
            w(OWNER, SP, none, 403),
            d(OWNER, SP, none, 200),
        ]),
        ("Allow most roles, but don't allow others to assign roles", vec![
            w(CONTRIBUTOR, SP, none, 201),
            w(OWNER, SP, none, 403),
            w(UAA, SP, none, 403),
            w(RBAC_ADMIN, SP, none, 403),
            d(READER, SP, none, 200),
            d(UAA, SP, none, 403),
        ]),
        ("Cannot assign Owner", vec![
            w(UAA, SP, none, 201),
            w(OWNER, SP, none, 403),
            d(OWNER, SP, none, 403),
        ]),
    ];
    assert_eq!(
        table.len(),
        examples.len(),
        "every example of the fixture has a row"
    );
    for (example, tries) in table {
        let condition = &examples[example];
        let delegate = em.new_principal().await;
        let mut body = assignment_body(RBAC_ADMIN, &delegate.object_id, Some("ServicePrincipal"));
        body["properties"]["condition"] = json!(condition);
        body["properties"]["conditionVersion"] = json!("2.0");
        let (st, b) = call(
            &em,
            &owner,
            Method::PUT,
            &ra_path(&scope, &uuid::Uuid::new_v4().to_string()),
            Some(body),
        )
        .await;
        assert_eq!(st, 201, "{example}: {b}");
        assert_eq!(b["properties"]["condition"], condition.as_str());
        let s = &scope;
        for (i, t) in tries.into_iter().enumerate() {
            let who = |w: Who| {
                let em = &em;
                async move {
                    match w {
                        Who::Id(id) => id.to_string(),
                        Who::DirectoryPrincipal => em.new_principal().await.object_id,
                    }
                }
            };
            match t {
                Try::Write {
                    role,
                    principal: w,
                    declared,
                    expect,
                } => {
                    let target = who(w).await;
                    let name = uuid::Uuid::new_v4().to_string();
                    let (st, b) =
                        assign_named(&em, &delegate.token, s, &name, role, &target, declared).await;
                    let want = match expect {
                        201 => {
                            assert_eq!(
                                b["properties"]["principalId"],
                                target.as_str(),
                                "{example} #{i}"
                            );
                            b.clone()
                        }
                        403 => assignment_refused(&delegate, "write", &ra_path(s, &name)),
                        _ => role_not_in_scope(role),
                    };
                    assert_eq!((st, b), (expect, want), "{example} #{i}");
                }
                Try::Delete {
                    role,
                    principal: w,
                    declared,
                    expect,
                } => {
                    let target = who(w).await;
                    let (st, b, path) = assign(&em, &owner, s, role, &target, declared).await;
                    assert_eq!(st, 201, "{example} #{i}: {b}");
                    let (st, b) = call(&em, &delegate.token, Method::DELETE, &path, None).await;
                    if expect == 200 {
                        assert_eq!((st, &b["id"]), (200, &json!(path)), "{example} #{i}: {b}");
                    } else {
                        assert_eq!(
                            (st, b),
                            (403, assignment_refused(&delegate, "delete", &path)),
                            "{example} #{i}"
                        );
                        let (st, _) = call(&em, &owner, Method::GET, &path, None).await;
                        assert_eq!(st, 200, "{example} #{i}: still there");
                    }
                }
            }
        }
    }
}

/// The regression list's RBAC half: role assignments by a principal without
/// `roleAssignments/write`, and by an Owner of `rt-a` above it, beside it
/// (`rt-ab`: a name prefix that is no path prefix) or outside it, stay
/// refused with ARM's body; its own group (any case, a trailing slash, a
/// resource inside) is its to manage.
#[tokio::test]
async fn role_assignments_outside_the_callers_scope_stay_refused() {
    let (em, owner) = with_groups(&["rt-a", "rt-ab", "rt"]).await;
    let s = sub();
    let target = em.new_principal().await;

    // Contributor (everything but Microsoft.Authorization writes) and Reader on rt-a.
    for role in [CONTRIBUTOR, READER] {
        let p = em.new_principal().await;
        let (st, b, _) = assign(&em, &owner, &rg("rt-a"), role, &p.object_id, None).await;
        assert_eq!(st, 201, "{b}");
        let (st, b, path) =
            assign(&em, &p.token, &rg("rt-a"), READER, &target.object_id, None).await;
        assert_eq!((st, b), (403, assignment_refused(&p, "write", &path)));
        let (st, b, existing) =
            assign(&em, &owner, &rg("rt-a"), ACRPULL, &target.object_id, None).await;
        assert_eq!(st, 201, "{b}");
        let (st, b) = call(&em, &p.token, Method::DELETE, &existing, None).await;
        assert_eq!((st, b), (403, assignment_refused(&p, "delete", &existing)));
        let (st, _) = call(&em, &owner, Method::DELETE, &existing, None).await;
        assert_eq!(st, 200);
    }

    // Owner of rt-a.
    let p = em.new_principal().await;
    let (st, b, _) = assign(&em, &owner, &rg("rt-a"), OWNER, &p.object_id, None).await;
    assert_eq!(st, 201, "{b}");
    let other_sub = "/subscriptions/00000000-0000-4000-8000-0000000000ff".to_string();
    for scope in [
        s.clone(),   // above
        rg("rt-ab"), // beside: shares the prefix "rt-a"
        rg("rt"),    // beside: a prefix of "rt-a"
        format!(
            "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x",
            rg("rt-ab")
        ),
    ] {
        let (st, b, path) = assign(
            &em,
            &p.token,
            &scope,
            OWNER,
            &p.object_id,
            Some("ServicePrincipal"),
        )
        .await;
        assert_eq!(
            (st, b),
            (403, assignment_refused(&p, "write", &path)),
            "{scope}"
        );
    }
    // Outside: another subscription (one the emulator does not have: ARM's 404 for it).
    let (st, b, _) = assign(
        &em,
        &p.token,
        &other_sub,
        OWNER,
        &p.object_id,
        Some("ServicePrincipal"),
    )
    .await;
    assert_eq!(
        (st, b),
        (
            404,
            json!({"error": {"code": "SubscriptionNotFound", "message": format!(
                "The subscription '{}' could not be found.",
                other_sub.trim_start_matches("/subscriptions/")
            )}})
        )
    );
    // Deleting the owner's assignments above and beside.
    for scope in [s.clone(), rg("rt-ab")] {
        let (st, b, path) = assign(&em, &owner, &scope, READER, &target.object_id, None).await;
        assert_eq!(st, 201, "{b}");
        let (st, b) = call(&em, &p.token, Method::DELETE, &path, None).await;
        assert_eq!(
            (st, b),
            (403, assignment_refused(&p, "delete", &path)),
            "{scope}"
        );
    }
    // Its own group, whatever the casing or a trailing slash, and a resource inside it.
    for scope in [
        rg("rt-a"),
        rg("RT-A"),
        format!("{}/", rg("rt-a")),
        format!(
            "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x",
            rg("rt-a")
        ),
    ] {
        let fresh = em.new_principal().await;
        let (st, b, _) = assign(&em, &p.token, &scope, READER, &fresh.object_id, None).await;
        assert_eq!(st, 201, "{scope}: {b}");
    }
    // No role at all.
    let nobody = em.new_principal().await;
    let (st, b, path) = assign(
        &em,
        &nobody.token,
        &rg("rt-a"),
        READER,
        &nobody.object_id,
        Some("ServicePrincipal"),
    )
    .await;
    assert_eq!((st, b), (403, assignment_refused(&nobody, "write", &path)));
}

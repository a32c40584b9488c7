//! authorize() as role assignments grow, and memory with a large world.
//!
//! `cargo bench --bench authorize`. In process, in-memory store. Prints
//! figures; asserts nothing about speed.
//!
//! - the cost of one authorize() (ARM control action, the caller holding one
//!   assignment among N) for N = 10 … 100,000, beside the alternative it
//!   replaced: scanning every assignment for the caller's;
//! - resident memory idle, and with 10,000 resources and 100,000 role
//!   assignments (the process's own RSS).

use azemu_emulator::authz::access::{self, Question};
use azemu_emulator::authz::engine::ActionKind;
use azemu_emulator::entra::{Principal, PrincipalKind};
use azemu_emulator::store::tables;
use azemu_emulator::{AppState, Config};
use serde_json::json;
use std::time::{Duration, Instant};

const SUB: &str = "a2e0a2e0-0000-4000-8000-000000000002";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::new(dir.path());
    c.state_in_memory = true;
    c.blobs_in_memory = true;
    (AppState::new(c).unwrap(), dir)
}

fn assignment(i: usize, principal: &str) -> (String, serde_json::Value) {
    let scope = format!("/subscriptions/{SUB}/resourceGroups/rg{}", i % 100);
    let name = format!("00000000-0000-4000-8000-{i:012}");
    let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    (
        id.to_ascii_lowercase(),
        json!({"id": id, "name": name, "type": "Microsoft.Authorization/roleAssignments",
               "properties": {"roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{READER}"),
                              "principalId": principal, "principalType": "ServicePrincipal", "scope": scope}}),
    )
}

fn per_call(n: usize, f: impl Fn()) -> Duration {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n as u32
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    if std::env::args().any(|a| a == "--memory-only") {
        return memory(quick);
    }
    let sizes: &[usize] = if quick {
        &[10, 1_000]
    } else {
        &[10, 1_000, 10_000, 100_000]
    };
    let caller = Principal {
        object_id: "5c1e0000-0000-4000-8000-00000000cafe".into(),
        app_id: "5c1e0000-0000-4000-8000-00000000beef".into(),
        tenant_id: "a2e0a2e0-0000-4000-8000-000000000001".into(),
        kind: PrincipalKind::Application,
    };
    println!("authorize(): one caller's Reader among N assignments (in memory)");
    for &n in sizes {
        let (st, _dir) = state();
        for i in 0..n - 1 {
            let (k, v) = assignment(i, &format!("{:08x}-0000-4000-8000-000000000000", i));
            access::put_assignment(&st, &k, v).unwrap();
        }
        let (k, v) = assignment(n - 1, &caller.object_id);
        access::put_assignment(&st, &k, v).unwrap();
        let scope = format!("/subscriptions/{SUB}/resourceGroups/rg{}", (n - 1) % 100);
        let no_attrs = azemu_emulator::authz::condition::no_attributes;
        let q = Question {
            principal: &caller,
            action: "Microsoft.Resources/subscriptions/resourceGroups/read",
            kind: ActionKind::Control,
            scope: &scope,
            attributes: &no_attrs,
        };
        let iters = if n >= 10_000 { 200 } else { 2_000 };
        let indexed = per_call(iters, || {
            assert!(matches!(
                access::authorize(&st, &q).unwrap(),
                azemu_emulator::authz::Decision::Allowed { .. }
            ));
        });
        // The alternative: every assignment read to find the caller's.
        let scanned = per_call(iters.min(200), || {
            let mine = st
                .store
                .scan(tables::ROLE_ASSIGNMENTS, "")
                .unwrap()
                .into_iter()
                .filter(|(_, v)| v["properties"]["principalId"] == caller.object_id.as_str())
                .count();
            assert_eq!(mine, 1);
        });
        println!(
            "  N = {n:>7}: authorize {:>9.1} µs   scan-all alternative {:>10.1} µs   ({:.0}×)",
            indexed.as_secs_f64() * 1e6,
            scanned.as_secs_f64() * 1e6,
            scanned.as_secs_f64() / indexed.as_secs_f64()
        );
    }

    // Memory in a fresh process of its own: what the loops above allocated
    // would otherwise stay counted.
    let mut args = vec!["--memory-only".to_string()];
    if !quick {
        args.push("--bench".into());
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(&args)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

fn memory(quick: bool) {
    let (idle_state, _idle_dir) = state();
    let idle = rss_mib();
    drop(idle_state);
    let (resources, assignments) = if quick {
        (1_000, 10_000)
    } else {
        (10_000, 100_000)
    };
    let (st, _dir) = state();
    for i in 0..resources {
        let id = format!(
            "/subscriptions/{SUB}/resourceGroups/rg{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id{i}",
            i % 100
        );
        st.store
            .put(
                tables::RESOURCES,
                &id.to_ascii_lowercase(),
                json!({"id": id, "name": format!("id{i}"), "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                       "location": "eastus", "tags": {}, "properties": {"tenantId": "a2e0a2e0-0000-4000-8000-000000000001",
                       "principalId": format!("{i:08x}-0000-4000-8000-000000000000"), "clientId": format!("{i:08x}-0000-4000-8000-000000000001")}}),
            )
            .unwrap();
    }
    for i in 0..assignments {
        let (k, v) = assignment(
            i,
            &format!("{:08x}-0000-4000-8000-000000000000", i % resources),
        );
        access::put_assignment(&st, &k, v).unwrap();
    }
    println!(
        "memory (RSS of this process): idle emulator state {idle:.0} MiB; with {resources} resources and {assignments} role assignments {:.0} MiB",
        rss_mib()
    );
}

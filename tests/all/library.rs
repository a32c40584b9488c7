//! azemu as a library (`azemu::Emulator`): instances started inside the test
//! process, each isolated.

/// 32 instances in one process run the same flow at once without seeing each
/// other: each creates its own resource group and identity and lists only its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_isolated_instances() {
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..32 {
        tasks.push(tokio::spawn(async move {
            let em = azemu::Emulator::builder().start().await.unwrap();
            let client = em.client().unwrap();
            let name = format!("lib-rg-{i}");
            client.create_resource_group(&name, "westeurope").await.unwrap();
            let groups: Vec<String> = client
                .list_resource_groups()
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.name)
                .collect();
            assert_eq!(groups, vec![name.clone()], "instance {i} sees only its own group");
            let http = reqwest::Client::builder()
                .use_rustls_tls()
                .add_root_certificate(reqwest::Certificate::from_pem(em.ca_pem()).unwrap())
                .no_proxy()
                .build()
                .unwrap();
            let token = client.token(azemu_client::ARM_SCOPE).await.unwrap().access_token;
            let r = http
                .put(format!(
                    "{}/subscriptions/{}/resourceGroups/{name}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id{i}?api-version=2023-01-31",
                    em.url(),
                    em.subscription_id()
                ))
                .bearer_auth(&token)
                .json(&serde_json::json!({"location": "westeurope"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let port = em.port();
            em.stop().await;
            port
        }));
    }
    let mut ports = std::collections::BTreeSet::new();
    for t in tasks {
        ports.insert(t.await.unwrap());
    }
    assert_eq!(ports.len(), 32, "each on its own port");
    eprintln!(
        "32 in-process instances, start to stop: {:?}",
        started.elapsed()
    );
}

/// Dropping an instance stops it: its port stops answering.
#[tokio::test]
async fn drop_stops_the_server() {
    let em = azemu::Emulator::builder().start().await.unwrap();
    let client = em.client().unwrap();
    assert!(client.health().await.is_ok());
    let port = em.port();
    drop(em);
    let mut closed = false;
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(closed, "the listener on {port} closes");
}

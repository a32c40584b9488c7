//! ACI's front end for running groups: a plain HTTP request through the proxy
//! for the IP ARM reports for a group reaches its container, as one for its
//! public name does; the control API (`GET /_emulator/containers`) and
//! `GET /_emulator/world` show where each port is published locally.

use crate::aci::{create_with_identity, grant_acrpull, setup};
use crate::aci_engine::{container, emulator, push_busybox, until};
use crate::docker::Dockerd;
use crate::harness::SUBSCRIPTION;
use serde_json::json;

#[tokio::test]
async fn a_group_answers_at_its_reported_ip_and_the_control_api_shows_where() {
    let engine = Dockerd::start_bridged();
    let host = engine.host();
    let em = emulator(&engine);
    let (az, userid, spid) = setup(&em, "acife0001").await;
    let image = "acife0001.azurecr.io/busybox:v1";
    push_busybox(
        &em,
        image,
        "/bin/busybox mkdir /www; echo answer from the container > /www/index.html; exec /bin/busybox httpd -f -p 80 -h /www",
    );
    grant_acrpull(&az, "acife0001", &spid).await;
    let extra = [
        "--ports",
        "80",
        "--ip-address",
        "Public",
        "--dns-name-label",
        "aci-fe-demo",
        "-o",
        "none",
    ];
    let out = create_with_identity(&az, "fe-cg", image, &userid, &extra).await;
    assert!(out.ok, "{}", out.stderr);
    let g = until(&em, "fe-cg", "ran", |g| {
        container(g)["currentState"]["state"] == "Running"
    })
    .await;
    let ip = g["properties"]["ipAddress"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    let fqdn = "aci-fe-demo.eastus.azurecontainer.io";
    assert_eq!(g["properties"]["ipAddress"]["fqdn"], fqdn);

    // Through the proxy, by name and by the reported IP: the container answers.
    let proxy = reqwest::Proxy::http(format!("http://localhost:{}", em.port)).unwrap();
    let web = reqwest::Client::builder().proxy(proxy).build().unwrap();
    for url in [format!("http://{fqdn}/"), format!("http://{ip}/")] {
        let r = web.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(
            r.text().await.unwrap(),
            "answer from the container\n",
            "{url}"
        );
    }
    // A port the group does not expose gets the front end's 502.
    let r = web.get(format!("http://{ip}:81/")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        r.text().await.unwrap(),
        format!("azemu: no container group running here answers {ip}:81\n")
    );

    // The control API names the engine, the identity endpoint and where port 80 is published.
    let id = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerInstance/containerGroups/fe-cg"
    );
    let shown = em.control_json("/_emulator/containers").await;
    assert_eq!(shown["engine"], format!("docker at {host}"), "{shown:#}");
    let identity = shown["identityEndpoint"].as_str().unwrap();
    assert!(
        identity.starts_with("http://10.") && identity.ends_with("/msi/token"),
        "{shown:#}"
    );
    let local = shown["value"][0]["ports"][0]["local"]
        .as_str()
        .unwrap()
        .to_string();
    let ps = engine
        .ok(&[
            "ps",
            "--filter",
            &format!("label=azemu.group={id}"),
            "--format",
            "{{.Ports}}",
        ])
        .await;
    assert_eq!(ps.trim(), format!("{local}->80/tcp"));
    assert_eq!(
        shown["value"],
        json!([{"id": id, "fqdn": fqdn, "ip": ip, "ports": [{"port": 80, "protocol": "TCP", "local": local}]}])
    );
    // So does the world.
    let world = em.control_json("/_emulator/world").await;
    assert_eq!(world["containers"], shown["value"]);
    // There, on 127.0.0.1, the container answers directly.
    let direct = reqwest::get(format!("http://{local}/")).await.unwrap();
    assert_eq!(direct.text().await.unwrap(), "answer from the container\n");
}

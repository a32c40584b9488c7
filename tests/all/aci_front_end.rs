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

    // CONNECT through the proxy, to the reported IP or the name and port 80:
    // a tunnel to the group's port.
    for target in [format!("{ip}:80"), format!("{fqdn}:80")] {
        let (head, mut tunnel) = connect(em.port, &target).await;
        assert!(head.starts_with("HTTP/1.1 200 "), "{target}: {head}");
        use tokio::io::AsyncWriteExt;
        tunnel.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let answer = self::head(&mut tunnel).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "{target}: {answer}"
        );
        assert_eq!(
            body(&answer, &mut tunnel).await,
            "answer from the container\n",
            "{target}"
        );
    }
    // A port it does not expose, or a name no group holds: the front end's 502;
    // an address that is no group's, as ever, 403.
    for (target, status, body) in [
        (
            format!("{ip}:81"),
            "502",
            format!("azemu: no container group running here answers {ip}:81\n"),
        ),
        (
            "nobody-here.eastus.azurecontainer.io:80".to_string(),
            "502",
            "azemu: no container group running here answers nobody-here.eastus.azurecontainer.io:80\n".to_string(),
        ),
        (
            "10.123.45.67:80".to_string(),
            "403",
            "azemu does not emulate 10.123.45.67:80\n".to_string(),
        ),
    ] {
        let (head, mut s) = connect(em.port, &target).await;
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{target}: {head}");
        assert_eq!(self::body(&head, &mut s).await, body, "{target}");
    }

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
    // The group's sandbox publishes it.
    let ps = engine
        .ok(&[
            "ps",
            "--no-trunc",
            "--filter",
            &format!("label=azemu.group={id}"),
            "--filter",
            "label=azemu.sandbox",
            "--format",
            "{{.ID}} {{.Ports}}",
        ])
        .await;
    let (sandbox, ports) = ps.trim().split_once(' ').unwrap();
    assert_eq!(ports, format!("{local}->80/tcp"));
    assert_eq!(
        shown["value"],
        json!([{"id": id, "fqdn": fqdn, "ip": ip, "ports": [{"port": 80, "protocol": "TCP", "local": local}], "sandbox": sandbox}])
    );
    // So does the world.
    let world = em.control_json("/_emulator/world").await;
    assert_eq!(world["containers"], shown["value"]);
    // There, on 127.0.0.1, the container answers directly.
    let direct = reqwest::get(format!("http://{local}/")).await.unwrap();
    assert_eq!(direct.text().await.unwrap(), "answer from the container\n");
}

/// `CONNECT target` to the emulator at `port`, raw: the answer's head, and the
/// connection (the tunnel, when it opened), read up to the end of that head.
async fn connect(port: u16, target: &str) -> (String, tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let head = head(&mut s).await;
    (head, s)
}

/// An HTTP answer's head, read from `s` up to its blank line (bounded).
async fn head(s: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).await.unwrap(), 1, "{head:?}");
            head.push(byte[0]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("no answer");
    String::from_utf8(head).unwrap()
}

/// The body (its `Content-Length`) that follows `head` on `s`.
async fn body(head: &str, s: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    let mut out = vec![0u8; len];
    tokio::time::timeout(std::time::Duration::from_secs(30), s.read_exact(&mut out))
        .await
        .expect("the body never came")
        .unwrap();
    String::from_utf8(out).unwrap()
}

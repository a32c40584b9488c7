"""oras-py against an emulated registry, through the transparent proxy.

Its basic auth backend sends every request unauthenticated first and repeats it
with the credentials after the 401, so each chunk of a chunked upload is sent
twice, the first time answered before its body is read. Pushes a 10 MiB
artifact in 4 MiB chunks and pulls it back; pushes an artifact of a custom
type (its config's media type) whose subject is the first, then discovers it
through the referrers API, filtered by that type.

Environment: REGISTRY (host), ORAS_USER/ORAS_PASS (the admin user),
HTTPS_PROXY and REQUESTS_CA_BUNDLE (the emulator's).
Prints one `ok <what>` line per step.
"""

import hashlib
import json
import os
import sys
import tempfile
import urllib.parse

import oras.client
import oras.oci

REGISTRY = os.environ["REGISTRY"]
SBOM = "application/vnd.example.sbom.v1+json"


def main():
    client = oras.client.OrasClient(
        hostname=REGISTRY,
        auth_backend="basic",
        tls_verify=os.environ["REQUESTS_CA_BUNDLE"],
    )
    client.login(
        username=os.environ["ORAS_USER"],
        password=os.environ["ORAS_PASS"],
        hostname=REGISTRY,
    )
    work = tempfile.mkdtemp()
    os.chdir(work)

    # 10 MiB that does not compress, in 4 MiB chunks: three PATCHes, each
    # first answered 401 before its body is read.
    data = hashlib.sha256(b"azemu").digest() * (10 * 1024 * 1024 // 32)
    with open("big.bin", "wb") as f:
        f.write(data)
    target = f"{REGISTRY}/artifacts/big:v1"
    r = client.push(
        target=target,
        files=["big.bin"],
        do_chunked=True,
        chunk_size=4 * 1024 * 1024,
        quiet=True,
    )
    assert r.status_code == 201, (r.status_code, r.text)
    subject_digest = r.headers["Docker-Content-Digest"]
    print("ok pushed 10 MiB chunked", subject_digest)

    os.mkdir("out")
    pulled = client.pull(target=target, outdir="out")
    assert [os.path.basename(p) for p in pulled] == ["big.bin"], pulled
    with open(pulled[0], "rb") as f:
        assert f.read() == data
    print("ok pulled 10 MiB intact")

    # The subject as pushed (its bytes), to point a referrer at it.
    manifest = client.get_manifest(target)
    raw = client.do_request(
        f"https://{REGISTRY}/v2/artifacts/big/manifests/{subject_digest}",
        headers={"Accept": manifest["mediaType"]},
    ).content
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == subject_digest
    with open("sbom.json", "w") as f:
        json.dump({"packages": ["azemu"]}, f)
    with open("config.json", "w") as f:
        json.dump({}, f)
    subject = oras.oci.Subject(
        mediaType=manifest["mediaType"], digest=subject_digest, size=len(raw)
    )
    r = client.push(
        target=f"{REGISTRY}/artifacts/big:sbom",
        files=["sbom.json"],
        manifest_config=f"config.json:{SBOM}",
        subject=subject,
        quiet=True,
    )
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers.get("OCI-Subject") == subject_digest, dict(r.headers)
    referrer_digest = r.headers["Docker-Content-Digest"]
    print("ok pushed a referrer", referrer_digest)

    url = f"https://{REGISTRY}/v2/artifacts/big/referrers/{subject_digest}"
    for filt, expected in ((SBOM, [referrer_digest]), ("application/x-other", [])):
        r = client.do_request(f"{url}?artifactType={urllib.parse.quote(filt, safe='')}")
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers.get("OCI-Filters-Applied") == "artifactType", dict(r.headers)
        index = r.json()
        assert index["mediaType"] == "application/vnd.oci.image.index.v1+json", index
        got = [m["digest"] for m in index["manifests"]]
        assert got == expected, (filt, index)
        for m in index["manifests"]:
            assert m["artifactType"] == SBOM, m
    print("ok discovered by artifactType")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints stderr on failure
        print(f"FAILED: {e!r}", file=sys.stderr)
        raise

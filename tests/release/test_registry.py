"""Registry tags by digest against a real registry: Debian's docker-registry (distribution 2.8)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

from cdhelper.core.errors import ConflictError, InputError
from cdhelper.release.registry import Registry, split

pytestmark = pytest.mark.registry
BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    if not os.path.exists(BINARY):
        if os.environ.get("CDHELPER_REQUIRE_REGISTRY"):
            pytest.fail("docker-registry is not installed; .ci/run installs it (apt-get install docker-registry)")
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    work = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (work / "config.yml").write_text(f"""version: 0.1
log: {{level: warn}}
storage: {{filesystem: {{rootdirectory: {work}/data}}, delete: {{enabled: true}}}}
http: {{addr: 127.0.0.1:{port}}}
""")
    proc = subprocess.Popen([BINARY, "serve", str(work / "config.yml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(f"{base}/v2/", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def push_image(host: str, repo: str, content: bytes, tag: str) -> str:
    """Push a minimal OCI image over the registry HTTP API; returns its manifest digest."""
    base = f"http://{host}/v2/{repo}"

    def blob(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = requests.post(f"{base}/blobs/uploads/", timeout=10).headers["Location"]
        sep = "&" if "?" in location else "?"
        url = location if location.startswith("http") else f"http://{host}{location}"
        assert requests.put(f"{url}{sep}digest={digest}", data=data, timeout=10,
                            headers={"Content-Type": "application/octet-stream"}).status_code == 201
        return {"digest": digest, "size": len(data)}
    config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    layer = blob(content)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]}).encode()
    put = requests.put(f"{base}/manifests/{tag}", data=manifest, timeout=10,
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 201, put.text
    return put.headers["Docker-Content-Digest"]


def test_retag_by_digest_keeps_the_digest_and_is_idempotent(registry):
    digest = push_image(registry, "acme/app", b"layer one", "build-1")
    image = f"{registry}/acme/app@{digest}"
    reg = Registry()
    assert reg.tag(image, ["1.0.0", "stable"]) == ["1.0.0", "stable"]
    for tag in ("1.0.0", "stable"):
        head = requests.head(f"http://{registry}/v2/acme/app/manifests/{tag}", timeout=10,
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert head.headers["Docker-Content-Digest"] == digest
    again = Registry()
    assert again.tag(image, ["1.0.0", "stable"]) == []
    assert again.requests == 2  # two HEADs, no GET, no PUT


def test_a_registry_tag_on_another_digest_is_refused(registry):
    first = push_image(registry, "acme/other", b"first", "2.0.0")
    second = push_image(registry, "acme/other", b"second", "build-2")
    assert first != second
    with pytest.raises(ConflictError) as err:
        Registry().tag(f"{registry}/acme/other@{second}", ["2.0.0"])
    assert first in err.value.why and second in err.value.why


def test_unknown_digest_and_bad_tags_are_input_errors(registry):
    with pytest.raises(InputError) as err:
        Registry().tag(f"{registry}/acme/app@sha256:{'0' * 64}", ["x"])
    assert "has no image" in err.value.why and "push the image first" in err.value.fix
    with pytest.raises(InputError, match="not valid"):
        Registry().tag(f"{registry}/acme/app@sha256:{'0' * 64}", ["-bad"])


def test_release_puts_the_configured_tags_on_the_image(registry, pipeline, double):
    digest = push_image(registry, "acme/web", b"web layer", "ci-7")
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text('tag: {image-tags: ["{version}"]}\n')
    done = pipeline.run("release", "--version", "3.1.0", "--image", f"{registry}/acme/web@{digest}")
    assert done.code == 0, done.out
    head = requests.head(f"http://{registry}/v2/acme/web/manifests/3.1.0", timeout=10,
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert head.headers["Docker-Content-Digest"] == digest
    assert f"cdhelper-image: {registry}/acme/web@{digest}" in next(iter(double.repo("acme/app").tag_objects.values()))["message"]


def test_image_names_map_to_registries_like_docker_does():
    d = "sha256:" + "a" * 64
    assert split(f"ghcr.io/acme/app@{d}").registry == "ghcr.io"
    assert (split(f"nginx@{d}").registry, split(f"nginx@{d}").repository) == ("registry-1.docker.io", "library/nginx")
    assert split(f"localhost:5000/x/y@{d}").base.startswith("http://localhost:5000/v2/x/y")
    assert split(f"ghcr.io/acme/app@{d}").base.startswith("https://")

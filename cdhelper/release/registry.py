"""Registry tags on an image digest: retag by digest through the registry HTTP API, never rebuild.

The manifest is fetched by digest and PUT under the new tag byte for byte with its own media type,
so the tag resolves to exactly the same digest. A tag already on that digest is left alone; a tag
on another digest is refused. Works with any OCI distribution registry (ghcr.io, Docker Hub,
ECR, a local `docker-registry`), answering its bearer-token challenge with the given credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests

from cdhelper.core.digests import parse_image
from cdhelper.core.errors import ConflictError, GitHubAPIError, InputError, PermissionDeniedError

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    digest: str

    @property
    def base(self) -> str:
        host = self.registry.split(":")[0]
        scheme = "http" if host in LOOPBACK else "https"  # only loopback registries go without TLS
        return f"{scheme}://{self.registry}/v2/{self.repository}"


def check_tags(tags: list[str]) -> None:
    """Pure, so the release step can refuse before it writes the git tag."""
    for tag in tags:
        if not TAG.match(tag):
            raise InputError(f"registry tag {tag[:60]!r} is not valid",
                             "tags are [A-Za-z0-9_.-], at most 128, not starting with . or - (a version's +build "
                             "metadata is not allowed in them)",
                             "change tag.image-tags in .github/cd.yml, or release a version without +build metadata")


def split(image: str) -> ImageRef:
    name, digest = parse_image(image)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ImageRef(first, rest, digest)
    return ImageRef("registry-1.docker.io", name if rest else f"library/{name}", digest)


class Registry:
    def __init__(self, *, username: str = "", password: str = "", timeout: float = 30):
        self.session = requests.Session()
        self.username, self.password, self.timeout = username, password, timeout
        self._tokens: dict[str, str] = {}
        self.requests = 0

    def _request(self, method: str, url: str, ref: ImageRef, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        for _ in range(2):
            token = self._tokens.get(ref.repository)
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            self.requests += 1
            try:
                resp = self.session.request(method, url, headers={**headers, **auth}, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                raise GitHubAPIError(f"registry {ref.registry} did not answer", f"{type(exc).__name__}: {exc}",
                                     "check the image name's registry host and that the runner can reach it") from None
            if resp.status_code != 401 or token:
                return resp
            self._tokens[ref.repository] = self._token(resp, ref)
        return resp

    def _token(self, resp: requests.Response, ref: ImageRef) -> str:
        challenge = resp.headers.get("WWW-Authenticate", "")
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if not challenge.lower().startswith("bearer") or "realm" not in params:
            raise PermissionDeniedError(f"registry {ref.registry} refused access to {ref.repository}",
                                        "it asks for credentials cdhelper cannot answer", "check the registry credentials")
        query = {k: v for k, v in params.items() if k in {"service", "scope"}}
        query.setdefault("scope", f"repository:{ref.repository}:pull,push")
        self.requests += 1
        got = self.session.get(params["realm"], params=query, timeout=self.timeout,
                               auth=(self.username, self.password) if self.password else None)
        if got.status_code != 200:
            raise PermissionDeniedError(f"registry {ref.registry} refused a token for {ref.repository}",
                                        f"its token service answered {got.status_code}",
                                        "pass registry credentials with push rights (for ghcr.io: `packages: write` and the job token)")
        body = got.json()
        return body.get("token") or body.get("access_token", "")

    def tag(self, image: str, tags: list[str]) -> list[str]:
        """Put each tag on the image digest. Returns the tags created (the rest were already there)."""
        ref = split(image)
        check_tags(tags)
        created = []
        manifest: requests.Response | None = None
        for tag in tags:
            head = self._request("HEAD", f"{ref.base}/manifests/{tag}", ref, headers={"Accept": ACCEPT})
            if head.status_code == 200:
                current = head.headers.get("Docker-Content-Digest", "")
                if current == ref.digest:
                    continue
                raise ConflictError(f"registry tag {ref.registry}/{ref.repository}:{tag} already exists on another image",
                                    f"it points at {current}, this release is {ref.digest}",
                                    "registry tags of releases are immutable: release under a new version")
            if head.status_code not in (404,):
                raise self._failure(head, ref, f"reading tag {tag}")
            if manifest is None:
                manifest = self._request("GET", f"{ref.base}/manifests/{ref.digest}", ref, headers={"Accept": ACCEPT})
                if manifest.status_code != 200:
                    raise self._failure(manifest, ref, f"reading manifest {ref.digest}")
            put = self._request("PUT", f"{ref.base}/manifests/{tag}", ref, data=manifest.content,
                                headers={"Content-Type": manifest.headers["Content-Type"]})
            if put.status_code not in (200, 201):
                raise self._failure(put, ref, f"tagging {tag}")
            if put.headers.get("Docker-Content-Digest", ref.digest) != ref.digest:
                raise GitHubAPIError(f"registry changed the digest while tagging {tag}",
                                     f"expected {ref.digest}, got {put.headers.get('Docker-Content-Digest')}",
                                     "report this registry's behaviour; the manifest bytes were sent unchanged")
            created.append(tag)
        return created

    def _failure(self, resp: requests.Response, ref: ImageRef, what: str):
        if resp.status_code == 404:
            return InputError(f"{what} in {ref.registry}/{ref.repository} found nothing",
                              f"the registry has no image {ref.digest}", "push the image first, and pass its digest")
        if resp.status_code in (401, 403):
            return PermissionDeniedError(f"{what} in {ref.registry}/{ref.repository} was refused",
                                         f"the registry answered {resp.status_code}", "pass credentials with push rights")
        return GitHubAPIError(f"{what} in {ref.registry}/{ref.repository} failed",
                              f"the registry answered {resp.status_code}: {resp.text[:200]}", "re-run the job")

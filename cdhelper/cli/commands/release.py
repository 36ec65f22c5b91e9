"""`cdhelper release` (digest the artifact, tag the commit: the candidate) and `cdhelper digest` (the
artifact's sha256 manifest, no GitHub access)."""

from __future__ import annotations

import os

from cdhelper.cli import edge


def register(sub) -> dict:
    p = sub.add_parser("release", help="digest the artifact and tag the commit (idempotent)")
    edge.config_options(p)
    p.add_argument("--version", dest="release_version", default=edge.input_value("version"),
                   help="SemVer version; default BASE.RUN_NUMBER (versioning.base in cd.yml, default 0.1)")
    p.add_argument("--artifact", action="append", default=None, help="file or directory (repeatable)")
    p.add_argument("--image", action="append", default=None, help="container image NAME@sha256:... (repeatable)")
    p.add_argument("--commit", default=edge.input_value("commit"), help="commit to tag (default $GITHUB_SHA)")
    edge.mode_option(p, help="validated only, so a bad CD_MODE fails before the tag is made")
    p.add_argument("--dry-run", action="store_true",
                   help="run every check with reads only (the commit, the tag, asset names, image tags) and print "
                        "what would be written; exits as the real run would, writes nothing")

    p = sub.add_parser("digest", help="print the sha256 manifest of files/directories (no GitHub access)")
    p.add_argument("paths", nargs="+", help="files or directories: the artifact, exactly as it will be deployed")
    p.add_argument("--json", action="store_true", help="print the manifest and its digest as JSON")
    return {"release": run_release, "digest": run_digest}


def run_release(args, io) -> int:
    # imported when run: keeps --help fast (the domains, PyGithub, jsonschema; digests loads concurrent.futures)
    from cdhelper.cli import report
    from cdhelper.core import versions  # imported when run: keeps --help fast
    from cdhelper.core.context import parse_mode  # imported when run: keeps --help fast
    from cdhelper.core.digests import digest_paths
    from cdhelper.release import tagging
    parse_mode(args.mode)
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    version = versions.parse(args.release_version) if args.release_version else versions.default_version(
        cfg.version_base, ctx.run_number)
    artifact = digest_paths(args.artifact or edge.lines(edge.input_value("artifact")), args.image or edge.lines(edge.input_value("image")))
    candidate = tagging.make_candidate(str(version), cfg.tag_prefix, args.commit or ctx.sha, artifact)
    # Everything that can be refused is refused here, before the tag exists.
    if cfg.release_assets:
        tagging.check_release_assets(path for path, _ in artifact.files)
    if cfg.image_tags and candidate.images:
        from cdhelper.release.registry import check_tags
        check_tags(_image_tags(cfg, candidate))
    client = edge.github_client(ctx)
    if args.dry_run:
        return _dry_run_release(client, ctx, cfg, candidate, artifact, io)
    with io.group(f"Tag {candidate.tag}"):
        result = tagging.create_tag(client, candidate)
        io.info(f"{'created' if result.created else 'already tagged, unchanged:'} {candidate.tag} -> {candidate.commit} "
                f"{candidate.manifest} ({client.requests} requests)")
    if cfg.image_tags and candidate.images:
        _tag_images(candidate, cfg, ctx, io)
    if cfg.release_assets:
        with io.group(f"GitHub Release {candidate.tag}"):
            release = tagging.publish_release(client, result.candidate, artifact.sources)
            io.info(f"{len(artifact.sources)} file(s) on {release['html_url']}")
            io.set_output("release-url", release["html_url"])
    for name, value in {"version": candidate.version, "tag": candidate.tag, "digest": candidate.manifest,
                        "commit": candidate.commit, "created": str(result.created).lower()}.items():
        io.set_output(name, value)
    io.append_summary(report.release_summary(result, run_url=ctx.run_url))
    io.out_json({"version": candidate.version, "tag": candidate.tag, "digest": candidate.manifest,
                 "created": result.created})
    return 0


def _dry_run_release(client, ctx, cfg, candidate, artifact, io) -> int:
    """The release's checks with reads only (the commit exists, the tag is new or the same): what
    would be written, nothing written. Registry and release-asset writes are listed, not tried."""
    from cdhelper.cli import report
    from cdhelper.release import tagging
    result = tagging.plan_tag(client, ctx, candidate)
    writes = []
    if result.created:
        writes.append({"tag": candidate.tag, "commit": candidate.commit, "digest": candidate.manifest})
    if cfg.image_tags and candidate.images:
        writes.append({"image_tags": [f"{image}:{t}" for image in candidate.images for t in _image_tags(cfg, candidate)]})
    if cfg.release_assets:
        writes.append({"release": candidate.tag, "assets": [path for path, _ in artifact.files]})
    for write in writes:
        io.info("would " + report.describe_write(write))
    if not writes:
        io.info(f"{candidate.tag} already records this build: nothing to write")
    io.info(f"{client.requests} GitHub requests, no writes")
    outputs = {"version": candidate.version, "tag": candidate.tag, "digest": candidate.manifest,
               "commit": candidate.commit, "created": str(result.created).lower()}
    for name, value in outputs.items():
        io.set_output(name, value)
    io.append_summary(report.release_dry_run_summary(candidate, writes))
    io.out_json({**outputs, "created": result.created, "dry_run": True, "would": writes})  # a boolean, as the real run prints it
    return 0


def _image_tags(cfg, candidate) -> list[str]:
    return [t.replace("{version}", candidate.version) for t in cfg.image_tags]


def _tag_images(candidate, cfg, ctx, io) -> None:
    from cdhelper.release.registry import Registry, split
    tags = _image_tags(cfg, candidate)
    password = edge.read_secrets(io).registry_password
    for image in candidate.images:
        ref = split(image)
        secret = password or (ctx.token if ref.registry == "ghcr.io" else "")
        registry = Registry(username=os.environ.get("INPUT_REGISTRY_USERNAME") or ctx.actor, password=secret)
        with io.group(f"Registry tags on {image}"):
            made = registry.tag(image, tags)
            io.info(f"{', '.join(made) or 'no new tags'} on {ref.registry}/{ref.repository} "
                    f"(already there: {', '.join(t for t in tags if t not in made) or 'none'})")


def run_digest(args, io) -> int:
    from cdhelper.core.digests import digest_paths
    artifact = digest_paths(args.paths)
    if args.json:
        io.out_json({"digest": artifact.manifest, "files": dict(artifact.files)})
    else:
        io.out(artifact.sha256sum() + f"manifest {artifact.manifest}")
    return 0

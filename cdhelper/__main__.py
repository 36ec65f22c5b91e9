"""Start cdhelper. Developers: `python -m cdhelper ...`. The composite actions run it by path:

    exec "$CDHELPER_PYTHON" -I -S "$CDHELPER_ROOT/cdhelper/__main__.py" COMMAND

so that nothing in the workspace (the working directory, which anyone who can push controls) can
be imported: `-I` keeps the script's directory, the working directory, PYTHON* variables and the
user site off sys.path; `-S` skips `site`, so no sitecustomize, usercustomize or `.pth` file
anywhere ever runs. Run that way, this file, before importing anything else of cdhelper's:

1. refuses Windows, and refuses to run without `-I -S` (an edited action.yml must not lose them);
2. puts the action checkout (this file's parent's parent) on sys.path, after the standard library,
   and checks that `cdhelper` really comes from there;
3. moves the secrets out of its environment and re-executes itself, same pid (credentials.py);
   the new image makes itself non-dumpable, then reads them from the pipe;
4. verifies the dependency cache entry bootstrap.py set up against its manifest, holding a shared
   lock on it until exit (a rebuild by another job waits), and only then appends it to sys.path
   (plain append, not site.addsitedir: no `.pth` is processed);
5. never writes bytecode (the verified tree stays as verified), and runs cdhelper.cli.
"""

import os
import sys


def _fail(message: str) -> int:
    print(f"::error title=cdhelper::{message}", flush=True)
    return 1


def _inside(path: str, root: str) -> bool:
    return os.path.realpath(path).startswith(os.path.join(root, ""))


def launch() -> int:
    script = os.path.realpath(__file__)
    root = os.path.dirname(os.path.dirname(script))
    if not (sys.flags.isolated and sys.flags.no_site):
        return _fail(f"run the launcher as: python -I -S {script} COMMAND (isolated, without site), or use "
                     "python -m cdhelper in a development install")
    sys.path.append(root)
    import cdhelper
    if not _inside(cdhelper.__file__, root):
        return _fail(f"cdhelper was imported from {cdhelper.__file__}, not from the action checkout {root}")
    from cdhelper import bootstrap, credentials
    if sys.platform == "win32":
        print(bootstrap.WINDOWS_REFUSAL, flush=True)
        return 1
    try:
        credentials.hand_over(os.environ, [sys.executable, "-I", "-S", script, *sys.argv[1:]])
        # From here on the environment holds no secret (re-executed, or there was none).
        credentials.make_undumpable()
        if credentials.FD_VARIABLE in os.environ:
            credentials.receive(os.environ)
    except (credentials.CredentialsError, OSError) as err:
        return _fail(f"handing over the secrets failed: {err}")
    entry = bootstrap.entry_for(dict(os.environ))
    hold = bootstrap.locked(entry.path)
    hold.__enter__()  # released when the process exits
    problem = bootstrap.verify(entry.path, entry.key)
    if problem is not None:
        return _fail(f"the dependency cache {entry.path} does not match its manifest ({problem}). Fix: re-run the "
                     "job: the set-up step verifies and rebuilds it; if it happens again, something on this runner "
                     "changes the cache between steps")
    sys.dont_write_bytecode = True
    sys.path.append(bootstrap.site_dir(entry.path))
    import cdhelper.cli
    if not _inside(cdhelper.cli.__file__, root):
        return _fail(f"cdhelper.cli was imported from {cdhelper.cli.__file__}, not from {root}")
    _bridge_for_a_cli_that_reads_the_environment(cdhelper.cli.__file__, credentials)
    return cdhelper.cli.main()


def _bridge_for_a_cli_that_reads_the_environment(cli_file: str, credentials) -> None:
    """TEMPORARY, until cli.py gets its secrets from credentials.load(os.environ): the cli still
    reads them from os.environ, so give them back to Python's os.environ mapping only, without
    putenv: /proc/<pid>/environ never shows them and children that inherit the environment do not
    get them. (The deploy command's environment is built from the mapping by promotion._hook_env,
    which drops the token; the registry password is given back only to release.) A no-op once
    cli.py calls credentials.load; then delete this function."""
    with open(cli_file, encoding="utf-8") as fh:
        if "credentials.load" in fh.read():
            return
    creds = credentials.load(os.environ)
    given = {"INPUT_GITHUB_TOKEN": creds.github_token}
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "release" or (command == "action" and os.environ.get("INPUT_COMMAND") == "release"):
        given["INPUT_REGISTRY_PASSWORD"] = creds.registry_password
    for name, value in given.items():
        if value:
            os.environ._data[os.environ.encodekey(name)] = os.environ.encodevalue(value)


if __name__ == "__main__":
    if __spec__ is None:  # run by path: the composite actions
        sys.exit(launch())
    from cdhelper.cli import main  # python -m cdhelper: a development install
    sys.exit(main())

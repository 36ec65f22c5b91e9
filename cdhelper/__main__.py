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
5. never writes bytecode (the verified tree stays as verified), and runs cdhelper.cli.main.
"""

import os
import sys


def _fail(message: str) -> int:
    data = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")  # data, never a new command
    print(f"::error title=cdhelper::{data}", flush=True)
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
    from cdhelper import bootstrap
    from cdhelper._boot import credentials
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
    import cdhelper.cli.main
    if not _inside(cdhelper.cli.main.__file__, root):
        return _fail(f"cdhelper.cli.main was imported from {cdhelper.cli.main.__file__}, not from {root}")
    return cdhelper.cli.main.main()


if __name__ == "__main__":
    if __spec__ is None:  # run by path: the composite actions
        sys.exit(launch())
    from cdhelper.cli.main import main  # python -m cdhelper: a development install
    sys.exit(main())

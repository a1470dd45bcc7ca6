"""Developer tasks: `nox -s lint typecheck tests` (the test command is the README's)."""

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)


@nox.session
def benchmarks(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/report.py", *session.posargs)

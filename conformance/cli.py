"""The ``dui-conformance`` command line."""

from __future__ import annotations

import asyncio
import enum
import errno
import json
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from conformance import __version__
from conformance.core.errors import ConfigError, PluginError, SourceErrors, UsageError
from conformance.core.outcomes import RunVerdict
from conformance.engine.events import EventLog, RunFinished, read_events
from conformance.reporting import LATEST, mark_latest, write_reports
from conformance.reporting.console import ConsoleProgress, print_summary
from conformance.reporting.model import Report, ReportBuilder


class ExitCode(enum.IntEnum):
    """Process status of ``dui-conformance`` (the README's table)."""

    #: nothing tested failed: conforme, or incomplet without --require-complete (unmet PRECONISATIONs only warn)
    CONFORME = 0
    #: at least one EXIGENCE is non conforme
    NON_CONFORME = 1
    #: the run was stopped before the end
    INTERRUPTED = 2
    #: the harness or the transport failed (verdict erreur)
    HARNESS_ERROR = 3
    #: bad options, or invalid scenario, catalogue or configuration files
    USAGE_ERROR = 4
    #: not one requirement was tested (as pytest's 5, "no tests collected")
    NOTHING_TESTED = 5
    #: --require-complete and EXIGENCEs of the catalogue were left untested, none failed
    INCOMPLETE = 6


def exit_code(report: Report) -> ExitCode:
    """Map a report to the process status: a harness crash, then an interruption, then the run verdict."""
    if report.run.error:
        return ExitCode.HARNESS_ERROR
    if report.run.interrupted:
        return ExitCode.INTERRUPTED
    if report.verdict is RunVerdict.INCOMPLET:
        return ExitCode.INCOMPLETE if report.run.require_complete else ExitCode.CONFORME
    return {RunVerdict.NON_CONFORME: ExitCode.NON_CONFORME, RunVerdict.ERREUR: ExitCode.HARNESS_ERROR,
            RunVerdict.NON_TESTE: ExitCode.NOTHING_TESTED}.get(report.verdict, ExitCode.CONFORME)


def _fail(message: str, code: ExitCode = ExitCode.USAGE_ERROR) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _source_errors(errors: SourceErrors) -> NoReturn:
    for error in errors.errors:
        click.echo(str(error), err=True)
    _fail(f"{len(errors.errors)} erreur(s) dans les fichiers de scénarios ou de données")


def _usage_text(error: click.UsageError) -> str:
    """A Click usage error as a French sentence (Click's own words are English)."""
    if isinstance(error, click.NoSuchOption):
        hint = f" (vouliez-vous dire {', '.join(error.possibilities)} ?)" if error.possibilities else ""
        return f"option inconnue : {error.option_name}{hint}"
    if isinstance(error, click.BadParameter):
        name = error.param.get_error_hint(error.ctx) if error.param is not None and error.ctx else error.param_hint
    if isinstance(error, click.MissingParameter):
        kind = {"argument": "argument", "option": "option"}.get(
            error.param.param_type_name if error.param is not None else "", "paramètre")
        return f"{kind} manquant : {name}"
    if isinstance(error, click.BadParameter):
        return f"valeur invalide pour {name} : {_bad_value_text(error)}"
    if error.message.startswith("No such command"):
        return f"commande inconnue : {error.message.split(maxsplit=3)[-1].rstrip('.')}"
    return error.format_message()


def _bad_value_text(error: click.BadParameter) -> str:
    """Why a value was refused, in French for Click's own parameter types."""
    kind = error.param.type if error.param is not None else None
    if isinstance(kind, click.Choice):
        return f"valeurs permises : {', '.join(map(str, kind.choices))}"
    missing = re.fullmatch(r"(?:File|Directory|Path) '(.*)' does not exist\.", error.message)
    if missing:
        return f"« {missing.group(1)} » n'existe pas"
    if isinstance(kind, click.Path):
        return f"chemin inutilisable ({error.message})"
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        return "un nombre est attendu"
    return error.message


_OS_ERRORS = {errno.ENOSPC: "disque plein", errno.EDQUOT: "quota disque dépassé", errno.EACCES: "accès refusé",
              errno.EPERM: "opération non permise", errno.EROFS: "système de fichiers en lecture seule",
              errno.ENOENT: "fichier ou dossier absent"}


class _Commands(click.Group):
    """The command group whose errors follow the README's exit codes: usage 4, interruption 2, crash 3."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run a command; Click's own exit codes (2 for usage, 1 for an abort) become the documented ones."""
        # The program's name, also under ``python -m conformance`` and CliRunner: it is what the user types.
        kwargs.update(standalone_mode=False, prog_name="dui-conformance")
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as error:
            english = "en" in _words_after("--lang", args[0] if args else kwargs.get("args") or sys.argv[1:])
            where = error.ctx.command_path if error.ctx is not None else "dui-conformance"
            text = error.format_message() if english else _usage_text(error)
            help_hint = "try" if english else "aide"
            _fail(f"{where} : {text}\n({help_hint} : {where} --help)")
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.Abort:
            _fail("interrompu", ExitCode.INTERRUPTED)
        except click.ClickException as error:
            _fail(error.format_message(), ExitCode.USAGE_ERROR)
        except PluginError as error:
            _fail(str(error), ExitCode.HARNESS_ERROR)
        except OSError as error:
            # A full disk, a folder that cannot be written: one line, never a traceback.
            where = f" : {error.filename}" if error.filename else ""
            why = _OS_ERRORS.get(error.errno or 0, error.strerror or str(error))
            _fail(f"erreur du harnais : {why}{where}", ExitCode.HARNESS_ERROR)
        except Exception as error:  # the last barrier: a crash is exit 3, one readable line
            _fail(f"erreur du harnais : {type(error).__name__}: {error}", ExitCode.HARNESS_ERROR)
        sys.exit(ExitCode.CONFORME)


def _words_after(option: str, argv: Any) -> list[str]:
    words = list(argv or ())
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word == option] + [
        word.split("=", 1)[1] for word in words if word.startswith(f"{option}=")]


class TargetURL(click.ParamType[str, Any]):
    """An ``http://`` or ``https://`` URL with a host: what ``--target`` accepts."""

    name = "URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """``value`` when it is an absolute HTTP(S) URL; a usage error otherwise."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(str(value))
            _ = parts.port
        except ValueError as exc:
            self.fail(f"« {value} » n'est pas une URL ({exc})", param, ctx)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(f"« {value} » n'est pas une URL http:// ou https:// avec un hôte", param, ctx)
        return str(value)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dui-conformance")
def main() -> None:
    """Tests de conformité des DUI (Ségur numérique, référencement ANS)."""


def _terminal_prompt(console: Console) -> Any:
    """An assessor prompt that gives up after its timeout (the reading thread is a daemon)."""

    async def prompt(text: str, timeout: float) -> str | None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str | None] = loop.create_future()

        def read() -> None:
            try:
                value: str | None = click.prompt(f"{text}\nComportement constaté ? (o/n)", default="",
                                                 show_default=False, err=True)
            except (EOFError, click.Abort):
                value = None
            loop.call_soon_threadsafe(_settle, answer, value)

        threading.Thread(target=read, daemon=True).start()
        try:
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return None

    return prompt


def _settle(future: asyncio.Future[str | None], value: str | None) -> None:
    if not future.done():
        future.set_result(value)


@main.command()
@click.option("--target", type=TargetURL(), help="URL du DUI à tester ; sans elle, le DUI de référence.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier vendor.toml (authentification, TLS, délais, opérations manuelles).")
@click.option("--fault", "faults", multiple=True, metavar="NAME", help="Défaut du DUI de référence (répétable).")
@click.option("--theme", "themes", multiple=True, metavar="T", help="Ne jouer que ce thème (répétable).")
@click.option("--requirement", "requirements", multiple=True, metavar="ID", help="Ne jouer que cette exigence.")
@click.option("--suite", "suites", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Dossier ou fichier de scénarios à la place des suites fournies (répétable).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Dossier où créer reports/<run-id>/.")
@click.option("--seed", type=int, help="Graine des données générées (rejouer une exécution à l'identique).")
@click.option("--interactive/--no-interactive", default=None,
              help="Jouer les étapes manuelles (par défaut : si l'entrée est un terminal).")
@click.option("--serve", is_flag=True, help="Servir le DUI de référence sur la boucle locale (uvicorn).")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--redact", is_flag=True, help="Écrire aussi une copie pseudonymisée (INS, noms) dans RUN/partage.")
@click.option("--cda-kit", "cda_kit", metavar="NOM|DOSSIER",
              help="Valider aussi les documents CDA avec un kit TestContenuCDA (enregistré ou dossier).")
@click.option("--require-complete", is_flag=True,
              help="Échouer (code 6) quand des EXIGENCEs du catalogue n'ont pas été testées (portes de CI).")
@click.option("--run-id", metavar="ID",
              help="Nom du dossier de l'exécution sous --report-dir (par défaut : date-heure).")
@click.option("--junit-xml", "junit_xml", type=click.Path(dir_okay=False, path_type=Path),
              help="Copier aussi junit.xml à ce chemin (téléversement en CI).")
def run(target: str | None, config_path: Path | None, faults: tuple[str, ...], themes: tuple[str, ...],
        requirements: tuple[str, ...], suites: tuple[Path, ...], report_dir: Path, seed: int | None,
        interactive: bool | None, serve: bool, lang: str, redact: bool, cda_kit: str | None,
        require_complete: bool, run_id: str | None, junit_xml: Path | None) -> None:
    """Jouer les scénarios contre un DUI et écrire le rapport de conformité."""
    from conformance.config import VendorConfig, load_config
    from conformance.reference import FAULTS
    from conformance.session import RunOptions, Session, load_suite

    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        _fail(f"--fault : défaut inconnu {', '.join(unknown)} (voir « dui-conformance faults »)")
    if serve and target:
        _fail("--serve ne s'applique qu'au DUI de référence (sans --target)")
    if run_id is not None:
        _check_run_id(run_id, report_dir)
    _keep_hypothesis_out_of_cwd()
    try:
        config = load_config(config_path) if config_path else VendorConfig()
        url = target or config.target.url
        settings = config.target_settings(url) if url else None
        if url is None and config_path is not None:
            from conformance.session import IN_PROCESS_URL

            settings = config.target_settings(IN_PROCESS_URL)
        suite = load_suite(list(suites), config.fixture_overrides())
        console = Console(stderr=True)
        # In a CI log, a URL cut over two lines can no longer be clicked nor searched.
        console.soft_wrap = not console.is_terminal
        if interactive is None:
            interactive = sys.stdin.isatty()
        options = RunOptions(target=url, settings=settings, serve=serve, faults=faults, themes=themes,
                             requirements=requirements, seed=seed,
                             manual_operations=frozenset(config.manual.operations),
                             simulator_ports=dict(config.simulators),
                             prompt=_terminal_prompt(console) if interactive else None, lang=lang,
                             cda_kits=(_open_cda_kit(cda_kit),) if cda_kit else (),
                             require_complete=require_complete, **({"run_id": run_id} if run_id else {}))
        run_dir = report_dir / options.run_id
        session = Session(suite, options, run_dir)
    except SourceErrors as exc:
        _source_errors(exc)
    except (ConfigError, UsageError) as exc:
        _fail(str(exc))
    if url is not None and settings is not None:
        _reachable_or_exit(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    mark_latest(run_dir)
    log = EventLog(run_dir / "events.ndjson")
    builder = ReportBuilder()
    progress = ConsoleProgress(console, lang)
    try:
        asyncio.run(session.run([log, builder, progress]))
    except Exception as exc:
        finished = RunFinished(duration_ms=0, interrupted=True, error=f"{type(exc).__name__}: {exc}")
        if builder.started is not None:
            log(finished)
            builder(finished)
        progress.close()
        if builder.started is None:
            _fail(f"erreur du harnais : {type(exc).__name__}: {exc}", ExitCode.HARNESS_ERROR)
    finally:
        progress.close()
        log.close()
    report = builder.build()
    manifest = write_reports(report, run_dir, lang)
    if junit_xml is not None:
        junit_xml.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "junit.xml", junit_xml)
    summary = Console()
    summary.soft_wrap = not summary.is_terminal
    print_summary(report, summary, str(run_dir), lang)
    _print_manifest(manifest, lang)
    if report.run.error:
        click.echo(f"erreur du harnais : {report.run.error}", err=True)
    if redact:
        _redact(run_dir, None)
    sys.exit(exit_code(report))


def _reachable_or_exit(settings: Any) -> None:
    """One request to the target before anything else: an unreachable DUI is one line and exit 3, not 119 errors."""
    from conformance.transport.client import VendorClient

    async def probe() -> str | None:
        client = VendorClient(settings)
        try:
            # Any HTTP answer (404 and 401 included) proves the target reachable: only the transport can fail here.
            return (await client.send("GET", client.url("root", "/"))).error
        finally:
            await client.aclose()

    error = asyncio.run(probe())
    if error is not None:
        _fail(f"cible injoignable : {settings.base_url} : {error} ; aucun scénario joué (vérifier --target et les "
              "sections [target], [tls] et [timeouts] de vendor.toml)", ExitCode.HARNESS_ERROR)


def _keep_hypothesis_out_of_cwd() -> None:
    """Hypothesis's caches go to the harness's cache folder: a run writes nothing in the current folder but reports."""
    import os

    if "HYPOTHESIS_STORAGE_DIRECTORY" in os.environ:
        return  # the user chose where
    from hypothesis.configuration import set_hypothesis_home_dir

    from conformance.validation.schematron import cache_dir

    set_hypothesis_home_dir(cache_dir() / "hypothesis")


#: what a run id may be: a folder name on every system, never a path nor the ``latest`` link
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_run_id(run_id: str, report_dir: Path) -> None:
    if not _RUN_ID.fullmatch(run_id) or run_id == LATEST:
        _fail(f"--run-id : « {run_id} » doit être un nom de dossier (lettres, chiffres, . _ -, 64 au plus) "
              f"autre que « {LATEST} »")
    if (report_dir / run_id).exists():
        _fail(f"--run-id : {report_dir / run_id} existe déjà (une exécution n'écrase jamais une autre)")


@main.command()
@click.argument("kind", type=click.Choice(["reference"]))
@click.option("--fault", "faults", multiple=True, metavar="NAME", help="Défaut à activer (répétable).")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def serve(kind: str, faults: tuple[str, ...], port: int, host: str) -> None:
    """Servir le DUI de référence (avec ses défauts éventuels)."""
    import uvicorn

    from conformance.reference import FAULTS, create_app
    from conformance.reference.base import Reference
    from conformance.reference.hostile import certificate_names
    from conformance.session import load_plugins
    from conformance.simulators import SIMULATORS

    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        _fail(f"--fault : défaut inconnu {', '.join(unknown)}")
    if certificate_names(Reference(faults, {})):
        _fail("--fault : ce défaut tient au certificat TLS dont `run` sert le DUI de référence ; "
              "il ne s'applique pas à `serve`")
    load_plugins()
    simulators = [cls() for _, cls in SIMULATORS.items()]

    async def start() -> None:
        for sim in simulators:
            await sim.start()

    # The simulators serve from their own threads, so the reference DUI can call them while uvicorn runs.
    asyncio.run(start())
    services = {sim.name: sim.endpoints() for sim in simulators}
    click.echo(f"DUI de référence sur http://{host}:{port} (défauts : {', '.join(faults) or 'aucun'})", err=True)
    for name, endpoints in services.items():
        click.echo(f"  simulateur {name} : {endpoints}", err=True)
    uvicorn.run(create_app(faults, services), host=host, port=port, log_level="warning")


@main.command("checks")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def list_checks(as_json: bool) -> None:
    """Lister les vérifications des scénarios : arguments, description, exigences qu'elles prouvent."""
    import inspect

    from conformance.checks import CHECKS
    from conformance.session import load_plugins, load_suite

    load_plugins()
    bound: dict[str, set[str]] = {}
    for scenario in load_suite().scenarios:
        for step in scenario.steps:
            for call in step.checks:
                bound.setdefault(call.name, set()).update(call.requirements)
    items: list[dict[str, Any]] = []
    for name, fn in CHECKS.items():
        params = list(inspect.signature(fn).parameters.values())[1:]
        items.append({
            "name": name, "doc": inspect.getdoc(fn) or "", "module": fn.__module__,
            "arguments": [{"name": p.name, "required": p.default is inspect.Parameter.empty,
                           "default": None if p.default is inspect.Parameter.empty else repr(p.default),
                           "type": _annotation(p.annotation)} for p in params],
            "requirements": sorted(bound.get(name, ())),
        })
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for item in items:
        arguments = ", ".join(f"{a['name']}" + ("" if a["required"] else f"={a['default']}")
                              for a in item["arguments"])
        click.echo(f"{item['name']}({arguments})")
        click.echo(f"    {str(item['doc']).splitlines()[0] if item['doc'] else '—'}")
        if item["requirements"]:
            click.echo(f"    exigences : {' '.join(item['requirements'])}")


def _annotation(annotation: Any) -> str:
    import inspect

    if annotation is inspect.Parameter.empty:
        return ""
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def faults(as_json: bool) -> None:
    """Lister les défauts nommés du DUI de référence, les obligations qu'ils cassent, et ses variantes correctes."""
    from conformance.reference import FAULTS

    if as_json:
        items = [{"name": f.name, "description": f.description, "requirements": list(f.requirements),
                  "obligations": list(f.obligations), "variant": f.variant, "verdict": str(f.verdict)}
                 for _, f in FAULTS.items()]
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for _, f in FAULTS.items():
        # Most faults make their requirements non conforme; say it only for those that leave them otherwise.
        verdict = (" [variante correcte : tout reste conforme]" if f.variant
                   else f" [{f.verdict}]" if str(f.verdict) != "non conforme" else "")
        targets = " ".join(f.obligations or f.requirements)
        click.echo(f"{f.name:32} {targets:24} {f.description}{verdict}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.option("--coverage", is_flag=True, help="Vérifier que chaque exigence est prouvée par un scénario.")
@click.option("--suite", "suites", multiple=True, type=click.Path(exists=True, path_type=Path))
def requirements(as_json: bool, coverage: bool, suites: tuple[Path, ...]) -> None:
    """Lister le catalogue d'exigences (et sa couverture par les scénarios)."""
    from conformance.reference import FAULTS
    from conformance.requirements.coverage import coverage as compute
    from conformance.session import load_suite

    try:
        suite = load_suite(list(suites))
    except SourceErrors as exc:
        _source_errors(exc)
    # Faults belong to the built-in reference DUI: only the built-in catalogue's obligations can be held to them.
    builtin = not suites
    cov = compute(suite.catalogue, ((s.id, s.requirements) for s in suite.scenarios),
                  [(s.id, *b) for s in suite.scenarios for b in s.bindings()],
                  {n: f.targets for n, f in FAULTS.items() if not f.variant} if builtin else None)
    if as_json:
        click.echo(json.dumps({
            "version": suite.catalogue.version,
            "requirements": [{"id": r.id, "theme": r.theme, "title": r.title, "level": r.level.value,
                              "criticality": r.criticality.value, "source": r.source, "uncertain": r.uncertain,
                              "scenarios": cov.scenarios_by_requirement[r.id],
                              "obligations": [{"id": o.id, "text": o.text, "checks": list(o.checks),
                                               "checks_bound": cov.checks_by_obligation[o.id],
                                               "faults": (cov.faults_by_obligation or {}).get(o.id)}
                                              for o in r.obligations]} for r in suite.catalogue],
            "uncovered": cov.uncovered,
            "unknown": [{"scenario": s, "requirement": r} for s, r in cov.unknown],
            "obligations_without_check": cov.obligations_without_check,
            "obligations_without_fault": cov.obligations_without_fault,
            "requirements_without_obligations": cov.without_obligations,
            "unknown_fault_targets": [{"fault": f, "target": t} for f, t in cov.unknown_targets],
        }, ensure_ascii=False, indent=2))
    else:
        for req in suite.catalogue:
            scenarios = cov.scenarios_by_requirement[req.id]
            click.echo(f"{req.id:14} {req.level.value:13} {req.criticality.value:9} {req.title}"
                       + (f"  [{', '.join(scenarios)}]" if coverage else ""))
            if coverage:
                for ob in req.obligations:
                    faults = (cov.faults_by_obligation or {}).get(ob.id)
                    said = f"  défauts : {', '.join(faults) or 'aucun'}" if faults is not None else ""
                    click.echo(f"  {ob.id:16} vérifications : {', '.join(cov.checks_by_obligation[ob.id]) or 'aucune'}"
                               f"{said}")
    if coverage:
        for req_id in cov.uncovered:
            click.echo(f"{req_id} : aucun scénario ne prouve cette exigence", err=True)
        for scenario_id, req_id in cov.unknown:
            click.echo(f"{scenario_id} : exigence inconnue {req_id}", err=True)
        for ob_id in cov.obligations_without_check:
            listed = ", ".join(suite.catalogue.obligations[ob_id].checks)
            click.echo(f"{ob_id} : aucune des vérifications de l'obligation ({listed}) n'est liée à son exigence "
                       "dans un scénario", err=True)
        for ob_id in cov.obligations_without_fault:
            click.echo(f"{ob_id} : aucun défaut du DUI de référence ne casse cette obligation", err=True)
        for name, target in cov.unknown_targets:
            click.echo(f"défaut {name} : obligation ou exigence inconnue {target}", err=True)
        for req_id in cov.without_obligations:
            click.echo(f"{req_id} : énoncé pas encore décomposé en obligations (avertissement)", err=True)
        if not cov.complete:
            sys.exit(ExitCode.USAGE_ERROR)


@main.group()
def validate() -> None:
    """Valider des fichiers de preuve (NIR, identité, CDA, FHIR, message) hors de toute exécution."""


def _print_validation(results: list[dict[str, Any]], as_json: bool) -> None:
    """Verdict and findings per validated item, as text for an assessor or as JSON; exits 0 valid, 1 invalid."""
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2, default=str))
    else:
        for result in results:
            click.echo(f"{result['item']} : {'valide' if result['valid'] else 'non valide'}")
            for finding in result["findings"]:
                where = f" [{finding['location']}]" if finding.get("location") else ""
                tag = "avertissement, " if finding.get("severity") == "warning" else ""
                tag += "lecture du projet, " if finding.get("project_reading") else ""
                source = f" [source : {finding['source']}]" if finding.get("source") else ""
                click.echo(f"  - {tag}{finding['rule']}{where} : {finding['message']}{source}")
                if finding.get("expected") is not None or finding.get("actual") is not None:
                    click.echo(f"    attendu : {finding.get('expected')!r} ; obtenu : {finding.get('actual')!r}")
    sys.exit(0 if all(r["valid"] for r in results) else 1)


@validate.command("nir")
@click.argument("values", nargs=-1, required=True)
@click.option("--oid", help="OID sous lequel le matricule voyage (1.2.250.1.213.1.4.8, .9, .10, .11).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def validate_nir(values: tuple[str, ...], oid: str | None, as_json: bool) -> None:
    """Vérifier des matricules INS (NIR ou NIA) : structure, clé, cohérence avec l'OID."""
    from conformance.validation.ins import matricule_problems, oid_problems

    results = []
    for value in values:
        problems = matricule_problems(value) + (oid_problems(value, oid) if oid else [])
        results.append({"item": value, "valid": not problems, "findings": [
            {"rule": p.rule, "message": p.message, "expected": p.expected, "actual": p.actual} for p in problems]})
    _print_validation(results, as_json)


@validate.command("identity")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def validate_identity(files: tuple[Path, ...], as_json: bool) -> None:
    """Vérifier l'identité d'une ressource FR Core Patient (JSON) : INS, statut, attributs, lieu de naissance."""
    from conformance.checks import CheckContext, evaluate
    from conformance.session import load_plugins

    load_plugins()
    results = []
    for path in files:
        ctx = CheckContext.of_document(path.read_bytes(), "application/fhir+json", str(path))
        checks = [evaluate(name, args, ctx) for name, args in IDENTITY_CHECKS]
        findings = [f.model_dump(exclude_none=True) for c in checks for f in c.findings]
        findings += [{"rule": "verification", "message": c.message} for c in checks if c.status == "error"]
        valid = all(c.status in ("passed", "skipped") for c in checks)
        results.append({"item": str(path), "valid": valid, "findings": findings})
    _print_validation(results, as_json)


#: the INS checks that apply to a Patient on its own, without knowing the scenario that produced it
IDENTITY_CHECKS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("identity_status_coded", {"required": False}), ("ins_absent_unless_qualified", {}),
    ("identity_attributes_valid", {}), ("birth_place_with_ins", {}), ("ins_identifier_valid", {"required": False}),
)


@validate.command("fhir")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--profile", help="URL canonique du profil à appliquer (sinon ceux que déclare la ressource).")
@click.option("--ig", "ig_dirs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Dossier d'un paquet d'IG (StructureDefinition, CodeSystem, ValueSet en JSON) ajouté aux règles.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def validate_fhir(files: tuple[Path, ...], profile: str | None, ig_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Valider des ressources ou Bundles FHIR R4 : structure, FR Core, profils TDDUI, invariants, références."""
    from conformance.validation.fhir import FhirValidator, InvalidFhirJson, parse_fhir_json
    from conformance.validation.fhir_profiles import load_ig_dir

    validator = FhirValidator(extra=[load_ig_dir(d) for d in ig_dirs])
    if profile and profile not in validator.data.profiles:
        click.echo(f"--profile {profile} : profil inconnu (ni dans les données TDDUI, ni dans --ig)", err=True)
        sys.exit(ExitCode.USAGE_ERROR)
    results = []
    for path in files:
        try:
            resource = parse_fhir_json(path.read_bytes())
        except InvalidFhirJson as exc:
            results.append({"item": str(path), "valid": False,
                            "findings": [{"rule": "json-invalide", "message": str(exc)}]})
            continue
        report = validator.validate(resource, profile)
        results.append({"item": str(path), "valid": report.valid, "profiles": report.profiles, "findings": [
            {"rule": i.rule, "group": i.group, "location": i.location, "message": i.message,
             "expected": i.expected, "actual": i.actual, "severity": i.severity, "profile": i.profile}
            for i in report.issues]})
    _print_validation(results, as_json)

def _open_cda_kit(spec: str) -> Any:
    """A pinned kit, compiled and announced on stderr; a bad kit is a usage error."""
    from conformance.validation.kits import KitError, load_kit

    try:
        kit = load_kit(spec)
        kit.prepare()
    except KitError as exc:
        _fail(f"kit CDA : {exc}")
    click.echo(f"kit CDA « {kit.name} » ({kit.root}), sha256 {kit.digest[:16]}…, {len(kit.files)} fichiers", err=True)
    for note in kit.notes:
        click.echo(f"  {note}", err=True)
    return kit


@validate.command("cda")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kit", "kit_spec", metavar="NOM|DOSSIER",
              help="Kit TestContenuCDA (enregistré ou dossier) : XSD, structuration minimale et volet.")
@click.option("--type", "document_type", type=click.Choice(["DLU", "TDDUI-CDA"]),
              help="Type attendu (sinon déduit des templateIds du document).")
@click.option("--schematron", "schematrons", multiple=True, metavar="CHEMIN",
              help="Schématron du kit à appliquer en plus, chemin relatif au kit (répétable).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def validate_cda(files: tuple[Path, ...], kit_spec: str | None, document_type: str | None,
                 schematrons: tuple[str, ...], as_json: bool) -> None:
    """Valider des documents CDA : XML sûr, en-tête CI-SIS, INS, DLU, TDDUI-CDA (et kit officiel)."""
    from conformance.validation.cda_files import validate_cda_file
    from conformance.validation.kits import KitError

    kit = _open_cda_kit(kit_spec) if kit_spec else None
    results = []
    for path in files:
        try:
            report = validate_cda_file(path, kit=kit, document_type=document_type, schematrons=schematrons)
        except KitError as exc:
            _fail(f"kit CDA : {exc}", ExitCode.HARNESS_ERROR)
        results.append({"item": str(path), "valid": report.valid, "type": report.document_type,
                        "layers": report.layers, "findings": [
                            {**f.model_dump(exclude_none=True, exclude={"check"}), "layer": layer}
                            for layer, findings in report.findings.items() for f in findings]})
    _print_validation(results, as_json)



@validate.command("message")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def validate_message(files: tuple[Path, ...], as_json: bool) -> None:
    """Valider des messages MSSanté (.eml) : MIME, en-têtes X-MSS, IHE_XDM.zip et métadonnées, CDA joint, MDN."""
    from conformance.checks import CheckContext, evaluate
    from conformance.checks.messaging import standalone_checks
    from conformance.session import load_plugins
    from conformance.validation.mime import MAX_MESSAGE_BYTES, oversize_finding

    load_plugins()
    results = []
    for path in files:
        size = path.stat().st_size
        if size > MAX_MESSAGE_BYTES:
            # Judged from its size alone: a hostile file is never read into memory.
            results.append({"item": str(path), "valid": False,
                            "findings": [oversize_finding(size).model_dump(exclude_none=True)]})
            continue
        raw = path.read_bytes()
        ctx = CheckContext.of_document(raw, "message/rfc822", str(path))
        checks = [evaluate(name, {}, ctx) for name in standalone_checks(raw)]
        findings = [{**f.model_dump(exclude_none=True), "check": c.check} for c in checks for f in c.findings]
        findings += [{"rule": "verification", "check": c.check, "message": c.message} for c in checks
                     if c.status == "error"]
        valid = all(c.status in ("passed", "skipped") for c in checks)
        results.append({"item": str(path), "valid": valid, "findings": findings})
    _print_validation(results, as_json)

@main.group()
def kits() -> None:
    """Kits de validation officiels (TestContenuCDA) épinglés par empreinte sha256."""


@kits.command("add")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", help="Nom du kit (par défaut, celui du dossier).")
def kits_add(path: Path, name: str | None) -> None:
    """Épingler un dossier TestContenuCDA : empreinte sha256 de chacun de ses fichiers."""
    from conformance.validation.kits import KitError, add_kit

    try:
        kit = add_kit(path, name)
        kit.prepare()
    except KitError as exc:
        _fail(f"kit CDA : {exc}")
    click.echo(f"kit « {kit.name} » enregistré : {kit.root}, {len(kit.files)} fichiers, sha256 {kit.digest}")
    for note in kit.notes:
        click.echo(f"  {note}")


@kits.command("list")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def kits_list(as_json: bool) -> None:
    """Lister les kits épinglés."""
    from conformance.validation.kits import registered_kits

    entries = registered_kits()
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    for entry in entries:
        click.echo(f"{entry['name']:28} {entry['sha256'][:16]}…  {entry['files']:5} fichiers  {entry['path']}")
    if not entries:
        click.echo("aucun kit enregistré (dui-conformance kits add DOSSIER)")


@kits.command("verify")
@click.argument("name")
def kits_verify(name: str) -> None:
    """Vérifier qu'un kit épinglé n'a pas changé depuis son enregistrement."""
    from conformance.validation.kits import KitError, load_kit

    try:
        kit = load_kit(name)
    except KitError as exc:
        _fail(f"kit CDA : {exc}", ExitCode.NON_CONFORME)
    click.echo(f"kit « {kit.name} » intact : {len(kit.files)} fichiers, sha256 {kit.digest}")


@kits.command("remove")
@click.argument("name")
def kits_remove(name: str) -> None:
    """Oublier un kit épinglé (son dossier n'est pas touché)."""
    from conformance.validation.kits import KitError, remove_kit

    try:
        remove_kit(name)
    except KitError as exc:
        _fail(f"kit CDA : {exc}")
    click.echo(f"kit « {name} » retiré")


@main.group()
def scenarios() -> None:
    """Outils pour les auteurs de scénarios."""


@scenarios.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def lint(paths: tuple[Path, ...]) -> None:
    """Vérifier des fichiers de scénarios ; chaque erreur en fichier:ligne:colonne: message."""
    from conformance.session import load_suite

    missing = [p for p in paths if not p.exists()]
    if missing:
        _fail("\n".join(f"{p}:1:1: fichier ou dossier introuvable" for p in missing))
    try:
        suite = load_suite(list(paths))
    except SourceErrors as exc:
        _source_errors(exc)
    click.echo(f"{len(suite.scenarios)} scénario(s) valides, {len(list(suite.catalogue))} exigence(s)")


@main.group()
def report() -> None:
    """Travailler sur les rapports d'exécution."""


@report.command("redact")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Dossier de la copie (par défaut RUN_DIR/partage).")
def redact(run_dir: Path, out_dir: Path | None) -> None:
    """Écrire une copie pseudonymisée d'une exécution (INS et noms remplacés de façon cohérente) pour la partager."""
    _redact(run_dir, out_dir)


def _redact(run_dir: Path, out_dir: Path | None) -> None:
    from conformance.reporting.redaction import redact_run
    from conformance.session import load_fixtures

    if not (run_dir / "events.ndjson").is_file():
        _fail(f"{run_dir / 'events.ndjson'} : journal d'événements introuvable")
    target = redact_run(run_dir, out_dir or run_dir / SHARED_FOLDER, load_fixtures().values())
    click.echo(f"Copie pseudonymisée : {target}", err=True)


def _print_manifest(manifest: str, lang: str) -> None:
    # Kept in the CI log, outside the run folder: whoever edits a file and rewrites SHA256SUMS changes this value.
    words = "SHA-256 of SHA256SUMS" if lang == "en" else "Empreinte SHA-256 de SHA256SUMS"
    click.echo(f"{words} : {manifest}")


@report.command("verify")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--sha256", "expected", metavar="HEX",
              help="Empreinte de SHA256SUMS notée à l'exécution (journal de CI).")
def verify(run_dir: Path, expected: str | None) -> None:
    """Vérifier qu'aucun fichier d'une exécution n'a changé depuis qu'elle l'a écrit (SHA256SUMS)."""
    from conformance.reporting.manifest import MANIFEST, digest, verify_manifest

    try:
        result = verify_manifest(run_dir)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(str(exc))
    for words, names in (("modifié", result.changed), ("absent", result.missing), ("ajouté", result.added)):
        for name in names:
            click.echo(f"{words} : {name}")
    own = digest(run_dir / MANIFEST)
    if expected is not None and expected.lower() != own:
        click.echo(f"{MANIFEST} lui-même a changé : empreinte {own}, attendue {expected.lower()}")
        sys.exit(ExitCode.NON_CONFORME)
    if not result.intact:
        sys.exit(ExitCode.NON_CONFORME)
    click.echo(f"intact : chaque fichier est celui que l'exécution a écrit ({MANIFEST} {own})")


#: where ``--redact`` writes the shareable copy of a run
SHARED_FOLDER = "partage"


@report.command("render")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["fr", "en"]), default=None,
              help="Langue (par défaut, celle de l'exécution).")
def render(run_dir: Path, lang: str | None) -> None:
    """Reconstruire tous les fichiers du rapport à partir de events.ndjson (exécution complète ou interrompue)."""
    log = run_dir / "events.ndjson"
    if not log.is_file():
        _fail(f"{log} : journal d'événements introuvable")
    try:
        builder = ReportBuilder().feed(read_events(log))
        built = builder.build()
    except (ValueError, KeyError) as exc:
        _fail(f"{log} : journal illisible ({exc})", ExitCode.HARNESS_ERROR)
    lang = lang or built.run.lang
    manifest = write_reports(built, run_dir, lang)
    print_summary(built, Console(), str(run_dir), lang)
    _print_manifest(manifest, lang)
    sys.exit(exit_code(built))

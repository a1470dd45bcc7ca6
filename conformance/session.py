"""Assembles a run from options (suite, target, simulators) and plays it; shared by the CLI and pytest plugin."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.metadata
import pkgutil
import secrets
import signal
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance.checks import signatures
from conformance.core.errors import PluginError, SourceError, SourceErrors, UsageError
from conformance.core.resources import data_path
from conformance.core.yamlsource import YamlDocument, load_yaml
from conformance.engine.context import Prompt, RunContext
from conformance.engine.driver import driver_operations
from conformance.engine.events import Event, RunFinished
from conformance.engine.evidence import EvidenceStore
from conformance.engine.runner import Runner
from conformance.generation import STRATEGIES
from conformance.requirements.catalogue import Catalogue, load_catalogue
from conformance.scenarios.habilitations import KEY as HABILITATIONS
from conformance.scenarios.habilitations import matrix_problems
from conformance.scenarios.loader import Vocabulary, builtin_scenario_dir, catalogue_files, load_scenarios
from conformance.scenarios.model import ENGINE_CHECKS, Scenario
from conformance.scenarios.selection import select
from conformance.simulators import SIMULATORS, Simulator, TokenIssuer
from conformance.transport.client import TargetSettings, VendorClient
from conformance.transport.loopback import LoopbackServer
from conformance.transport.tls import TestCa, issue_test_certificate
from conformance.validation.kits import CdaKit, set_active_kits

PLUGIN_GROUP = "dui_conformance"
IN_PROCESS_URL = "http://reference.dui-conformance.invalid"
_plugins_loaded = False


def load_plugins() -> None:
    """Import built-in checks and every third-party plugin declared under the ``dui_conformance`` entry point."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    import conformance.checks
    import conformance.simulators

    for package in (conformance.checks, conformance.simulators):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except Exception as exc:  # whatever a third-party module raises on import: its name, not a traceback
            raise PluginError(f"extension « {entry.name} » ({entry.value}) impossible à charger : "
                              f"{type(exc).__name__}: {exc}") from exc
    _plugins_loaded = True


def load_fixtures(folder: Path | None = None, documents: dict[str, YamlDocument] | None = None,
                  overrides: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Every fixture file's top-level keys, merged into one namespace (``identities``, ``personas``…).

    ``documents`` receives the parsed file of each data set (for located errors); ``overrides`` replaces a data set
    with the same key of another file (an assessor's habilitation matrix, ``[access]`` in vendor.toml).
    """
    folder = folder or data_path("fixtures")
    merged: dict[str, Any] = {}
    errors: list[SourceError] = []
    parsed = documents if documents is not None else {}
    for path in sorted(folder.glob("*.yaml")):
        doc, found = load_yaml(path)
        errors += found
        if doc is None or found:
            continue
        if not isinstance(doc.data, dict):
            errors.append(doc.error((), "un fichier de données est un objet YAML"))
            continue
        for key, value in doc.data.items():
            if key in merged:
                errors.append(doc.error((key,), f"jeu de données « {key} » déjà défini dans un autre fichier"))
            merged[key] = value
            parsed[key] = doc
    for key, path in (overrides or {}).items():
        doc, found = load_yaml(path)
        errors += found
        if doc is None or found:
            continue
        if not isinstance(doc.data, dict) or key not in doc.data:
            errors.append(doc.error((), f"le fichier doit contenir le jeu de données « {key} »"))
            continue
        merged[key], parsed[key] = doc.data[key], doc
    if HABILITATIONS in parsed:
        errors += matrix_problems(parsed[HABILITATIONS], merged.get("personas") or {})
    if errors:
        raise SourceErrors(errors)
    return merged


@dataclass
class Suite:
    """A loaded, validated suite: catalogue, scenarios and the data they use."""

    catalogue: Catalogue
    scenarios: list[Scenario]
    fixtures: dict[str, Any]
    paths: list[Path]

    @property
    def version(self) -> str:
        """Suite version for reports: the catalogue's, with the suite folders when not the built-in one."""
        builtin = [builtin_scenario_dir().resolve()]
        custom = [str(p) for p in self.paths if p.resolve() not in builtin]
        return self.catalogue.version + (f" ({', '.join(custom)})" if custom else "")


def load_suite(paths: Sequence[Path] = (), fixture_overrides: Mapping[str, Path] | None = None) -> Suite:
    """Load catalogue, fixtures and scenarios; raise SourceErrors with every problem found."""
    load_plugins()
    paths = list(paths) or [builtin_scenario_dir()]
    catalogue = load_catalogue(catalogue_files(paths))
    documents: dict[str, YamlDocument] = {}
    fixtures = load_fixtures(documents=documents, overrides=fixture_overrides)
    vocabulary = Vocabulary(
        checks=signatures(), operations=frozenset(driver_operations()), simulators=frozenset(SIMULATORS),
        strategies=frozenset(STRATEGIES),
        token_variants=frozenset(v for _, cls in SIMULATORS.items() if issubclass(cls, TokenIssuer)
                                 for v in cls.token_variants),
        personas=frozenset(fixtures.get("personas", {})), fixtures=fixtures,
        requirements=frozenset(r.id for r in catalogue), fixture_documents=documents,
    )
    unknown = [SourceError(r.file, o.line, 1, f"obligation {o.id} : vérification inconnue « {name} »")
               for r in catalogue for o in r.obligations for name in o.checks
               if name not in vocabulary.checks and name not in ENGINE_CHECKS]
    if unknown:
        raise SourceErrors(unknown)
    return Suite(catalogue, load_scenarios(paths, vocabulary), fixtures, paths)


@dataclass
class RunOptions:
    """What the user asked for."""

    target: str | None = None
    settings: TargetSettings | None = None
    serve: bool = False
    faults: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    seed: int | None = None
    manual_operations: frozenset[str] = frozenset()
    simulator_ports: dict[str, int] = field(default_factory=dict)
    prompt: Prompt | None = None
    lang: str = "fr"
    #: official CDA validation kits to validate documents with (``--cda-kit``); none by default
    cda_kits: tuple[CdaKit, ...] = ()
    #: fail the run when EXIGENCEs of the catalogue are left untested (``--require-complete``)
    require_complete: bool = False
    run_id: str = field(default_factory=lambda: new_run_id())


async def _stop_all(simulators: dict[str, Simulator]) -> None:
    await asyncio.gather(*(sim.stop() for sim in simulators.values()))


def _reference_tls(stack: AsyncExitStack, names: tuple[str, ...]) -> tuple[TestCa | None, str | None]:
    """A certificate for the reference DUI when it is to be served over TLS, and its CA file to trust."""
    if not names:
        return None, None
    ca = issue_test_certificate("AC de test du DUI de référence", names)
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dui-conformance-ca-")))
    (folder / "ca.pem").write_bytes(ca.ca_pem)
    return ca, str(folder / "ca.pem")


def new_run_id() -> str:
    """Sortable, unique run id."""
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class Session:
    """One run: opens the target and simulators, plays the selection, emits events to the handlers."""

    def __init__(self, suite: Suite, options: RunOptions, run_dir: Path | None) -> None:
        self.suite, self.options, self.run_dir = suite, options, run_dir
        if options.target and options.faults:
            raise UsageError("--fault ne s'applique qu'au DUI de référence (sans --target)")
        unknown = set(options.manual_operations) - set(driver_operations())
        if unknown:
            raise UsageError(f"manual.operations : opération(s) inconnue(s) : {', '.join(sorted(unknown))}")
        unknown = set(options.simulator_ports) - set(SIMULATORS)
        if unknown:
            raise UsageError(f"simulators : simulateur(s) inconnu(s) : {', '.join(sorted(unknown))} "
                             f"(connus : {', '.join(SIMULATORS)})")
        for req in options.requirements:
            if req not in suite.catalogue:
                raise UsageError(f"--requirement {req} : exigence inconnue du catalogue")
        self.selection = select(suite.catalogue, suite.scenarios, options.themes, options.requirements)
        if options.themes and not self.selection.scenarios:
            raise UsageError(f"--theme {', '.join(options.themes)} : aucun scénario ne correspond "
                             f"(thèmes : {', '.join(suite.catalogue.themes)})")
        self.seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        self.runner: Runner | None = None
        self._stack: AsyncExitStack | None = None

    async def run(self, handlers: Iterable[Callable[[Event], None]]) -> RunFinished:
        """Play the run; events go to every handler as they happen."""
        runner = await self.open(handlers)
        self._install_signals(runner)
        try:
            return await runner.run()
        finally:
            self._remove_signals()
            await self.close()

    async def open(self, handlers: Iterable[Callable[[Event], None]]) -> Runner:
        """Start the target and the simulators; the runner is ready to play scenarios."""
        handlers = list(handlers)

        def emit(event: Event) -> None:
            for handler in handlers:
                handler(event)

        stack = self._stack = AsyncExitStack()
        try:
            simulators: dict[str, Simulator] = {}
            # Stopped together: each server takes a fixed ~0.2 s to wind down, which adds up over a detection matrix.
            stack.push_async_callback(_stop_all, simulators)
            for name, cls in SIMULATORS.items():
                sim = cls()
                sim.port = self.options.simulator_ports.get(name, 0)
                await sim.start()
                simulators[name] = sim
            issuer = next((s for s in simulators.values() if isinstance(s, TokenIssuer)), None)
            for sim in simulators.values():
                # Personal mailboxes authenticate with a PSC token (XOAUTH2): the operator checks it with the issuer.
                if issuer is not None and hasattr(sim, "token_verifier"):
                    sim.token_verifier = issuer.verify
            client, target = await self._open_target(stack, {n: s.endpoints() for n, s in simulators.items()})
        except BaseException:
            await stack.aclose()
            raise
        settings = client.settings
        ctx = RunContext(
            run_id=self.options.run_id, client=client, catalogue=self.suite.catalogue, selection=self.selection,
            fixtures=self.suite.fixtures, evidence=EvidenceStore(self.run_dir, settings.secrets), seed=self.seed,
            suite_version=self.suite.version, target=target, simulators=simulators, faults=self.options.faults,
            manual_operations=self.options.manual_operations, prompt=self.options.prompt, lang=self.options.lang,
            selection_args={"themes": list(self.options.themes), "requirements": list(self.options.requirements)},
            kits=[kit.record() for kit in self.options.cda_kits], require_complete=self.options.require_complete,
        )
        # The checks of this run (same task) validate with these kits; other runs are not affected.
        set_active_kits(self.options.cda_kits)
        self.runner = Runner(ctx, emit)
        return self.runner

    async def close(self) -> None:
        """Stop the simulators and close the target."""
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def _open_target(
        self, stack: AsyncExitStack, services: dict[str, dict[str, str]]
    ) -> tuple[VendorClient, dict[str, Any]]:
        opts = self.options
        if opts.target:
            settings = opts.settings or TargetSettings(base_url=opts.target)
            client = VendorClient(settings)
            target = {"url": opts.target, "mode": "distant"}
        else:
            from conformance.reference import FAULTS, create_app
            from conformance.reference.hostile import certificate_names

            # The reference DUI is configured with the simulators' URLs, as a vendor configures its test instance.
            app = create_app(opts.faults, services)
            base = opts.settings or TargetSettings(base_url=IN_PROCESS_URL)
            # A fault that lives in the connection (hang, cut, trickle) needs a real socket to exist at all.
            if opts.serve or any(FAULTS[name].on_socket for name in opts.faults):
                tls, verify = _reference_tls(stack, certificate_names(app.state.reference))
                server = stack.enter_context(LoopbackServer(app, tls=tls))
                settings = dataclasses.replace(base, base_url=server.url, verify=verify or base.verify)
                client = VendorClient(settings)
                target = {"url": server.url, "mode": "référence sur boucle locale"}
            else:
                settings = dataclasses.replace(base, base_url=IN_PROCESS_URL)
                client = VendorClient(settings, app=app)
                target = {"url": IN_PROCESS_URL, "mode": "référence en processus"}
        stack.push_async_callback(client.aclose)
        return client, target

    def _install_signals(self, runner: Runner) -> None:
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, runner.request_stop)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (pytest plugin, embedding): the caller handles interruption

    def _remove_signals(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass

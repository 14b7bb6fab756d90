"""The pika-core test matrix: `nox --list` shows every session, `nox` runs the default ones.

Each session builds its own virtual environment from the Python that runs nox, so that what a
session can import is exactly what it installed: the core's tests never see tornado, twisted or
gevent, and each plugin is tested beside its own framework only. Tool versions come from the
dependency groups of the root pyproject.toml.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import nox

ROOT = pathlib.Path(__file__).resolve().parent
REPORTS = ROOT / ".nox" / "reports"
PYPROJECT = nox.project.load_toml(str(ROOT / "pyproject.toml"))

# The plugin distributions, each under plugins/pika_<name> with its tests in tests/plugins/<name>.
PLUGINS = ["tornado", "twisted", "gevent", "streamdal"]
# The frameworks that must stay out of the core's environment (the plugins pull them in).
FRAMEWORKS = ["tornado", "twisted", "gevent"]
# The plugin adapters pika-streamdal's acceptance tests also run over, one nox session each.
STREAMDAL_ADAPTERS = ["gevent", "tornado", "twisted"]
# The codec and protocol modules whose coverage the test command holds at 90% or more.
COVERED_MODULES = ["pika_core.data", "pika_core.spec", "pika_core.frame", "pika_core.protocol"]
COVERAGE_FLOOR = 90
# Optional dependencies of a plugin that its code is type-checked against.
TYPECHECK_EXTRAS = {"streamdal": "[otel,prometheus,jsonschema,yaml]"}
# What tests_core runs: everything that needs the core alone (the fault tests have their own).
CORE_TEST_PATHS = ["tests/core", "tests/compat", "tests/examples", "tests/test_repository.py"]

nox.options.sessions = [
    "lint",
    "typecheck",
    "tests_core",
    "tests_plugin",
    "tests_streamdal_adapters",
    "tests_streamdal_sdk",
    "packaging",
    "docs",
    "tests_fault",
    "tests_cluster",
]
nox.options.reuse_venv = "yes"
# uv (installed beside nox by scripts/test.sh) makes environments in seconds; plain virtualenv
# and pip work too.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True


def _group(name: str) -> list[str]:
    """The requirements of one dependency group of the root pyproject.toml."""
    return list(nox.project.dependency_groups(PYPROJECT, name))


def _junit(name: str) -> str:
    """Where a session's pytest writes its JUnit XML report, read by .ci/run."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    return f"--junitxml={REPORTS / (name + '.xml')}"


def _type_checked_paths() -> list[str]:
    """pika_core, every plugin package and tools/ (when it holds Python files)."""
    paths = ["pika_core"] + [f"plugins/pika_{name}/pika_{name}" for name in PLUGINS]
    if any((ROOT / "tools").glob("*.py")):
        paths.append("tools")
    return paths


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict (config in pyproject.toml) over pika_core, every plugin package and tools/."""
    plugin_installs: list[str] = []
    for name in PLUGINS:
        extras = TYPECHECK_EXTRAS.get(name, "")
        plugin_installs += ["-e", f"plugins/pika_{name}{extras}"]
    # The plugins with their frameworks (and the typed optional dependencies), so that their
    # code is checked against real types.
    session.install(*_group("typecheck"), "-e", ".", *plugin_installs)
    session.run("mypy", *_type_checked_paths())


@nox.session
def tests_core(session: nox.Session) -> None:
    """The core alone (no tornado, twisted or gevent): tests/core, compat, examples, repository.

    Coverage of the codec and protocol modules (pika_core.data, .spec, .frame, .protocol) must
    reach 90%; the JUnit report goes to .nox/reports/tests_core.xml, where .ci/run checks that the
    broker tests ran and passed.
    """
    session.install(*_group("test"), "-e", ".")
    absent = ", ".join(repr(name) for name in FRAMEWORKS)
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; "
        f"found = [n for n in ({absent},) if importlib.util.find_spec(n) is not None]; "
        "sys.exit(f'the core environment must not hold {found}: recreate it with nox -r') "
        "if found else None",
    )
    cov = [f"--cov={module}" for module in COVERED_MODULES]
    session.run(
        "pytest",
        *cov,
        "--cov-report=term-missing:skip-covered",
        f"--cov-fail-under={COVERAGE_FLOOR}",
        _junit("tests_core"),
        *(session.posargs or CORE_TEST_PATHS),
        env={"COVERAGE_FILE": str(ROOT / ".nox" / ".coverage.tests_core")},
    )


@nox.session
@nox.parametrize("plugin", PLUGINS, ids=PLUGINS)
def tests_plugin(session: nox.Session, plugin: str) -> None:
    """The core with one plugin and its framework, in an environment of its own: tests/plugins/.

    A plugin whose pyproject.toml has a ``test`` extra (pika-streamdal: opentelemetry-sdk,
    jsonschema, prometheus-client) gets it, so that none of its tests is skipped here.
    """
    project = ROOT / "plugins" / f"pika_{plugin}" / "pyproject.toml"
    lines = project.read_text(encoding="utf-8").splitlines()
    extra = "[test]" if any(line.replace(" ", "").startswith("test=[") for line in lines) else ""
    session.install(*_group("test"), "-e", ".", "-e", f"plugins/pika_{plugin}{extra}")
    session.run(
        "pytest",
        _junit(f"tests_plugin-{plugin}"),
        *(session.posargs or [f"tests/plugins/{plugin}"]),
    )


@nox.session
@nox.parametrize("adapter", STREAMDAL_ADAPTERS, ids=STREAMDAL_ADAPTERS)
def tests_streamdal_adapters(session: nox.Session, adapter: str) -> None:
    """pika-streamdal's acceptance tests (section 5.5) over one plugin adapter, beside its plugin.

    tests_plugin(streamdal) runs them over the core's adapters; here each I/O-framework plugin
    gets an environment of its own with pika-streamdal, and the test drivers run over it alone.
    """
    session.install(
        *_group("test"),
        "-e",
        ".",
        "-e",
        "plugins/pika_streamdal[test]",
        "-e",
        f"plugins/pika_{adapter}",
    )
    session.run(
        "pytest",
        _junit(f"tests_streamdal_adapters-{adapter}"),
        *(session.posargs or ["tests/plugins/streamdal/test_broker.py"]),
        env={"PIKA_STREAMDAL_TEST_ADAPTERS": adapter},
    )


# The Streamdal SDK as docs/streamdal.md installs it: `pip install streamdal` no longer resolves (its
# metadata pins a package name now taken by another project), so the SDK and its protos go in with
# --no-deps and their runtime packages beside them.
STREAMDAL_SDK = ["streamdal==0.1.18", "streamdal-protos==0.1.36"]
STREAMDAL_SDK_RUNTIME = [
    "betterproto==2.0.0b6",
    "grpclib",
    "wasmtime==15.0.0",
    "token-bucket",
    "requests",
    "protobuf==4.25.1",
]


@nox.session
def tests_streamdal_sdk(session: nox.Session) -> None:
    """pika-streamdal's bridge driving the real streamdal SDK, its server down, against the broker.

    The SDK is installed with the recipe of docs/streamdal.md; tests/plugins/streamdal/
    test_real_sdk.py runs only here (PIKA_STREAMDAL_REAL_SDK=1), where a missing SDK fails.
    """
    session.install(*_group("test"), "-e", ".", "-e", "plugins/pika_streamdal[test]")
    session.install("--no-deps", *STREAMDAL_SDK)
    session.install(*STREAMDAL_SDK_RUNTIME)
    session.run(
        "pytest",
        _junit("tests_streamdal_sdk"),
        *(session.posargs or ["tests/plugins/streamdal/test_real_sdk.py"]),
        env={"PIKA_STREAMDAL_REAL_SDK": "1"},
    )


@nox.session
def packaging(session: nox.Session) -> None:
    """Build every wheel, then tests/packaging installs them into fresh venvs, with each extra."""
    session.install(*_group("packaging"))
    with tempfile.TemporaryDirectory(prefix="pika-core-wheels-") as wheelhouse:
        projects = ["."] + [f"plugins/pika_{name}" for name in PLUGINS]
        for project in projects:
            # Without isolation, build still checks the build-system requirements (hatchling,
            # from the packaging group) and saves a fresh build environment per wheel.
            session.run(
                "python",
                "-m",
                "build",
                "--wheel",
                "--no-isolation",
                "--outdir",
                wheelhouse,
                project,
            )
        session.run(
            "pytest",
            _junit("packaging"),
            *(session.posargs or ["tests/packaging"]),
            env={"PIKA_CORE_WHEELHOUSE": wheelhouse},
        )


@nox.session
def docs(session: nox.Session) -> None:
    """mkdocs build --strict: the site in docs/, with the API reference from docstrings."""
    session.install(*_group("docs"))
    site = os.environ.get("PIKA_CORE_SITE_DIR", str(ROOT / ".nox" / "site"))
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})


# --- bench ------------------------------------------------------------------------------------
# The client benchmark (bench/README.md, docs/benchmarks.md): not a default session. It needs the
# broker at 127.0.0.1:5672; on Debian as root it installs rabbitmq-c's headers for the C baseline.


def _install_rabbitmq_c(session: nox.Session) -> None:
    """Debian's librabbitmq-dev and a C compiler for bench/c, when missing and we may install."""
    if pathlib.Path("/usr/include/amqp.h").exists():
        return
    if os.geteuid() != 0 or not pathlib.Path("/etc/debian_version").exists():
        session.warn("no rabbitmq-c headers: the C row is n/a (apt-get install librabbitmq-dev)")
        return
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", "gcc", "librabbitmq-dev", external=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Every client (pika-core's adapters, pika, aio-pika, AMQPStorm, py-amqp, C) through the
    same scenarios: ``nox -s bench -- --quick`` for a smoke test; other options are
    python -m bench.run's (--runs, --clients, --scenarios, --list)."""
    _install_rabbitmq_c(session)
    # The I/O-framework plugins (with their frameworks) give the tornado/twisted/gevent rows.
    adapters: list[str] = []
    for name in FRAMEWORKS:
        if (ROOT / "plugins" / f"pika_{name}" / "pyproject.toml").exists():
            adapters += ["-e", f"plugins/pika_{name}"]
    session.install("-r", "bench/requirements.txt", "-e", ".", *adapters)
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session
def tests_fault(session: nox.Session) -> None:
    """tests/fault without the cluster: recovery and faults on RabbitMQ nodes of their own, a fault proxy."""
    session.install(*_group("test"), "-e", ".")
    session.run(
        "pytest",
        "-m",
        "fault and not cluster",
        _junit("tests_fault"),
        *(session.posargs or ["tests/fault"]),
        env={"PIKA_CORE_FAULT_TESTS": "1"},
    )


@nox.session
def tests_cluster(session: nox.Session) -> None:
    """The cluster tests of tests/fault (three RabbitMQ nodes of their own; about a minute to start)."""
    session.install(*_group("test"), "-e", ".")
    session.run(
        "pytest",
        "-m",
        "cluster",
        _junit("tests_cluster"),
        *(session.posargs or ["tests/fault"]),
        env={"PIKA_CORE_CLUSTER_TESTS": "1"},
    )

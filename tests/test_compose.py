"""Checks of docker-compose.yml and the Dockerfile, by parsing, because no Docker engine runs here.

The stand-ins' setup options that compose relies on run for real at the end
of this file, on 127.0.0.1 and free ports.
"""
import ast
import http.server
import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path

import pytest
import yaml

from embedded.ports import LOOPBACK, find_free_port, wait_for_port
from embedded.processes import start_process, stop_process

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILES = [ROOT / "config" / "settings" / "base.py", ROOT / "config" / "settings" / "production.py"]

SHOP_PROCESSES = ("web", "worker", "beat")
STAND_INS = ("localstripe", "ses")
SERVICES_NEEDED = {*SHOP_PROCESSES, *STAND_INS, "postgres", "redis", "jaeger"}
JAEGER_IMAGE = "jaegertracing/jaeger:2.14.1"

# Ports published on the host, by service. PostgreSQL and Redis stay inside
# the compose network, so they never clash with servers on the host.
PUBLISHED_PORTS = {
    "web": {8000},
    "jaeger": {4317, 4318, 16686},
    "localstripe": {8420},
    "ses": {8430},
    "worker": set(),
    "beat": set(),
    "postgres": set(),
    "redis": set(),
}

# Keys in which web and worker may differ. Everything else comes from the
# shared base definition.
PER_PROCESS_KEYS = {"command", "ports", "healthcheck"}

DEFAULT_PATTERN = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def required_settings() -> set[str]:
    """Return the variables that the production settings read with env_str() and no default."""
    names = set()
    for path in SETTINGS_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "env_str"):
                continue
            has_default = len(node.args) > 1 or any(keyword.arg == "default" for keyword in node.keywords)
            if not has_default and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


def with_defaults(value: str) -> str:
    """Return `value` with each ${NAME:-default} replaced by its default, as compose does when NAME is unset."""
    return DEFAULT_PATTERN.sub(lambda match: match.group(2) or "", str(value))


def command_lines(command) -> list[list[str]]:
    """Split a compose command or healthcheck into the argv of each program it runs.

    `sh -c "a && exec b"` gives [a, b], so each program can be checked.
    """
    if isinstance(command, list):
        if command[:1] in (["CMD"], ["CMD-SHELL"]):
            kind, *command = command
            if kind == "CMD-SHELL":
                return command_lines(" ".join(command))
        argv = [with_defaults(part) for part in command]
    else:
        argv = shlex.split(with_defaults(command))
    if argv[:2] == ["sh", "-c"]:
        lines = []
        for part in re.split(r"&&|;", argv[2]):
            words = shlex.split(part)
            lines.append(words[1:] if words[:1] == ["exec"] else words)
        return lines
    return [argv]


def option_value(argv: list[str], option: str) -> str | None:
    """Return the value of `--option=value` or `--option value` in argv, or None."""
    for index, word in enumerate(argv):
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
        if word == option and index + 1 < len(argv):
            return argv[index + 1]
    return None


def published_ports(service: dict) -> list[tuple[str, int, int]]:
    """Return (host address, host port, container port) for each short-syntax port entry."""
    entries = []
    for entry in service.get("ports", []):
        host, host_port, container_port = str(entry).split("/")[0].rsplit(":", 2)
        entries.append((host, int(host_port), int(container_port)))
    return entries


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return (instruction, arguments) for each Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


# Services and images


def test_every_service_is_defined(services):
    assert SERVICES_NEEDED <= set(services)


@pytest.mark.parametrize("name", sorted(SERVICES_NEEDED))
def test_service_has_healthcheck(services, name):
    healthcheck = services[name].get("healthcheck", {})

    assert not healthcheck.get("disable", False), f"{name} disables its healthcheck"
    assert healthcheck.get("test"), f"{name} has no healthcheck test"
    assert healthcheck["test"] != ["NONE"], f"{name} turns its healthcheck off"


def test_images_are_pinned(services):
    for name, service in services.items():
        if "build" in service:
            continue
        image = service.get("image", "")
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert re.match(r"\d", tag), f"{name} uses the unpinned image {image!r}"


def test_jaeger_is_pinned_v2_all_in_one(services):
    assert services["jaeger"]["image"] == JAEGER_IMAGE


def test_built_services_share_one_image(services):
    built = {name for name, service in services.items() if "build" in service}

    assert built == {*SHOP_PROCESSES, *STAND_INS}
    assert {services[name]["build"] for name in built} == {"."}
    assert len({services[name]["image"] for name in built}) == 1


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_shop_processes_share_one_base(services, name):
    web, other = services["web"], services[name]

    assert set(web) - PER_PROCESS_KEYS == set(other) - PER_PROCESS_KEYS
    for key in set(web) - PER_PROCESS_KEYS - {"environment"}:
        assert web[key] == other[key], f"web and {name} differ in {key}"
    web_environment = {**web["environment"], "OTEL_SERVICE_NAME": None}
    other_environment = {**other["environment"], "OTEL_SERVICE_NAME": None}
    assert web_environment == other_environment


def test_beat_sends_the_sweeper_once(services):
    beat = services["beat"]

    assert command_lines(beat["command"])[0][:4] == ["celery", "-A", "config", "beat"]
    # A second beat would send every sweep twice.
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert "ports" not in beat


# Environment of the shop processes


def test_required_settings_are_found():
    # Guards the parser below: a parser that found nothing would let every
    # environment pass.
    assert {"DJANGO_SECRET_KEY", "REDIS_URL", "STRIPE_SECRET_KEY"} <= required_settings()


@pytest.mark.parametrize("name", SHOP_PROCESSES)
def test_shop_process_gets_required_settings(services, name):
    environment = services[name]["environment"]

    missing = required_settings() - set(environment)
    assert not missing, f"{name} lacks settings that config/settings require: {sorted(missing)}"
    for variable in required_settings():
        assert with_defaults(environment[variable]), f"{name} sets {variable} to an empty value"


@pytest.mark.parametrize("name", SHOP_PROCESSES)
def test_shop_process_reaches_services_by_name(services, name):
    environment = {key: with_defaults(value) for key, value in services[name]["environment"].items()}

    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["STRIPE_API_BASE"] == "http://localstripe:8420"
    assert environment["AWS_SES_ENDPOINT_URL"] == "http://ses:8430"
    # The browser, not the container, loads Stripe.js.
    assert environment["STRIPE_JS_URL"] == "http://localhost:8420/js.stripe.com/v3/"


@pytest.mark.parametrize(
    ("name", "service_name"), [("web", "shop-web"), ("worker", "shop-worker"), ("beat", "shop-beat")]
)
def test_shop_process_exports_traces_to_jaeger(services, name, service_name):
    environment = services[name]["environment"]

    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert environment["OTEL_SERVICE_NAME"] == service_name
    assert environment["DEPLOYMENT_ENVIRONMENT"] == "compose"
    assert environment["JAEGER_UI_URL"] == "http://localhost:16686"
    assert environment["JAEGER_QUERY_URL"] == "http://jaeger:16686"
    # A signal-specific variable would win over the endpoint above.
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in environment
    assert "OTEL_SDK_DISABLED" not in environment


def test_jaeger_receivers_listen_on_every_interface(services):
    command = services["jaeger"]["command"]

    assert "--set=receivers.otlp.protocols.grpc.endpoint=0.0.0.0:4317" in command
    assert "--set=receivers.otlp.protocols.http.endpoint=0.0.0.0:4318" in command
    assert not any(word.startswith("--config") for word in command), (
        "--config replaces Jaeger's all-in-one configuration, with its UI and health check"
    )


def test_jaeger_healthcheck_uses_health_extension(services):
    test = " ".join(services["jaeger"]["healthcheck"]["test"])

    assert "http://127.0.0.1:13133/status" in test


# Ports and scaling


@pytest.mark.parametrize("name", sorted(PUBLISHED_PORTS))
def test_service_publishes_expected_ports(services, name):
    entries = published_ports(services[name])

    assert {host_port for _, host_port, _ in entries} == PUBLISHED_PORTS[name]
    for host, host_port, container_port in entries:
        assert host == "127.0.0.1", f"{name} publishes port {host_port} on {host!r}, not loopback"
        assert host_port == container_port


def test_worker_can_be_scaled(services):
    worker = services["worker"]

    # A fixed container name or a published port would clash between replicas.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert command_lines(worker["command"])[0][:4] == ["celery", "-A", "config", "worker"]


def test_shop_waits_for_its_dependencies(services):
    expected = {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "localstripe": "service_healthy",
        "ses": "service_healthy",
        # The shop keeps working while Jaeger is down.
        "jaeger": "service_started",
    }
    for name in SHOP_PROCESSES:
        depends_on = services[name]["depends_on"]
        conditions = {service: depends_on[service]["condition"] for service in depends_on}
        assert conditions == expected, f"{name} depends on {conditions}"


# Stand-ins' setup options


def test_localstripe_registers_shop_webhook(services):
    from django.urls import resolve

    argv = command_lines(services["localstripe"]["command"])[0]
    webhook_url = urllib.parse.urlsplit(option_value(argv, "--webhook-url"))
    web_environment = services["web"]["environment"]

    assert webhook_url.hostname == "web"
    assert webhook_url.port == 8000
    assert resolve(webhook_url.path).view_name == "orders:stripe_webhook"
    assert "web" in with_defaults(web_environment["DJANGO_ALLOWED_HOSTS"]).split(",")
    # Compared before interpolation, so both follow one STRIPE_WEBHOOK_SECRET.
    raw_argv = services["localstripe"]["command"]
    assert f"--webhook-secret={web_environment['STRIPE_WEBHOOK_SECRET']}" in raw_argv


def test_ses_verifies_shop_sender(services):
    raw_argv = services["ses"]["command"]
    sender = services["web"]["environment"]["DEFAULT_FROM_EMAIL"]

    assert f"--verify-sender={sender}" in raw_argv
    assert with_defaults(sender) == "orders@shop.example.com"


# Importing localstripe 1.15.10 registers plain functions as aiohttp
# handlers, which aiohttp warns about once per route.
IGNORE_LOCALSTRIPE_IMPORT_WARNINGS = pytest.mark.filterwarnings(
    "ignore:Bare functions are deprecated:DeprecationWarning"
)


@IGNORE_LOCALSTRIPE_IMPORT_WARNINGS
@pytest.mark.parametrize(
    ("name", "module", "port"),
    [("localstripe", "embedded.localstripe_server", 8420), ("ses", "embedded.ses_server", 8430)],
)
def test_stand_in_command_parses(services, name, module, port):
    argv = command_lines(services[name]["command"])[0]

    assert argv[:3] == ["python", "-m", module]
    args = importlib.import_module(module).parse_args(argv[3:])
    assert args.host == "0.0.0.0"
    assert args.port == port


@IGNORE_LOCALSTRIPE_IMPORT_WARNINGS
@pytest.mark.parametrize("module", ["embedded.localstripe_server", "embedded.ses_server"])
def test_stand_in_listens_on_loopback_by_default(module):
    assert importlib.import_module(module).parse_args([]).host == LOOPBACK


# Commands name things that exist


def compose_programs(services) -> list[tuple[str, list[str]]]:
    """Return (service, argv) for every program that a command or healthcheck of the shop's image runs."""
    programs = []
    for name, service in services.items():
        if "build" not in service:
            continue
        for command in (service.get("command"), service.get("healthcheck", {}).get("test")):
            if command:
                programs += [(name, argv) for argv in command_lines(command)]
    return programs


def test_python_modules_in_commands_exist(services):
    modules = [argv[2] for _, argv in compose_programs(services) if argv[:2] == ["python", "-m"]]

    assert modules, "no `python -m` command was found, so this test checks nothing"
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"`python -m {module}` names no module"


def test_management_commands_in_commands_exist(services):
    from django.core.management import get_commands

    commands = [argv[2] for _, argv in compose_programs(services) if argv[:2] == ["python", "manage.py"]]

    assert commands, "no `python manage.py` command was found, so this test checks nothing"
    for command in commands:
        assert command in get_commands(), f"`manage.py {command}` is not a management command"


def test_celery_apps_in_commands_exist(services):
    from celery import Celery
    from celery.app.utils import find_app

    apps = [argv[2] for _, argv in compose_programs(services) if argv[:2] == ["celery", "-A"]]

    assert apps, "no `celery -A` command was found, so this test checks nothing"
    for app in apps:
        assert isinstance(find_app(app), Celery), f"`celery -A {app}` finds no Celery app"


def test_gunicorn_apps_in_commands_exist(services):
    targets = [argv[1] for _, argv in compose_programs(services) if argv[:1] == ["gunicorn"]]
    targets.append(yaml.safe_load(dict(dockerfile_instructions())["CMD"])[1])

    for target in targets:
        module, _, attribute = target.partition(":")
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"gunicorn target {target} names no module"
        tree = ast.parse(Path(spec.origin).read_text())
        assigned = {
            name.id for node in tree.body if isinstance(node, ast.Assign)
            for name in node.targets if isinstance(name, ast.Name)
        }
        # gunicorn looks up `application` when the target names no attribute.
        assert (attribute or "application") in assigned, f"{module} defines no {attribute or 'application'}"


# Dockerfile


def test_dockerfile_copies_existing_paths():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    copies = [arguments.split() for keyword, arguments in dockerfile_instructions() if keyword == "COPY"]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
            assert source not in ignored, f".dockerignore excludes {source}, which the Dockerfile copies"


def test_dockerfile_copies_every_module_commands_run(services):
    copied = set()
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY":
            copied.update(Path(source).parts[0] for source in arguments.split()[:-1])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}

    assert packages <= copied
    assert {"templates", "static", "manage.py"} <= copied
    for _, argv in compose_programs(services):
        if argv[:2] == ["python", "-m"]:
            assert argv[2].split(".")[0] in copied, f"the image lacks the package of {argv[2]}"


def test_dockerfile_installs_stand_ins():
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    assert any("pip install '.[embedded]'" in run for run in runs)
    requirements = " ".join(extras["embedded"])
    assert "localstripe" in requirements
    assert "moto[server" in requirements


def test_dockerfile_collectstatic_sets_required_settings():
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    collectstatic = [run for run in runs if "collectstatic" in run]

    assert len(collectstatic) == 1
    for variable in required_settings():
        assert f"{variable}=" in collectstatic[0], f"collectstatic runs without {variable}"
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in collectstatic[0]


def test_dockerfile_runs_as_non_root_user():
    instructions = dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    keywords = [keyword for keyword, _ in instructions]

    assert users, "the image runs as root"
    assert users[-1] not in {"root", "0"}
    assert keywords.index("USER") < keywords.index("CMD")
    assert "RUN" not in keywords[keywords.index("USER"):], "a RUN after USER would need root"


def test_dockerfile_base_image_is_pinned():
    base = dict(dockerfile_instructions())["FROM"]

    assert re.fullmatch(r"python:3\.(1[1-9])[\w.-]*", base), base


# Stand-ins' setup options, run for real on loopback


class WebhookReceiver(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that records each POST it receives."""

    def __init__(self):
        self.requests: list[tuple[str, str, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, self.headers.get("Stripe-Signature", ""), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format, *args):
                pass

        super().__init__((LOOPBACK, 0), Handler)


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()
    thread.join()
    receiver.server_close()


def test_localstripe_cli_sends_events_to_webhook(tmp_path, webhook_receiver):
    import stripe

    secret = "whsec_compose_check"
    port = find_free_port()
    webhook_url = f"http://{LOOPBACK}:{webhook_receiver.server_port}/stripe/webhook/"
    args = [
        sys.executable, "-m", "embedded.localstripe_server", "--host", LOOPBACK, "--port", str(port),
        "--webhook-url", webhook_url, "--webhook-secret", secret,
    ]
    localstripe = start_process("localstripe", args, log_path=tmp_path / "localstripe.log")
    try:
        wait_for_port(port, managed=localstripe)
        client = stripe.StripeClient("sk_test_localstripe", base_addresses={"api": f"http://{LOOPBACK}:{port}"})
        intent = client.v1.payment_intents.create(
            params={"amount": 1200, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        )

        # localstripe sends each event about one second after it happens.
        deadline = time.monotonic() + 15
        events = []
        while time.monotonic() < deadline and not any(
            event["type"] == "payment_intent.succeeded" for event in events
        ):
            time.sleep(0.2)
            events = [
                stripe.Webhook.construct_event(body, signature, secret)
                for _, signature, body in list(webhook_receiver.requests)
            ]
    finally:
        stop_process(localstripe)

    assert intent.status == "succeeded"
    succeeded = [event for event in events if event["type"] == "payment_intent.succeeded"]
    assert succeeded, f"no payment_intent.succeeded arrived, only {[event['type'] for event in events]}"
    assert succeeded[0]["data"]["object"]["id"] == intent.id
    assert {path for path, _, _ in webhook_receiver.requests} == {"/stripe/webhook/"}


def test_ses_server_cli_verifies_sender(tmp_path):
    from anymail.exceptions import AnymailAPIError
    from django.core.mail import EmailMessage, get_connection

    sender = "orders@shop.example.com"
    port = find_free_port()
    args = [
        sys.executable, "-m", "embedded.ses_server", "--host", LOOPBACK, "--port", str(port),
        "--verify-sender", sender,
    ]
    ses = start_process("SES (moto)", args, log_path=tmp_path / "ses.log")
    try:
        wait_for_port(port, managed=ses)
        connection = get_connection(
            "anymail.backends.amazon_ses.EmailBackend",
            client_params={
                "endpoint_url": f"http://{LOOPBACK}:{port}",
                "region_name": "us-east-1",
                "aws_access_key_id": "embedded",
                "aws_secret_access_key": "embedded",
            },
        )
        sent = EmailMessage("Order", "Thank you.", sender, ["ada@example.org"], connection=connection).send()
        # The unverified sender shows that moto checks identities, so the
        # send above passed because of --verify-sender.
        with pytest.raises(AnymailAPIError, match="MessageRejected"):
            EmailMessage(
                "Order", "Thank you.", "nobody@unverified.example.net", ["ada@example.org"], connection=connection
            ).send()
        ses.process.terminate()
        exit_code = ses.process.wait(timeout=10)
    finally:
        stop_process(ses)

    assert sent == 1
    # Compose stops containers with SIGTERM, and the server must exit on it.
    assert exit_code == 0


def test_ses_server_rejects_invalid_sender():
    result = subprocess.run(
        [sys.executable, "-m", "embedded.ses_server", "--port", "0", "--verify-sender", "orders"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "is not an email address" in result.stderr


def test_localstripe_server_requires_webhook_secret():
    result = subprocess.run(
        [sys.executable, "-m", "embedded.localstripe_server", "--webhook-url", "http://web:8000/stripe/webhook/"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--webhook-url needs --webhook-secret" in result.stderr


def test_web_applies_workshop_faults_from_environment(compose):
    web = compose["services"]["web"]

    assert "manage.py faults --from-env" in web["command"]
    for name in ("SHOP_SCENARIO", "SHOP_FAULTS"):
        assert name in web["environment"]

"""Parameters, ConnectionParameters, URLParameters and SSLOptions: pika 1.x's contract."""

from __future__ import annotations

import copy
import logging
import os
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any, ClassVar, Mapping

import pytest

from pika_core.credentials import ExternalCredentials, PlainCredentials
from pika_core.parameters import (
    ConnectionParameters,
    Parameters,
    SSLOptions,
    URLParameters,
)

SECRET = "Zq9-very-secret"

# (name, default) in pika's positional order.
POSITIONAL = [
    ("host", "localhost"),
    ("port", 5672),
    ("virtual_host", "/"),
    ("credentials", PlainCredentials("guest", "guest")),
    ("channel_max", 65535),
    ("frame_max", 131072),
    ("heartbeat", None),
    ("ssl_options", None),
    ("connection_attempts", 1),
    ("retry_delay", 2.0),
    ("socket_timeout", 10.0),
    ("stack_timeout", 15.0),
    ("locale", "en_US"),
    ("blocked_connection_timeout", None),
    ("client_properties", None),
    ("tcp_options", None),
]


def tls_options(server_hostname: Any = None) -> SSLOptions:
    return SSLOptions(ssl.create_default_context(), server_hostname)


# ---------------------------------------------------------------------------- defaults


@pytest.mark.parametrize(("name", "default"), POSITIONAL)
def test_connection_parameters_defaults(name: str, default: Any) -> None:
    assert getattr(ConnectionParameters(), name) == default


@pytest.mark.parametrize(("name", "default"), POSITIONAL)
def test_url_parameters_defaults_match(name: str, default: Any) -> None:
    assert getattr(URLParameters("amqp://"), name) == default


def test_class_constants() -> None:
    expected = {
        "DEFAULT_USERNAME": "guest",
        "DEFAULT_PASSWORD": "guest",
        "DEFAULT_BLOCKED_CONNECTION_TIMEOUT": None,
        "DEFAULT_CHANNEL_MAX": 65535,
        "DEFAULT_CLIENT_PROPERTIES": None,
        "DEFAULT_CREDENTIALS": PlainCredentials("guest", "guest"),
        "DEFAULT_CONNECTION_ATTEMPTS": 1,
        "DEFAULT_FRAME_MAX": 131072,
        "DEFAULT_HEARTBEAT_TIMEOUT": None,
        "DEFAULT_HOST": "localhost",
        "DEFAULT_LOCALE": "en_US",
        "DEFAULT_PORT": 5672,
        "DEFAULT_RETRY_DELAY": 2.0,
        "DEFAULT_SOCKET_TIMEOUT": 10.0,
        "DEFAULT_STACK_TIMEOUT": 15.0,
        "DEFAULT_SSL": False,
        "DEFAULT_SSL_OPTIONS": None,
        "DEFAULT_SSL_PORT": 5671,
        "DEFAULT_VIRTUAL_HOST": "/",
        "DEFAULT_TCP_OPTIONS": None,
    }
    for name, value in expected.items():
        assert getattr(Parameters, name) == value, name
        assert getattr(ConnectionParameters, name) == value, name


def test_default_credentials_are_a_copy_per_instance() -> None:
    first, second = ConnectionParameters(), ConnectionParameters()
    assert first.credentials is not Parameters.DEFAULT_CREDENTIALS
    assert first.credentials is not second.credentials


# ------------------------------------------------------------------ positional order


def test_positional_arguments_in_pika_order() -> None:
    creds = PlainCredentials("bob", "pw")
    tls = tls_options()

    def beat(connection: Any, broker_value: int) -> int:
        return 7

    values: list[Any] = [
        "rabbit.example",
        1234,
        "vh",
        creds,
        100,
        8192,
        beat,
        tls,
        3,
        0.5,
        4.0,
        6.0,
        "fr_FR",
        9.0,
        {"app": "x"},
        {"TCP_KEEPIDLE": 60},
    ]
    params = ConnectionParameters(*values)
    for (name, _), value in zip(POSITIONAL, values):
        got = getattr(params, name)
        if name == "ssl_options":
            assert got is value
        else:
            assert got == value, name


def test_keywords_match_positional_names() -> None:
    params = ConnectionParameters(host="h", virtual_host="v", heartbeat=0)
    assert (params.host, params.virtual_host, params.heartbeat) == ("h", "v", 0)


# ------------------------------------------------------------------------------ port


def test_port_defaults_to_5671_with_tls() -> None:
    assert ConnectionParameters(ssl_options=tls_options()).port == 5671


def test_explicit_port_wins_over_tls_default() -> None:
    assert ConnectionParameters(port=5672, ssl_options=tls_options()).port == 5672


def test_port_accepts_digit_strings() -> None:
    assert ConnectionParameters(port="5673").port == 5673


@pytest.mark.parametrize("bad", ["abc", None, [5672], True, 5672.5, " 5672"])
def test_port_type_errors(bad: Any) -> None:
    with pytest.raises(TypeError, match="port"):
        ConnectionParameters(port=bad)


@pytest.mark.parametrize("bad", [0, -1, 65536])
def test_port_range_errors(bad: int) -> None:
    with pytest.raises(ValueError, match="port"):
        ConnectionParameters(port=bad)


# ------------------------------------------------------------------------ validation

# (option, accepted values, type-error values, value-error values)
VALIDATION: list[tuple[str, list[Any], list[Any], list[Any]]] = [
    ("host", ["h", "10.0.0.1"], [None, 1, b"h"], [""]),
    ("virtual_host", ["", "/", "x" * 255], [None, 1, b"/"], ["x" * 256]),
    ("locale", ["en_US", ""], [None, 1], ["\u00e9" * 128]),
    ("channel_max", [1, 65535], ["1", 1.0, None, True], [0, 65536, -1]),
    ("frame_max", [4096, 131072], ["4096", 4096.0, None, True], [4095, 131073]),
    ("heartbeat", [None, 0, 60, 65535, lambda conn, value: value], ["60", 1.5, True], [-1, 65536]),
    ("connection_attempts", [1, 10], ["1", 1.0, None, True], [0, -3]),
    ("retry_delay", [0, 0.5, 3], ["1", None, True], [-1, float("nan"), float("inf")]),
    ("socket_timeout", [None, 0.25, 5], ["1", True], [0, -1, float("nan")]),
    ("stack_timeout", [None, 0.25, 5], ["1", True], [0, -1, float("inf")]),
    ("blocked_connection_timeout", [None, 0, 2.5], ["1", True], [-0.5, float("nan")]),
    ("client_properties", [None, {}, {"a": {"b": 1}}], [[], "x", 1], []),
    (
        "tcp_options",
        [
            None,
            {},
            {"TCP_KEEPIDLE": 1, "TCP_KEEPINTVL": 2, "TCP_KEEPCNT": 3, "TCP_USER_TIMEOUT": 4},
        ],
        [[], "x", {"TCP_KEEPIDLE": "1"}, {"TCP_KEEPCNT": True}],
        [{"SO_KEEPALIVE": 1}, {"TCP_KEEPIDLE": -1}],
    ),
    ("ssl_options", [None, tls_options()], [{}, ssl.create_default_context(), "amqps"], []),
    ("credentials", [PlainCredentials("a", "b"), ExternalCredentials()], [None, ("a", "b")], []),
]


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, good, _, _ in VALIDATION for value in good]
)
def test_accepts_valid_value(name: str, value: Any) -> None:
    params = ConnectionParameters(**{name: value})
    assert getattr(params, name) == value
    other = ConnectionParameters()
    setattr(other, name, value)
    assert getattr(other, name) == value


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, _, bad, _ in VALIDATION for value in bad]
)
def test_type_error_names_the_option(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        ConnectionParameters(**{name: value})
    params = ConnectionParameters()
    before = getattr(params, name)
    with pytest.raises(TypeError, match=name):
        setattr(params, name, value)
    assert getattr(params, name) == before


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, _, _, bad in VALIDATION for value in bad]
)
def test_value_error_names_the_option(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        ConnectionParameters(**{name: value})
    params = ConnectionParameters()
    with pytest.raises(ValueError, match=name):
        setattr(params, name, value)


def test_timeouts_become_floats() -> None:
    params = ConnectionParameters(socket_timeout=3, stack_timeout=4)
    assert isinstance(params.socket_timeout, float)
    assert isinstance(params.stack_timeout, float)


def test_credentials_error_does_not_echo_a_password_tuple() -> None:
    with pytest.raises(TypeError) as info:
        ConnectionParameters(credentials=("user", SECRET))  # type: ignore[arg-type]
    assert SECRET not in str(info.value)


def test_unknown_keyword_is_type_error() -> None:
    with pytest.raises(TypeError, match="hearbeat"):
        ConnectionParameters(hearbeat=30)


def test_unknown_keyword_error_does_not_echo_value() -> None:
    with pytest.raises(TypeError) as info:
        ConnectionParameters(pasword=SECRET)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("cls", [ConnectionParameters, URLParameters])
def test_slots_reject_unknown_attributes(cls: type) -> None:
    params: Any = (
        ConnectionParameters() if cls is ConnectionParameters else URLParameters("amqp://")
    )
    with pytest.raises(AttributeError):
        params.hearbeat = 5
    assert not hasattr(params, "__dict__")


# ---------------------------------------------------------------------------- extras


class _WithRecovery(ConnectionParameters):
    """How later code adds a keyword-only option: a slot, a property, an _EXTRA_OPTIONS entry."""

    __slots__ = ("_recovery",)
    _EXTRA_OPTIONS: ClassVar[Mapping[str, Any]] = {
        **ConnectionParameters._EXTRA_OPTIONS,
        "recovery": False,
    }

    @property
    def recovery(self) -> bool:
        return self._recovery

    @recovery.setter
    def recovery(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError("recovery must be a bool")
        self._recovery = value


def test_extra_option_gets_default_and_keyword() -> None:
    assert _WithRecovery().recovery is False
    assert _WithRecovery("h", recovery=True).recovery is True
    with pytest.raises(TypeError, match="recovery"):
        _WithRecovery(recovery="yes")
    with pytest.raises(TypeError, match="bogus"):
        _WithRecovery(bogus=1)


def test_extra_option_survives_deepcopy() -> None:
    clone = copy.deepcopy(_WithRecovery(recovery=True))
    assert clone.recovery is True


class _URLWithRecovery(URLParameters):
    """The same option, also read from the URL query through the parser table."""

    __slots__ = ("_recovery",)
    _EXTRA_OPTIONS: ClassVar[Mapping[str, Any]] = {"recovery": False}
    _URL_QUERY_PARSERS: ClassVar[Mapping[str, Any]] = {
        **URLParameters._URL_QUERY_PARSERS,
        "recovery": lambda params, name, text: setattr(params, "recovery", text == "on"),
    }

    @property
    def recovery(self) -> bool:
        return self._recovery

    @recovery.setter
    def recovery(self, value: bool) -> None:
        self._recovery = value


def test_url_parser_table_is_extensible() -> None:
    assert _URLWithRecovery("amqp://h?recovery=on").recovery is True
    assert _URLWithRecovery("amqp://h").recovery is False
    with pytest.raises(ValueError, match="unknown URL query option not_an_option"):
        URLParameters("amqp://h?not_an_option=on")


# ---------------------------------------------------------------------- eq and copies


def test_eq_compares_host_and_port_only() -> None:
    first = ConnectionParameters("h", 1, "a", heartbeat=1)
    assert first == ConnectionParameters("h", 1, "b", heartbeat=2)
    assert first == URLParameters("amqp://h:1/other")
    assert first != ConnectionParameters("h", 2)
    assert first != ConnectionParameters("g", 1)
    assert (first == ConnectionParameters("g", 1)) is False
    assert first != ("h", 1)


def test_client_properties_are_deep_copied_on_set() -> None:
    props: dict[str, Any] = {"nested": {"k": 1}}
    params = ConnectionParameters(client_properties=props)
    props["nested"]["k"] = 2
    props["new"] = 1
    assert params.client_properties == {"nested": {"k": 1}}


def test_tcp_options_are_copied_on_set() -> None:
    options = {"TCP_KEEPIDLE": 1}
    params = ConnectionParameters(tcp_options=options)
    options["TCP_KEEPIDLE"] = 99
    assert params.tcp_options == {"TCP_KEEPIDLE": 1}


def test_credentials_are_copied_on_set() -> None:
    creds = PlainCredentials("a", "b")
    params = ConnectionParameters(credentials=creds)
    assert params.credentials == creds
    assert params.credentials is not creds
    creds.username = "changed"
    assert params.credentials.username == "a"  # type: ignore[attr-defined]


def test_deepcopy_copies_everything_but_the_ssl_context() -> None:
    def beat(connection: Any, broker_value: int) -> int:
        return broker_value

    params = ConnectionParameters(
        "h",
        ssl_options=tls_options("sni.example"),
        heartbeat=beat,
        client_properties={"a": [1]},
    )
    clone = copy.deepcopy(params)
    assert clone == params
    assert clone.ssl_options is not params.ssl_options
    assert clone.ssl_options is not None and params.ssl_options is not None
    assert clone.ssl_options.context is params.ssl_options.context
    assert clone.ssl_options.server_hostname == "sni.example"
    assert clone.heartbeat is beat
    assert clone.client_properties == {"a": [1]}
    assert clone.client_properties is not params.client_properties
    assert clone.credentials == params.credentials
    assert clone.credentials is not params.credentials
    assert (clone.port, clone.stack_timeout) == (5671, 15.0)


def test_deepcopy_does_not_copy_a_bound_method_heartbeat() -> None:
    class Owner:
        def __deepcopy__(self, memo: Any) -> Any:
            raise AssertionError("the heartbeat callable's owner must not be copied")

        def beat(self, connection: Any, value: int) -> int:
            return value

    owner = Owner()
    clone = copy.deepcopy(ConnectionParameters(heartbeat=owner.beat))
    assert clone.heartbeat == owner.beat


# ----------------------------------------------------------------------- SSLOptions


def test_ssl_options_requires_a_context() -> None:
    with pytest.raises(TypeError, match="context"):
        SSLOptions({"ca_certs": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="server_hostname"):
        SSLOptions(ssl.create_default_context(), server_hostname=1)  # type: ignore[arg-type]


def test_ssl_options_fields_and_slots() -> None:
    context = ssl.create_default_context()
    options = SSLOptions(context, "broker.example")
    assert options.context is context
    assert options.server_hostname == "broker.example"
    assert SSLOptions(context).server_hostname is None
    with pytest.raises(AttributeError):
        options.hostname = "x"  # type: ignore[attr-defined]


def test_ssl_options_logs_when_verification_is_off(caplog: pytest.LogCaptureFixture) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with caplog.at_level(logging.WARNING, logger="pika_core.parameters"):
        SSLOptions(context)
    assert "verification is turned off" in caplog.text


def test_ssl_options_quiet_when_verifying(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pika_core.parameters"):
        SSLOptions(ssl.create_default_context())
    assert caplog.text == ""


# ------------------------------------------------------------------- URLParameters


def test_url_basic_fields() -> None:
    params = URLParameters("amqp://alice:pw@Rabbit.Example:5673/prod")
    assert params.host == "rabbit.example"
    assert params.port == 5673
    assert params.virtual_host == "prod"
    assert params.credentials == PlainCredentials("alice", "pw")
    assert params.ssl_options is None


def test_url_without_userinfo_keeps_default_credentials() -> None:
    assert URLParameters("amqp://h/").credentials == PlainCredentials("guest", "guest")


def test_url_username_without_password() -> None:
    assert URLParameters("amqp://alice@h").credentials == PlainCredentials("alice", "")


def test_url_percent_decoding() -> None:
    params = URLParameters("amqp://us%40er:p%3Aw%2F%25@h/%2f")
    assert params.credentials == PlainCredentials("us@er", "p:w/%")
    assert params.virtual_host == "/"
    assert URLParameters("amqp://h/%2Fapp%20one").virtual_host == "/app one"
    assert URLParameters("amqp://h/caf%C3%A9").virtual_host == "caf\u00e9"


def test_url_default_vhost_forms() -> None:
    assert URLParameters("amqp://h").virtual_host == "/"
    assert URLParameters("amqp://h/").virtual_host == "/"


def test_url_ipv6_host() -> None:
    params = URLParameters("amqp://[::1]:5673/")
    assert (params.host, params.port) == ("::1", 5673)


def test_url_scheme_is_case_insensitive() -> None:
    assert URLParameters("AMQPS://h").ssl_options is not None


def test_amqps_defaults_verify_certificate_and_host() -> None:
    params = URLParameters("amqps://h/")
    assert params.port == 5671
    assert params.ssl_options is not None
    context = params.ssl_options.context
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert params.ssl_options.server_hostname is None


def test_amqps_explicit_port() -> None:
    assert URLParameters("amqps://h:5672").port == 5672


@pytest.mark.parametrize("url", ["http://h", "amqpx://h", "h:5672", "//h", "", "redis://h"])
def test_url_other_schemes_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="amqp://"):
        URLParameters(url)


def test_url_must_be_str() -> None:
    with pytest.raises(TypeError, match="url"):
        URLParameters(b"amqp://h")  # type: ignore[arg-type]


def test_url_fragment_rejected() -> None:
    with pytest.raises(ValueError, match="fragment"):
        URLParameters("amqp://h/#x")


@pytest.mark.parametrize("url", ["amqp://u:p@h:99999", "amqp://h:0"])
def test_url_bad_port(url: str) -> None:
    with pytest.raises(ValueError, match="port"):
        URLParameters(url)


def test_url_invalid_utf8_rejected() -> None:
    with pytest.raises(ValueError, match="password"):
        URLParameters("amqp://u:%ff@h")
    with pytest.raises(ValueError, match="virtual host"):
        URLParameters("amqp://h/%c3")


QUERY_OPTIONS = [
    ("blocked_connection_timeout", "30", 30.0),
    ("blocked_connection_timeout", "0", 0.0),
    ("channel_max", "100", 100),
    ("client_properties", "{'connection_name': 'svc', 'n': [1, 2]}", None),
    ("client_properties", "None", None),
    ("connection_attempts", "5", 5),
    ("frame_max", "8192", 8192),
    ("heartbeat", "0", 0),
    ("heartbeat", "600", 600),
    ("locale", "de_DE", "de_DE"),
    ("retry_delay", "2.5", 2.5),
    ("retry_delay", "1e1", 10.0),
    ("socket_timeout", "0.25", 0.25),
    ("stack_timeout", "40", 40.0),
    ("tcp_options", "{'TCP_KEEPIDLE': 60, 'TCP_KEEPCNT': 3}", None),
    ("tcp_options", "None", None),
]


@pytest.mark.parametrize(("name", "text", "expected"), QUERY_OPTIONS)
def test_url_query_option(name: str, text: str, expected: Any) -> None:
    from urllib.parse import quote

    params = URLParameters(f"amqp://h/?{name}={quote(text)}")
    if name == "client_properties" and text != "None":
        expected = {"connection_name": "svc", "n": [1, 2]}
    if name == "tcp_options" and text != "None":
        expected = {"TCP_KEEPIDLE": 60, "TCP_KEEPCNT": 3}
    assert getattr(params, name) == expected


def test_url_query_plus_is_space() -> None:
    assert URLParameters("amqp://h?locale=a+b").locale == "a b"


def test_url_several_query_options() -> None:
    params = URLParameters("amqp://h/v?heartbeat=5&channel_max=10&&socket_timeout=1")
    assert (params.heartbeat, params.channel_max, params.socket_timeout) == (5, 10, 1.0)


BAD_QUERIES = [
    ("heartbeat", "1.5"),
    ("heartbeat", ""),
    ("heartbeat", " 5"),
    ("heartbeat", "0x10"),
    ("heartbeat", "1_000"),
    ("heartbeat", "-1"),
    ("heartbeat", "70000"),
    ("channel_max", "0"),
    ("channel_max", "abc"),
    ("frame_max", "100"),
    ("connection_attempts", "0"),
    ("retry_delay", "nan"),
    ("retry_delay", "inf"),
    ("socket_timeout", "0"),
    ("socket_timeout", "1s"),
    ("stack_timeout", "-2"),
    ("blocked_connection_timeout", "-1"),
    ("blocked_connection_timeout", "forever"),
    ("client_properties", "[1, 2]"),
    ("client_properties", "{'a': "),
    ("client_properties", "__import__('os').getcwd()"),
    ("tcp_options", "{'SO_RCVBUF': 1}"),
    ("tcp_options", "dict(a=1)"),
    ("ssl_options", "{'verify': False}"),
    ("ssl_options", "[]"),
]


@pytest.mark.parametrize(("name", "text"), BAD_QUERIES)
def test_url_query_option_parsed_strictly(name: str, text: str) -> None:
    from urllib.parse import quote

    with pytest.raises(ValueError, match=name):
        URLParameters(f"amqp://h/?{name}={quote(text)}")


def test_url_query_never_evaluates_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w')"
    with pytest.raises(ValueError):
        URLParameters(f"amqp://h/?client_properties={code}")
    assert not marker.exists()


def test_url_unknown_query_option() -> None:
    with pytest.raises(ValueError, match="hearbeat"):
        URLParameters("amqp://h/?hearbeat=5")


def test_url_query_option_given_twice() -> None:
    with pytest.raises(ValueError, match="more than once"):
        URLParameters("amqp://h/?heartbeat=5&heartbeat=6")


def test_url_query_option_without_value() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        URLParameters("amqp://h/?heartbeat")


def test_url_ssl_options_none_conflicts_with_amqps() -> None:
    with pytest.raises(ValueError, match="amqps"):
        URLParameters("amqps://h/?ssl_options=None")
    assert URLParameters("amqp://h/?ssl_options=None").ssl_options is None


def test_url_ssl_options_dict_builds_a_verifying_context() -> None:
    params = URLParameters("amqp://h/?ssl_options={'server_hostname':'sni.example'}")
    assert params.ssl_options is not None
    assert params.ssl_options.server_hostname == "sni.example"
    context = params.ssl_options.context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    # TLS turned on by the query keeps the port chosen from the amqp:// scheme, as pika does.
    assert params.port == 5672


def test_url_ssl_options_protocol_by_name_and_number() -> None:
    by_name = URLParameters("amqps://h/?ssl_options={'protocol':'PROTOCOL_TLS_CLIENT'}")
    number = int(ssl.PROTOCOL_TLS_CLIENT)
    by_number = URLParameters(f"amqps://h/?ssl_options={{'protocol':{number}}}")
    for params in (by_name, by_number):
        assert params.ssl_options is not None
        assert params.ssl_options.context.protocol == ssl.PROTOCOL_TLS_CLIENT
        assert params.ssl_options.context.check_hostname is True


@pytest.mark.parametrize("protocol", ["'PROTOCOL_TLS_SERVER'", "'TLS'", "9999", "True"])
def test_url_ssl_options_bad_protocol(protocol: str) -> None:
    with pytest.raises(ValueError, match="protocol"):
        URLParameters(f"amqps://h/?ssl_options={{'protocol':{protocol}}}")


def _one_ca_pem() -> str:
    bundle = ssl.get_default_verify_paths().cafile
    if not bundle or not os.path.exists(bundle):
        pytest.skip("this machine has no system CA bundle to borrow a certificate from")
    text = Path(bundle).read_text()
    end = "-----END CERTIFICATE-----"
    start = text.index("-----BEGIN CERTIFICATE-----")
    return text[start : text.index(end, start) + len(end)] + "\n"


def test_url_ssl_options_ca_file_and_data(tmp_path: Path) -> None:
    from urllib.parse import quote

    pem = _one_ca_pem()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(pem)
    for key in ("ca_certs", "cafile"):
        params = URLParameters(f"amqps://h/?ssl_options={quote(repr({key: str(ca_file)}))}")
        assert params.ssl_options is not None
        assert len(params.ssl_options.context.get_ca_certs()) == 1
    for key in ("ca_data", "cadata"):
        params = URLParameters(f"amqps://h/?ssl_options={quote(repr({key: pem}))}")
        assert params.ssl_options is not None
        assert len(params.ssl_options.context.get_ca_certs()) == 1


def test_url_ssl_options_both_spellings_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cafile"):
        URLParameters("amqps://h/?ssl_options={'ca_certs':'a','cafile':'b'}")


def test_url_ssl_options_key_without_cert() -> None:
    with pytest.raises(ValueError, match="certfile"):
        URLParameters("amqps://h/?ssl_options={'keyfile':'k.pem'}")


def test_url_ssl_options_client_certificate(tmp_path: Path) -> None:
    from urllib.parse import quote

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=client", "-passout", f"pass:{SECRET}"],
        check=True,
        capture_output=True,
    )
    good = {"certfile": str(cert), "keyfile": str(key), "password": SECRET, "ciphers": "HIGH"}
    params = URLParameters(f"amqps://h/?ssl_options={quote(repr(good))}")
    assert params.ssl_options is not None
    bad = dict(good, password="wrong-" + SECRET)
    with pytest.raises(ssl.SSLError) as info:
        URLParameters(f"amqps://h/?ssl_options={quote(repr(bad))}")
    assert SECRET not in str(info.value)


# ------------------------------------------------------------- secrets and redaction


def test_repr_and_str_match_pika_and_hide_password() -> None:
    params = URLParameters(f"amqps://alice:{SECRET}@h:1/v")
    assert repr(params) == "<URLParameters host=h port=1 virtual_host=v ssl=True>"
    assert str(params) == repr(params)
    assert SECRET not in repr(params.credentials)
    plain = ConnectionParameters(credentials=PlainCredentials("a", SECRET))
    assert repr(plain) == "<ConnectionParameters host=localhost port=5672 virtual_host=/ ssl=False>"


def test_url_parameters_keep_no_copy_of_the_url() -> None:
    url = f"amqp://alice:{SECRET}@h/v?heartbeat=5&locale=xx"
    params = URLParameters(url)
    for klass in type(params).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            value = getattr(params, slot, None)
            assert url not in repr(value)
            if slot != "_credentials":
                assert SECRET not in repr(value), slot


MALFORMED_WITH_SECRET = [
    f"amqp://alice:{SECRET}/x@h/",
    f"amqp://alice:{SECRET}#x@h/",
    f"amqp://alice:?{SECRET}@h/",
    f"amqp://alice:?heartbeat={SECRET}@h/",
    f"amqp://alice:{SECRET}@h:port/",
    f"amqp://alice:{SECRET}@[h/",
    f"http://alice:{SECRET}@h/",
    f"amqp://alice:{SECRET}@h/?client_properties={{'a':'{SECRET}'",
    f"amqps://h/?ssl_options={{'password':'{SECRET}','bogus':1}}",
    f"amqps://h/?ssl_options={{'password':'{SECRET}'}}",
    f"amqp://alice:{SECRET}%ff@h/",
]


@pytest.mark.parametrize("url", MALFORMED_WITH_SECRET)
def test_url_errors_never_echo_the_password(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(ValueError) as info:
        URLParameters(url)
    error: BaseException | None = info.value
    while error is not None:  # the traceback also prints chained exceptions
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    assert SECRET not in caplog.text


def test_no_logging_of_password(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        params = URLParameters(f"amqps://alice:{SECRET}@h/v")
        params.credentials.erase_credentials()
        copy.deepcopy(params)
    assert SECRET not in caplog.text


def test_redacted_url() -> None:
    assert ConnectionParameters().redacted_url() == "amqp://guest:***@localhost:5672/%2F"
    params = URLParameters(f"amqps://us%40er:{SECRET}@h/prod%2Fone")
    assert params.redacted_url() == "amqps://us%40er:***@h:5671/prod%2Fone"
    assert SECRET not in params.redacted_url()
    external = ConnectionParameters("::1", 5, "v", ExternalCredentials())
    assert external.redacted_url() == "amqp://[::1]:5/v"


def test_heartbeat_thread_defaults_on_and_is_validated() -> None:
    from pika_core.parameters import ConnectionParameters, URLParameters

    assert ConnectionParameters().heartbeat_thread is True
    assert ConnectionParameters(heartbeat_thread=False).heartbeat_thread is False
    with pytest.raises(TypeError, match="heartbeat_thread"):
        ConnectionParameters(heartbeat_thread="no")  # type: ignore[arg-type]
    assert URLParameters("amqp://h/?heartbeat_thread=false").heartbeat_thread is False
    assert URLParameters("amqp://h/?heartbeat_thread=on").heartbeat_thread is True
    with pytest.raises(ValueError, match="heartbeat_thread"):
        URLParameters("amqp://h/?heartbeat_thread=maybe")


# ---------------------------------------------------------------------- plugin options


class _Live:
    """A live object (an interceptor, say): deep copies of the parameters must share it."""


def _positive(value: Any) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"test_level must be a positive int, got {value!r}")
    return value


@pytest.fixture
def plugin_options() -> Any:
    from pika_core import parameters

    parameters.register_option("test_live", (), tuple, owner="tests", shared=True)
    parameters.register_option("test_level", 1, _positive, owner="tests", url_parser=int)
    yield parameters
    parameters.unregister_option("test_live")
    parameters.unregister_option("test_level")


def test_plugin_option_keyword_default_and_attribute(plugin_options: Any) -> None:
    live = _Live()
    params = ConnectionParameters("h", test_live=[live], test_level=3)
    assert params.test_live == (live,) and params.test_level == 3  # type: ignore[attr-defined]
    assert ConnectionParameters().test_level == 1  # type: ignore[attr-defined]
    params.test_level = 5  # type: ignore[attr-defined]
    assert params.test_level == 5  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="test_level must be a positive int"):
        ConnectionParameters(test_level=0)
    with pytest.raises(ValueError, match="test_level"):
        params.test_level = -1  # type: ignore[attr-defined]
    assert not hasattr(params, "__dict__")


def test_plugin_options_copy_eq_and_repr(plugin_options: Any) -> None:
    live = _Live()
    params = ConnectionParameters("h", test_live=[live], test_level=2)
    clone = copy.deepcopy(params)
    assert clone.test_live[0] is live and clone.test_level == 2  # type: ignore[attr-defined]
    clone.test_level = 9  # type: ignore[attr-defined]
    assert params.test_level == 2  # type: ignore[attr-defined]
    assert params == clone  # equality stays pika's: host and port
    assert "test_" not in repr(params) and "_Live" not in repr(params)


def test_plugin_options_and_the_password_rule(plugin_options: Any) -> None:
    params = URLParameters("amqp://user:s3cr3t@h/%2F?test_level=4")
    assert params.test_level == 4  # type: ignore[attr-defined]
    assert "s3cr3t" not in repr(params) and "s3cr3t" not in params.redacted_url()
    with pytest.raises(ValueError, match="test_level") as info:
        URLParameters("amqp://user:s3cr3t@h/%2F?test_level=0")
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ValueError, match="unknown URL query option test_live"):
        URLParameters("amqp://h/?test_live=1")  # registered without a url_parser


def test_unknown_keyword_loads_plugins_then_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from pika_core import parameters

    loaded: list[int] = []

    def load() -> None:  # a plugin whose entry point registers the option when loaded
        loaded.append(1)
        parameters.register_option("test_lazy", None, owner="tests")

    monkeypatch.setattr(parameters, "_load_plugins", load)
    try:
        assert ConnectionParameters(test_lazy="x").test_lazy == "x"  # type: ignore[attr-defined]
        assert loaded == [1]
        with pytest.raises(TypeError, match="unexpected keyword argument.*'still_unknown'"):
            ConnectionParameters(still_unknown=1)
    finally:
        parameters.unregister_option("test_lazy")


def test_plugin_option_names_are_checked(plugin_options: Any) -> None:
    for name in ("heartbeat", "host", "recovery", "_hidden", "not valid", "heartbeat_thread"):
        with pytest.raises(ValueError):
            plugin_options.register_option(name, owner="tests")
    with pytest.raises(ValueError, match="registered by 'tests'"):
        plugin_options.register_option("test_level", owner="another-plugin")
    assert plugin_options.Parameters.register_option is plugin_options.register_option
    assert set(plugin_options.plugin_options()) >= {"test_live", "test_level"}

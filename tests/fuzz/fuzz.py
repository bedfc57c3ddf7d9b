#!/usr/bin/env python3
"""Schema-driven fuzzing of the JSON API with schemathesis, plus a status-coverage check.

Starts `portico serve` (debug build) on a fresh SQLite database, onboards a firm through the
operator API, sets up its administrator from the emailed link, creates a client with a shared
file, notes, a document, a custom field, a finalized and shared invoice and mock-card payment
methods, then runs schemathesis three times with valid credentials:

- the portal operations (`/portal/...`, the client's bearer token, the firm's host),
- the firm operations (`/firm/...`, the administrator's bearer token, the firm's host),
- the platform operations (`/platform/...`, the operator token, the base domain),

in that order, because fuzzing the firm side may legitimately close the client's access, and
fuzzing the platform side suspends and deletes firms. Each run checks that no answer is a 5xx,
and that every status, content type and body is the one the OpenAPI document promises.

"Every documented status is reachable": the statuses schemathesis saw per operation, together
with those of targeted requests below (no credentials, an unknown host, a suspended firm, a
malformed body, an unknown id, a repeated create, a non-administrator, ...), must cover every
status the document lists for that operation, unless `UNREACHED` explains why a status cannot be
produced on demand here. The table of documented versus observed statuses is printed, and the
run fails on any gap.

Prints `# pass N` / `# fail N` (counted by tests/run) and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]

# Test cases per operation in schemathesis' fuzzing phase. With the examples and coverage phases
# this keeps the three runs within about two to three minutes on two cores.
MAX_EXAMPLES = 75

CHECKS = ",".join(
    [
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
    ]
)

PHASES = "examples,coverage,fuzzing"

# The generated cases are the same on every run (they change when the document does), so the
# coverage check cannot flicker with luck. `--seed random` (or PORTICO_FUZZ_SEED) explores more.
DEFAULT_SEED = "20261123"

# Operations not fuzzed, and why (the targeted requests still cover them). Everything else is
# fuzzed: the link-token routes (setup, password reset, invitations, email confirmation) only
# ever see tokens schemathesis makes up, which name no account; member edits, suspension and
# deletion are pointed at a spare member and a spare firm, never at the sessions in use.
EXCLUDED = {
    ("DELETE", "/firm/session"): "would sign the fuzzing session out",
    ("DELETE", "/portal/session"): "would sign the fuzzing session out",
}

# Documented statuses that cannot be produced on demand against one healthy server with the mock
# payment provider, and why. Anything documented, never observed and not listed here fails.
RACE = (
    "two requests changing the same rows at the same moment (a unique-index race); SQLite "
    "serialises writes, so this needs PostgreSQL and exact timing"
)
STRIPE_ONLY = "Stripe mode only: the mock provider answers every call at once and saves any card"
UNREACHED: dict[tuple[str, str, int], str] = {
    ("POST", "/firm/files/{id}/people", 409): RACE,
    ("PUT", "/firm/files/{id}/custom-fields/{field_id}", 409): RACE,
    ("PUT", "/firm/files/{id}/custom-fields/{field_id}/portal", 409): RACE,
    ("POST", "/firm/files/{id}/custom-fields/portal", 409): RACE,
    ("PUT", "/portal/files/{id}/custom-fields/{field_id}", 409): RACE,
    ("POST", "/portal/invoices/{id}/payments", 202): f"a pending charge: {STRIPE_ONLY}",
    ("POST", "/portal/payment-methods", 402): f"a card declined when saved: {STRIPE_ONLY}",
    ("PATCH", "/portal/payment-methods/{id}", 402): f"a card declined when edited: {STRIPE_ONLY}",
    **{
        (method, path, 503): "a Stripe method saved earlier, then the server's Stripe keys "
        "removed: methods are looked up per provider first, so here the answer is 404 or 422"
        for method, path in [
            ("POST", "/portal/invoices/{id}/payments"),
            ("PATCH", "/portal/payment-methods/{id}"),
            ("POST", "/portal/payment-methods/{id}/default"),
            ("DELETE", "/portal/payment-methods/{id}"),
        ]
    },
    ("POST", "/portal/payment-methods", 409): "a setup begun with Stripe, finished after the "
    "firm switched to another provider: beginning one needs Stripe keys",
    **{
        (method, path, 502): f"the provider unreachable: {STRIPE_ONLY}"
        for method, path in [
            ("POST", "/portal/invoices/{id}/payments"),
            ("POST", "/portal/payment-methods/setup"),
            ("POST", "/portal/payment-methods"),
            ("PATCH", "/portal/payment-methods/{id}"),
            ("POST", "/portal/payment-methods/{id}/default"),
            ("DELETE", "/portal/payment-methods/{id}"),
        ]
    },
}

PASSWORD = "correct horse battery staple 42"
CLIENT_PASSWORD = "tangerine bicycle under moonlight 7"
STARTUP_TIMEOUT = 60
MAIL_TIMEOUT = 20
REQUEST_TIMEOUT = 20


def log(message: str) -> None:
    print(f"[fuzz] {message}", flush=True)


# ---- the server -------------------------------------------------------------------------------


class Server:
    """`portico serve` on an OS-chosen loopback port, everything it stores in a temp dir."""

    def __init__(self, binary: Path, workdir: Path):
        self.dir = workdir
        self.mail_dir = workdir / "mail"
        self.mail_dir.mkdir()
        (workdir / "documents").mkdir()
        self.operator_token = secrets.token_hex(24)
        self.log_path = workdir / "server.log"
        env = {
            **os.environ,
            "PORTICO_DATABASE__URL": f"sqlite://{workdir / 'portico.db'}?mode=rwc",
            "PORTICO_DATABASE__MIGRATE_ON_START": "true",
            "PORTICO_SERVER__BIND": "127.0.0.1:0",
            "PORTICO_SERVER__PUBLIC_PORT": "0",
            "PORTICO_SERVER__BASE_DOMAIN": "localhost",
            "PORTICO_PLATFORM__OPERATOR_TOKEN": self.operator_token,
            # One trusted proxy: the operator lock-out probe comes from an address of its own
            # (X-Forwarded-For); every other request has none and counts as 127.0.0.1.
            "PORTICO_AUTH__TRUSTED_PROXY_HOPS": "1",
            "PORTICO_MAIL__TRANSPORT": "file",
            "PORTICO_MAIL__FILE_DIR": str(self.mail_dir),
            "PORTICO_STORAGE__DIR": str(workdir / "documents"),
            "PORTICO_STORAGE__MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "PORTICO_LOG__FORMAT": "json",
        }
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.logs())
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"portico exited ({self.proc.returncode}):\n{self.logs()}")
            time.sleep(0.1)
        raise RuntimeError(f"portico did not report 'listening on' in time:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def host(self, slug: str | None = None) -> str:
        return f"{slug}.localhost:{self.port}" if slug else f"localhost:{self.port}"

    @property
    def api_url(self) -> str:
        # `*.localhost` need not resolve on every machine: requests go to the loopback address
        # and the Host header picks the firm, which is all Portico looks at.
        return f"http://127.0.0.1:{self.port}/api/v1"

    def emails(self) -> list[email.message.EmailMessage]:
        files = sorted(self.mail_dir.glob("*.eml"), key=lambda p: (p.stat().st_mtime, p.name))
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files
        ]

    def link(self, to: str, pattern: str, seen: set[str]) -> str:
        """The newest link matching `pattern`, not in `seen`, in an email to `to` (waits)."""
        regex = re.compile(r"https?://[^\s\"'<>]*" + pattern)
        deadline = time.monotonic() + MAIL_TIMEOUT
        while time.monotonic() < deadline:
            for message in reversed(self.emails()):
                if to.lower() not in str(message.get("To", "")).lower():
                    continue
                body = message.get_body(preferencelist=("plain", "html"))
                text = body.get_content() if body else ""
                for match in regex.finditer(text):
                    if match.group(0) not in seen:
                        seen.add(match.group(0))
                        return match.group(0)
            time.sleep(0.2)
        raise RuntimeError(f"no email to {to} with a link like {pattern}")


# ---- HTTP ------------------------------------------------------------------------------------


@dataclass
class Op:
    method: str
    path: str
    documented: set[int]
    body: dict | None
    body_type: str | None
    params: list[dict]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Observed:
    fuzz: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    probes: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    failures: list[str] = field(default_factory=list)


class Api:
    """JSON calls for setting up data, and targeted requests that are recorded per operation."""

    def __init__(self, server: Server, ops: dict[tuple[str, str], Op], observed: Observed):
        self.server = server
        self.ops = ops
        self.observed = observed
        self.matchers = template_regexes(ops)
        self.seen_links: set[str] = set()
        self.http = requests.Session()
        # Credentials go only where a request names them: no session cookie is kept.
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def call(
        self,
        method: str,
        path: str,
        *,
        slug: str | None = None,
        host: str | None = None,
        token: str | None = None,
        json_body=None,
        data: bytes | None = None,
        content_type: str | None = None,
        files=None,
        headers: dict | None = None,
    ) -> requests.Response:
        # A fresh connection each time: an answer given before the request body was read (a
        # refused upload, say) ends its connection, which a pooled client would reuse.
        all_headers = {
            "Host": host or self.server.host(slug),
            "Accept": "application/json",
            "Connection": "close",
        }
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if content_type:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        return self.http.request(
            method,
            self.server.api_url + path,
            headers=all_headers,
            json=json_body,
            data=data,
            files=files,
            timeout=REQUEST_TIMEOUT,
            allow_redirects=False,
        )

    def template(self, method: str, path: str) -> tuple[str, str] | None:
        return operation_of(self.matchers, method, "/api/v1" + path.split("?")[0])

    def ok(self, method: str, path: str, expect=(200, 201, 204), **kw):
        """A setup call: fails the run unless the status is one of `expect` (also recorded)."""
        res = self.call(method, path, **kw)
        key = self.template(method, path)
        if key:
            self.observed.probes[key].add(res.status_code)
        if res.status_code not in expect:
            raise RuntimeError(f"{method} {path} answered {res.status_code}: {res.text[:500]}")
        return res.json() if res.content and "json" in res.headers.get("content-type", "") else None

    def link_token(self, to: str, kind: str) -> str:
        """The token of the newest unused `<portal_url>/<kind>/<token>` link emailed to `to`."""
        return self.server.link(to, rf"/{kind}/[A-Za-z0-9_-]+", self.seen_links).rsplit("/", 1)[1]

    def probe(self, template: str, method: str, path: str, expect: int, why: str, **kw):
        """A targeted request for the operation `method template`; records what it answered."""
        key = (method, template)
        try:
            res = self.call(method, path, **kw)
        except requests.RequestException as err:
            self.observed.failures.append(f"{method} {template} [{why}]: no answer: {err}")
            return None
        status = res.status_code
        op = self.ops.get(key)
        if op is None:
            self.observed.failures.append(f"probe of an undocumented operation {method} {template}")
            return res
        self.observed.probes[key].add(status)
        if status not in op.documented:
            self.observed.failures.append(
                f"{op.label} [{why}]: undocumented status {status}: {res.text[:300]}"
            )
        elif status != expect:
            self.observed.failures.append(
                f"{op.label} [{why}]: expected {expect}, got {status}: {res.text[:300]}"
            )
        elif status >= 400 and "application/problem+json" not in res.headers.get("content-type", ""):
            self.observed.failures.append(f"{op.label} [{why}]: {status} is not a problem document")
        return res


# ---- the OpenAPI document ----------------------------------------------------------------------


def load_operations(doc: dict) -> dict[tuple[str, str], Op]:
    ops = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            body_type = next(iter(content), None)
            schema = content[body_type]["schema"] if body_type else None
            ops[(method.upper(), path)] = Op(
                method=method.upper(),
                path=path,
                documented={int(s) for s in op["responses"] if s.isdigit()},
                body=schema,
                body_type=body_type,
                params=op.get("parameters", []),
            )
    return ops


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].split("/")[-1]]
    if "allOf" in schema and len(schema["allOf"]) >= 1:
        return resolve(doc, schema["allOf"][0])
    return schema


def minimal_value(doc: dict, schema: dict):
    """The simplest value satisfying `schema`, for requests whose body must merely parse."""
    schema = resolve(doc, schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {
            name: minimal_value(doc, sub)
            for name, sub in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date-time":
        return "2030-01-01T10:00:00Z"
    return "x"


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), template)


# ---- the data the fuzzing works on -----------------------------------------------------------


@dataclass
class Fixture:
    slug: str
    spare_slug: str
    admin_token: str
    admin_id: str
    member_token: str
    spare_member_id: str
    client_token: str
    client_email: str
    client_contact_id: str
    contact_id: str
    file_id: str
    note_id: str
    appointment_id: str
    task_id: str
    document_id: str
    field_id: str
    invoice_id: str
    draft_invoice_id: str
    payment_id: str
    method_ids: list[str]


def set_up(server: Server, api: Api) -> Fixture:
    """The firm and its data, through the API (answers are recorded like targeted requests)."""
    slug, spare_slug = "fuzzfirm", "fuzzspare"
    op = server.operator_token
    for tenant, name, admin, admin_name in [
        (slug, "Fuzz & Partners", "ada@fuzz.example", "Ada Admin"),
        (spare_slug, "Spare LLP", "sam@spare.example", "Sam Spare"),
    ]:
        api.ok(
            "POST",
            "/platform/tenants",
            host=server.host(),
            token=op,
            json_body={"slug": tenant, "name": name, "admin_email": admin, "admin_name": admin_name},
        )

    def set_up_member(address: str) -> None:
        token = api.link_token(address, "firm/setup")
        api.probe(
            "/firm/setup/{token}", "POST", f"/firm/setup/{token}", 422, "password too short",
            slug=slug, json_body={"password": "short"},
        )
        api.ok("POST", f"/firm/setup/{token}", slug=slug, json_body={"password": PASSWORD})

    def sign_in(address: str) -> dict:
        return api.ok(
            "POST", "/firm/session", slug=slug, json_body={"email": address, "password": PASSWORD}
        )

    set_up_member("ada@fuzz.example")
    admin = sign_in("ada@fuzz.example")
    tok = admin["token"]

    def firm(method: str, path: str, body=None, **kw):
        return api.ok(method, f"/firm{path}", slug=slug, token=tok, json_body=body, **kw)

    # A member without administrator rights or the Portal right.
    firm("POST", "/members", {"name": "Max Member", "email": "max@fuzz.example"})
    set_up_member("max@fuzz.example")
    member = sign_in("max@fuzz.example")
    # A member the fuzzer may edit freely (never the one it is signed in as).
    spare = firm("POST", "/members", {"name": "Sid Spare", "email": "sid@fuzz.example"})

    client_email = "tomasz@nowak.example"
    contact = firm("POST", "/contacts", {"name": "Tomasz Nowak", "emails": [client_email]})
    other = firm("POST", "/contacts", {"name": "Olga Other", "emails": ["olga@other.example"]})
    file = firm(
        "POST",
        "/files",
        {
            "number": "2026-001",
            "name": "Nowak v. Harbourline",
            "file_type": "Litigation",
            "status": "open",
            "responsible_lawyer_id": admin["member"]["id"],
            "member_ids": [],
        },
    )
    fid = file["id"]
    firm("POST", f"/files/{fid}/people", {"contact_id": contact["id"], "role": "client", "primary": True})
    firm(
        "PUT",
        f"/contacts/{contact['id']}/portal",
        {"allow": True, "login_email": client_email, "file_ids": [fid]},
    )
    token = api.link_token(client_email, "invitations")
    api.probe(
        "/portal/invitations/{token}", "GET", f"/portal/invitations/{token}", 200, "invitation",
        slug=slug,
    )
    accept = f"/portal/invitations/{token}/accept"
    api.probe(
        "/portal/invitations/{token}/accept", "POST", accept, 422, "terms not accepted",
        slug=slug, json_body={"accept_terms": False, "password": CLIENT_PASSWORD},
    )
    api.ok("POST", accept, slug=slug, json_body={"accept_terms": True, "password": CLIENT_PASSWORD})
    client = api.ok(
        "POST", "/portal/session", slug=slug,
        json_body={"email": client_email, "password": CLIENT_PASSWORD},
    )
    ctok = client["token"]

    note = firm("POST", f"/files/{fid}/notes", {"body": "Call the harbour master.", "shared": True})
    api.ok(
        "POST", f"/portal/files/{fid}/notes", slug=slug, token=ctok,
        json_body={"body": "I have the bill of lading."},
    )
    appointment = firm(
        "POST", f"/files/{fid}/appointments",
        {"title": "Hearing", "starts_at": "2030-03-01T09:00:00Z", "shared": True},
    )
    task = firm("POST", f"/files/{fid}/tasks", {"title": "File the claim", "shared": True})
    document = api.ok(
        "POST", f"/firm/files/{fid}/documents", slug=slug, token=tok,
        files={"file": ("claim.txt", b"The claim, in plain text.\n", "text/plain"), "shared": (None, "true")},
    )
    cfield = firm("POST", "/custom-fields", {"name": "Vessel", "kind": "text"})
    firm("PUT", f"/files/{fid}/custom-fields/{cfield['id']}", {"value": "MV Harbourline"})
    firm("PUT", f"/files/{fid}/custom-fields/{cfield['id']}/portal", {"sharing": "editable"})

    invoice = firm(
        "POST", f"/files/{fid}/invoices",
        {"currency": "USD", "lines": [{"description": "Advice", "amount": 500000}]},
    )
    firm("POST", f"/invoices/{invoice['id']}/finalize")
    firm("PUT", f"/invoices/{invoice['id']}/portal", {"shared": True})
    draft = firm(
        "POST", f"/files/{fid}/invoices",
        {"currency": "USD", "lines": [{"description": "Draft work", "amount": 1000}]},
    )
    payment = firm(
        "POST", f"/files/{fid}/payments",
        {"amount": 10000, "method": "check", "invoice_id": invoice["id"], "shared": True},
    )

    methods = [add_card(api, server, slug, ctok) for _ in range(2)]

    return Fixture(
        slug=slug,
        spare_slug=spare_slug,
        admin_token=tok,
        admin_id=admin["member"]["id"],
        member_token=member["token"],
        spare_member_id=spare["id"],
        client_token=ctok,
        client_email=client_email,
        client_contact_id=contact["id"],
        contact_id=other["id"],
        file_id=fid,
        note_id=note["id"],
        appointment_id=appointment["id"],
        task_id=task["id"],
        document_id=document["id"],
        field_id=cfield["id"],
        invoice_id=invoice["id"],
        draft_invoice_id=draft["id"],
        payment_id=payment["id"],
        method_ids=methods,
    )


def mock_card_token(api: Api, server: Server, slug: str) -> str:
    """The mock provider's token for its always-succeeding test card (what Stripe.js would do)."""
    card = api.http.post(
        f"http://127.0.0.1:{server.port}/mock-psp/tokens",
        headers={"Host": server.host(slug), "Connection": "close"},
        json={"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        timeout=REQUEST_TIMEOUT,
    )
    card.raise_for_status()
    return card.json()["provider_token"]


def add_card(api: Api, server: Server, slug: str, client_token: str) -> str:
    """Saves the mock test card as a payment method of the client; returns the method's id."""
    setup = api.ok("POST", "/portal/payment-methods/setup", slug=slug, token=client_token)
    method = api.ok(
        "POST", "/portal/payment-methods", slug=slug, token=client_token,
        json_body={"setup_id": setup["setup_id"], "provider_token": mock_card_token(api, server, slug)},
    )
    return method["id"]


# ---- schemathesis ----------------------------------------------------------------------------


def toml_string(value: str) -> str:
    # JSON's string escapes are a subset of TOML's basic strings.
    return json.dumps(value)


@dataclass
class Run:
    name: str
    path_regex: str
    host: str
    token: str
    # (operation path regex, parameter, dictionary name)
    bindings: list[tuple[str, str, str]]
    dictionaries: dict[str, list[str]]


def schemathesis_config(run: Run, server: Server) -> str:
    lines = [
        f"base-url = {toml_string(server.api_url)}",
        "[headers]",
        f"Host = {toml_string(run.host)}",
        f"Authorization = {toml_string('Bearer ' + run.token)}",
    ]
    for name, values in run.dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = [{', '.join(toml_string(v) for v in values)}]"]
    for path_regex, parameter, dictionary in run.bindings:
        # Most cases use a real id, so the fuzzed bodies reach the code behind the lookup;
        # the rest are random and exercise the not-found path.
        lines += [
            "[[operations]]",
            f"include-path-regex = {toml_string(path_regex)}",
            f"parameters = {{ {toml_string(parameter)} = {{ dictionary = {toml_string(dictionary)}, probability = 0.8 }} }}",
        ]
    return "\n".join(lines) + "\n"


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis")
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


def run_schemathesis(
    run: Run, server: Server, schema_path: Path, workdir: Path, seed: str, max_examples: int
) -> tuple[bool, Path]:
    config = workdir / f"schemathesis-{run.name}.toml"
    config.write_text(schemathesis_config(run, server))
    cassette = workdir / f"cassette-{run.name}.yaml"
    excluded = [
        arg
        for (method, path) in EXCLUDED
        if re.match(run.path_regex, path)
        for arg in ("--exclude-name", f"{method} {path}")
    ]
    command = [
        *schemathesis_command(),
        "--config-file",
        str(config),
        "run",
        str(schema_path),
        "--include-path-regex",
        run.path_regex,
        *excluded,
        "--checks",
        CHECKS,
        "--phases",
        PHASES,
        "--max-examples",
        str(max_examples),
        *([] if seed == "random" else ["--seed", seed]),
        "--workers",
        "2",
        "--no-shrink",
        "--generation-database",
        "none",
        "--report",
        "vcr",
        "--report-vcr-path",
        str(cassette),
        "--no-color",
        "--output-truncate",
        "true",
    ]
    log(f"schemathesis: {run.name} operations ({run.path_regex}) on Host {run.host}")
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, stdin=subprocess.DEVNULL)
    log(f"schemathesis: {run.name} finished in {time.monotonic() - started:.0f}s, exit {result.returncode}")
    return result.returncode == 0, cassette


def template_regexes(ops: dict[tuple[str, str], Op]):
    """(method, regex, path) per operation, literal segments before parameters, for matching URIs."""
    entries = []
    for method, path in ops:
        regex = "^/api/v1" + re.sub(r"\\\{\w+\\\}", "[^/]*", re.escape(path)) + "$"
        literal = sum(1 for seg in path.split("/") if seg and not seg.startswith("{"))
        entries.append((literal, method, re.compile(regex), path))
    entries.sort(key=lambda e: -e[0])
    return [(m, r, p) for _, m, r, p in entries]


def operation_of(matchers, method: str, uri_path: str) -> tuple[str, str] | None:
    """The documented operation `(method, template)` a request for `/api/v1/...` belongs to."""
    for m, regex, template in matchers:
        if m == method and regex.match(uri_path):
            return (m, template)
    return None


def read_cassette(cassette: Path, ops, observed: Observed) -> int:
    if not cassette.exists():
        observed.failures.append(f"schemathesis wrote no cassette at {cassette}")
        return 0
    with open(cassette) as fh:
        data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    matchers = template_regexes(ops)
    count = 0
    for interaction in data.get("http_interactions") or []:
        request = interaction.get("request") or {}
        response = interaction.get("response") or {}
        status = (response.get("status") or {}).get("code")
        if status is None:
            continue
        path = requests.utils.urlparse(request.get("uri", "")).path
        key = operation_of(matchers, request.get("method", "").upper(), path)
        if key:
            observed.fuzz[key].add(int(status))
            count += 1
    return count


# ---- targeted requests -----------------------------------------------------------------------

# Operations that need no session: their link token or the credentials in the body are all.
PUBLIC = {
    ("POST", "/firm/setup/{token}"),
    ("POST", "/firm/session"),
    ("POST", "/firm/password-reset"),
    ("POST", "/firm/password-reset/{token}"),
    ("GET", "/portal/invitations/{token}"),
    ("POST", "/portal/invitations/{token}/accept"),
    ("POST", "/portal/session"),
    ("POST", "/portal/password-reset"),
    ("POST", "/portal/password-reset/{token}"),
    ("POST", "/portal/verify-email/{token}"),
}


def side(op: Op) -> str:
    return op.path.split("/")[1]


def credentials(op: Op, fx: Fixture, server: Server) -> dict:
    """Host and token of the caller each side's fuzzing uses."""
    if side(op) == "platform":
        return {"host": server.host(), "token": server.operator_token}
    token = fx.admin_token if side(op) == "firm" else fx.client_token
    return {"slug": fx.slug, "token": token}


def valid_body(doc: dict, op: Op) -> dict:
    """Keyword arguments carrying a body that parses (whatever it then means to the handler)."""
    if op.body_type is None:
        return {}
    if op.body_type.startswith("multipart/"):
        return {"files": {"file": ("probe.txt", b"probe\n", "text/plain")}}
    return {"json_body": minimal_value(doc, op.body)}


# Bodies for the unknown-id request where the minimal body would be refused (422) before the
# lookup: a body that passes validation, so the answer is about the id.
UNKNOWN_ID_BODY = {
    ("DELETE", "/platform/tenants/{slug}"): lambda path: {"confirm": path.rsplit("/", 1)[1]},
    ("PUT", "/firm/contacts/{id}/portal"): lambda path: {"allow": False},
    ("PUT", "/firm/files/{id}/custom-fields/{field_id}"): lambda path: {"value": "x"},
    ("PUT", "/portal/files/{id}/custom-fields/{field_id}"): lambda path: {"value": "x"},
    ("PUT", "/firm/files/{id}/custom-fields/{field_id}/portal"): lambda path: {"sharing": "hidden"},
    ("POST", "/firm/files/{id}/custom-fields/portal"): lambda path: {"action": "hide_all"},
    ("POST", "/firm/files/{id}/billing/portal"): lambda path: {
        "invoice_ids": [str(uuid.uuid4())],
        "shared": True,
    },
}

# Operations whose path parameter is an emailed link's token: an unknown one is a dead link.
TOKEN_ROUTES = {key for key in PUBLIC if "{token}" in key[1]}


def generic_probes(api: Api, doc: dict, fx: Fixture, server: Server) -> None:
    """Statuses every operation of a kind can answer: found per operation from the document."""
    for op in api.ops.values():
        creds = credentials(op, fx, server)
        path = fill(op.path, {})
        body = valid_body(doc, op)
        headers = {"Idempotency-Key": secrets.token_hex(8)} if any(
            p["name"] == "Idempotency-Key" for p in op.params
        ) else {}
        api.probe(
            op.path, op.method, path, 404, "unknown host",
            host=f"no-such-firm.localhost:{server.port}", token=creds["token"], **body,
        )
        if op.key not in PUBLIC:
            api.probe(
                op.path, op.method, path, 401, "no credentials",
                **{k: v for k, v in creds.items() if k != "token"}, **body,
            )
            api.probe(
                op.path, op.method, path, 401, "unknown token",
                **{**creds, "token": secrets.token_urlsafe(32)}, **body,
            )
        if op.body_type and op.body_type.startswith("application/json"):
            api.probe(
                op.path, op.method, path, 400, "malformed JSON",
                **creds, data=b'{"unterminated', content_type="application/json",
            )
            api.probe(
                op.path, op.method, path, 415, "not JSON",
                **creds, data=b"plain text", content_type="text/plain",
            )
        if op.body_type and op.body_type.startswith("multipart/"):
            api.probe(
                op.path, op.method, path, 415, "not multipart",
                **creds, data=b"plain text", content_type="text/plain",
            )
            api.probe(
                op.path, op.method, path, 400, "multipart without a boundary",
                **creds, data=b"--x\r\n", content_type="multipart/form-data",
            )
        if "{" in op.path:
            if op.key in UNKNOWN_ID_BODY:
                body = {"json_body": UNKNOWN_ID_BODY[op.key](path)}
            expect = 410 if op.key in TOKEN_ROUTES else 404
            api.probe(
                op.path, op.method, path, expect, "unknown id or token",
                **creds, headers=headers, **body,
            )


def suspension_probes(api: Api, doc: dict, fx: Fixture, server: Server) -> None:
    """A suspended firm answers 403 on every firm and portal operation, signed in or not."""
    operator = {"host": server.host(), "token": server.operator_token}
    api.ok("POST", f"/platform/tenants/{fx.slug}/suspend", **operator)
    try:
        for op in api.ops.values():
            if side(op) == "platform":
                continue
            api.probe(
                op.path, op.method, fill(op.path, {}), 403, "suspended firm",
                **credentials(op, fx, server), **valid_body(doc, op),
            )
    finally:
        api.ok("POST", f"/platform/tenants/{fx.slug}/reactivate", **operator)


def png(size: int) -> bytes:
    """A PNG signature followed by `size` bytes in all: recognised as PNG by its first bytes."""
    head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    return head + b"\x00" * (size - len(head))


def specific_probes(api: Api, doc: dict, fx: Fixture, server: Server) -> None:
    """Statuses particular to an operation: conflicts, validation, rights, rate limits, ...

    Runs before the fuzzing, so that every request here meets the data as `set_up` left it; the
    steps that end sessions use sessions of their own.
    """
    slug, fid = fx.slug, fx.file_id
    admin = {"slug": slug, "token": fx.admin_token}
    client = {"slug": slug, "token": fx.client_token}
    operator = {"host": server.host(), "token": server.operator_token}

    def firm(method, path, expect, why, body=None, *, template, **kw):
        return api.probe(template, method, f"/firm{path}", expect, why, **admin, json_body=body, **kw)

    def at(template, method, path, expect, why, who, body=None, **kw):
        return api.probe(template, method, path, expect, why, **who, json_body=body, **kw)

    # Sign-in with a wrong password (before anything else counts failures from this address).
    at("/firm/session", "POST", "/firm/session", 401, "wrong password", {"slug": slug},
       {"email": "ada@fuzz.example", "password": "not the password"})

    # Platform: a slug taken; a firm deleted.
    at("/platform/tenants", "POST", "/platform/tenants", 409, "slug taken", operator, {
        "slug": slug, "name": "Again", "admin_email": "again@fuzz.example", "admin_name": "Again",
    })
    api.ok("POST", "/platform/tenants", **operator, json_body={
        "slug": "fuzzgone", "name": "Gone LLP", "admin_email": "gil@gone.example", "admin_name": "Gil",
    })
    at("/platform/tenants/{slug}", "DELETE", "/platform/tenants/fuzzgone", 204, "delete", operator,
       {"confirm": "fuzzgone"})

    # Ten wrong operator tokens lock their address out of every operator operation (429, even
    # with the right token). The slug named is not a firm, so an operation that wrongly went
    # through would answer 404, not touch the fixture.
    guesser = {"host": server.host(), "headers": {"X-Forwarded-For": "203.0.113.50"}}
    for _ in range(10):
        api.call("GET", "/platform/tenants", token="not-the-operator-token-at-all", **guesser)
    locked_out = {**guesser, "token": server.operator_token}
    nobody = "/platform/tenants/fuzz-not-a-firm"
    for method, template, path, body in [
        ("GET", "/platform/tenants", "/platform/tenants", None),
        ("POST", "/platform/tenants", "/platform/tenants",
         {"slug": "fuzzlocked", "name": "Locked LLP", "admin_email": "l@locked.example", "admin_name": "L"}),
        ("GET", "/platform/tenants/{slug}", nobody, None),
        ("DELETE", "/platform/tenants/{slug}", nobody, {"confirm": "fuzz-not-a-firm"}),
        ("POST", "/platform/tenants/{slug}/suspend", f"{nobody}/suspend", None),
        ("POST", "/platform/tenants/{slug}/reactivate", f"{nobody}/reactivate", None),
    ]:
        at(template, method, path, 429, "address locked out by wrong operator tokens", locked_out, body)

    # A member without administrator rights.
    member = {"slug": slug, "token": fx.member_token}
    at("/firm/members", "GET", "/firm/members", 403, "not an administrator", member)
    at("/firm/options/client-portal", "GET", "/firm/options/client-portal", 403, "not an administrator", member)

    firm("PATCH", f"/members/{fx.spare_member_id}", 409, "email taken", {"email": "ada@fuzz.example"},
         template="/firm/members/{id}")

    # Sign-out of a session of its own; a password reset (ends the member's sessions).
    session = api.ok("POST", "/firm/session", slug=slug,
                     json_body={"email": "ada@fuzz.example", "password": PASSWORD})
    at("/firm/session", "DELETE", "/firm/session", 204, "sign out", {"slug": slug, "token": session["token"]})
    api.ok("POST", "/firm/password-reset", slug=slug, json_body={"email": "max@fuzz.example"}, expect=(202,))
    token = api.link_token("max@fuzz.example", "firm/reset")
    at("/firm/password-reset/{token}", "POST", f"/firm/password-reset/{token}", 422, "password too short",
       {"slug": slug}, {"password": "short"})
    at("/firm/password-reset/{token}", "POST", f"/firm/password-reset/{token}", 200, "new password",
       {"slug": slug}, {"password": PASSWORD + " again"})

    # Files: a number taken, on create and on change; a client already on the file.
    second = firm("POST", "/files", 201, "open a file", {
        "number": "2026-002", "name": "Second", "responsible_lawyer_id": fx.admin_id,
    }, template="/firm/files")
    firm("POST", "/files", 409, "number taken", {
        "number": "2026-002", "name": "Again", "responsible_lawyer_id": fx.admin_id,
    }, template="/firm/files")
    if second is not None and second.status_code == 201:
        firm("PATCH", f"/files/{second.json()['id']}", 409, "number taken", {"number": "2026-001"},
             template="/firm/files/{id}")
    firm("POST", f"/files/{fid}/people", 200, "already on the file",
         {"contact_id": fx.client_contact_id, "primary": True}, template="/firm/files/{id}/people")

    # Portal access: Olga is invited (resend), accepts, changes her login email (verify);
    # Pat is on the file without Portal access (sharing refused, login change refused).
    olga, olga_email = fx.contact_id, "olga@other.example"
    api.ok("POST", f"/firm/files/{fid}/people", **admin, json_body={"contact_id": olga})
    firm("PUT", f"/contacts/{olga}/portal", 200, "invite", {
        "allow": True, "login_email": olga_email, "file_ids": [fid],
    }, template="/firm/contacts/{id}/portal")
    api.link_token(olga_email, "invitations")
    firm("POST", f"/contacts/{olga}/portal/resend", 200, "resend the invitation",
         template="/firm/contacts/{id}/portal/resend")
    token = api.link_token(olga_email, "invitations")
    api.ok("POST", f"/portal/invitations/{token}/accept", slug=slug,
           json_body={"accept_terms": True, "password": CLIENT_PASSWORD})
    firm("POST", f"/contacts/{olga}/portal/resend", 409, "already active",
         template="/firm/contacts/{id}/portal/resend")
    api.ok("PATCH", f"/firm/contacts/{olga}", **admin,
           json_body={"emails": [olga_email, "olga@new.example"]})
    firm("POST", f"/contacts/{olga}/portal/login-email", 200, "new login email",
         {"login_email": "olga@new.example"}, template="/firm/contacts/{id}/portal/login-email")
    token = api.link_token("olga@new.example", "verify-email")
    at("/portal/verify-email/{token}", "POST", f"/portal/verify-email/{token}", 200, "confirm",
       {"slug": slug})
    api.ok("POST", "/portal/password-reset", slug=slug, json_body={"email": "olga@new.example"},
           expect=(202,))
    token = api.link_token("olga@new.example", "reset")
    reset = f"/portal/password-reset/{token}"
    at("/portal/password-reset/{token}", "POST", reset, 422, "password too short", {"slug": slug},
       {"password": "short"})
    at("/portal/password-reset/{token}", "POST", reset, 200, "new password", {"slug": slug},
       {"password": CLIENT_PASSWORD + " again"})
    pat = api.ok("POST", "/firm/contacts", **admin, json_body={"name": "Pat Plain", "emails": ["pat@plain.example"]})
    api.ok("POST", f"/firm/files/{fid}/people", **admin, json_body={"contact_id": pat["id"]})
    firm("PUT", f"/files/{fid}/portal/clients/{pat['id']}", 409, "no Portal access", {"shared": True},
         template="/firm/files/{id}/portal/clients/{contact_id}")
    firm("POST", f"/contacts/{pat['id']}/portal/login-email", 409, "no Portal account",
         {"login_email": "pat@plain.example"}, template="/firm/contacts/{id}/portal/login-email")
    firm("PUT", f"/files/{fid}/portal/clients/{fx.client_contact_id}", 200, "share the file",
         {"shared": True}, template="/firm/files/{id}/portal/clients/{contact_id}")
    firm("PUT", f"/contacts/{fx.client_contact_id}/portal", 200, "update shared files", {
        "allow": True, "login_email": fx.client_email, "file_ids": [fid],
    }, template="/firm/contacts/{id}/portal")

    # Custom fields: a name taken, on create and on rename; values and sharing set.
    probe_field = firm("POST", "/custom-fields", 201, "define a field", {"name": "Flag", "kind": "text"},
                       template="/firm/custom-fields")
    firm("POST", "/custom-fields", 409, "name taken", {"name": "Flag", "kind": "text"},
         template="/firm/custom-fields")
    if probe_field is not None and probe_field.status_code == 201:
        firm("PATCH", f"/custom-fields/{probe_field.json()['id']}", 409, "name taken",
             {"name": "Vessel"}, template="/firm/custom-fields/{id}")
    field = fx.field_id
    firm("PUT", f"/files/{fid}/custom-fields/{field}", 200, "set a value", {"value": "MV Harbour"},
         template="/firm/files/{id}/custom-fields/{field_id}")
    firm("PUT", f"/files/{fid}/custom-fields/{field}/portal", 200, "share", {"sharing": "editable"},
         template="/firm/files/{id}/custom-fields/{field_id}/portal")
    firm("PUT", f"/files/{fid}/custom-fields/{field}", 422, "no value", {},
         template="/firm/files/{id}/custom-fields/{field_id}")
    firm("PUT", f"/files/{fid}/custom-fields/{field}/portal", 422, "unknown sharing", {"sharing": "loud"},
         template="/firm/files/{id}/custom-fields/{field_id}/portal")
    firm("POST", f"/files/{fid}/custom-fields/portal", 200, "make all editable",
         {"action": "make_all_editable"}, template="/firm/files/{id}/custom-fields/portal")
    at("/portal/files/{id}/custom-fields/{field_id}", "PUT", f"/portal/files/{fid}/custom-fields/{field}",
       200, "client sets a value", client, {"value": "MV Harbourline II"})

    # Items: a private appointment cannot be shown; an empty note.
    private = api.ok("POST", f"/firm/files/{fid}/appointments", **admin,
                     json_body={"title": "Strategy", "starts_at": "2030-04-01T09:00:00Z", "private": True})
    firm("PUT", f"/appointments/{private['id']}/portal", 422, "private appointment", {"shared": True},
         template="/firm/appointments/{id}/portal")
    at("/portal/files/{id}/notes", "POST", f"/portal/files/{fid}/notes", 422, "empty note", client,
       {"body": ""})

    # Options and uploads: the options sent back as they are; uploads over the limits.
    options = api.ok("GET", "/firm/options/client-portal", **admin)
    body = {k: v for k, v in options.items() if k not in ("portal_url", "has_logo")}
    firm("PUT", "/options/client-portal", 200, "unchanged options", body, template="/firm/options/client-portal")
    api.ok("PUT", "/firm/options/client-portal", **admin, json_body={**body, "upload_limit_mb": 1})
    big = {"file": ("big.txt", b"a" * (1024 * 1024 + 4096), "text/plain")}
    firm("POST", f"/files/{fid}/documents", 413, "over the upload limit", files=big,
         template="/firm/files/{id}/documents")
    at("/portal/files/{id}/documents", "POST", f"/portal/files/{fid}/documents", 413,
       "over the upload limit", client, files=big)
    api.ok("PUT", "/firm/options/client-portal", **admin, json_body=body)
    at("/portal/files/{id}/documents", "POST", f"/portal/files/{fid}/documents", 201, "client upload",
       client, files={"file": ("receipt.txt", b"Paid in full.\n", "text/plain")})
    at("/portal/files/{id}/documents", "POST", f"/portal/files/{fid}/documents", 422, "no file field",
       client, files={"title": (None, "Nothing attached")})
    firm("PUT", "/options/client-portal/logo", 413, "logo over 512 KB",
         files={"file": ("logo.png", png(600 * 1024), "image/png")}, template="/firm/options/client-portal/logo")

    # Billing: a draft can be neither paid nor shown; several bills shared at once.
    draft, invoice = fx.draft_invoice_id, fx.invoice_id
    firm("POST", f"/files/{fid}/payments", 409, "payment on a draft",
         {"amount": 100, "method": "check", "invoice_id": draft}, template="/firm/files/{id}/payments")
    firm("PUT", f"/invoices/{draft}/portal", 409, "draft shown", {"shared": True},
         template="/firm/invoices/{id}/portal")
    firm("POST", f"/files/{fid}/billing/portal", 409, "draft shown", {"invoice_ids": [draft], "shared": True},
         template="/firm/files/{id}/billing/portal")
    firm("POST", f"/files/{fid}/billing/portal", 200, "share bills",
         {"invoice_ids": [invoice], "payment_ids": [fx.payment_id], "shared": True},
         template="/firm/files/{id}/billing/portal")
    # Void: a finalized bill with nothing paid on it (the fuzzed voids race the fuzzed payments
    # for the fixture's bills across two workers, so they cannot be relied on for the 200).
    unpaid = api.ok("POST", f"/firm/files/{fid}/invoices", **admin,
                    json_body={"currency": "USD", "lines": [{"description": "Filing fee", "amount": 2500}]})
    api.ok("POST", f"/firm/invoices/{unpaid['id']}/finalize", **admin)
    firm("POST", f"/invoices/{unpaid['id']}/void", 200, "void an unpaid bill",
         template="/firm/invoices/{id}/void")

    # Pay Now: paid; the same key for another amount; online payments unavailable.
    key = secrets.token_hex(8)
    pay = f"/portal/invoices/{invoice}/payments"
    at("/portal/invoices/{id}/payments", "POST", pay, 200, "pay", client,
       {"amount": 100, "payment_method_id": fx.method_ids[0]}, headers={"Idempotency-Key": key})
    at("/portal/invoices/{id}/payments", "POST", pay, 409, "key reused", client,
       {"amount": 200, "payment_method_id": fx.method_ids[0]}, headers={"Idempotency-Key": key})
    setup = api.ok("POST", "/portal/payment-methods/setup", **client)
    card = mock_card_token(api, server, slug)
    billing = api.ok("GET", "/firm/options/billing", **admin)
    api.ok("PUT", "/firm/options/billing", **admin, json_body={"provider": "stripe", "currency": billing["currency"],
                                  "stripe_account_id": "acct_1FuzzFuzzFuzz"})
    try:
        at("/portal/payment-methods/setup", "POST", "/portal/payment-methods/setup", 503,
           "Stripe without keys", client)
        at("/portal/payment-methods", "POST", "/portal/payment-methods", 503,
           "Stripe without keys", client,
           {"setup_id": setup["setup_id"], "provider_token": card})
    finally:
        api.ok("PUT", "/firm/options/billing", **admin,
               json_body={"provider": billing["provider"], "currency": billing["currency"]})

    # Sign-in: a client session of its own signed out; too many failures lock the account.
    session = api.ok("POST", "/portal/session", slug=slug,
                     json_body={"email": fx.client_email, "password": CLIENT_PASSWORD})
    at("/portal/session", "DELETE", "/portal/session", 204, "sign out",
       {"slug": slug, "token": session["token"]})
    statuses = set()
    for _ in range(8):
        res = api.call("POST", "/portal/session", slug=slug,
                       json_body={"email": "nobody@nowhere.example", "password": "wrong password 1"})
        statuses.add(res.status_code)
        if res.status_code == 429:
            break
    api.observed.probes[("POST", "/portal/session")] |= statuses
    if 429 not in statuses:
        api.observed.failures.append(f"POST /portal/session [repeated failures]: no 429 ({sorted(statuses)})")


# ---- the report ------------------------------------------------------------------------------


def coverage_table(ops: dict[tuple[str, str], Op], observed: Observed) -> list[str]:
    """Prints documented versus observed statuses; returns the unexplained gaps."""
    gaps = []
    rows = []
    for key in sorted(ops, key=lambda k: (k[1], k[0])):
        op = ops[key]
        fuzz = observed.fuzz.get(key, set())
        probes = observed.probes.get(key, set())
        seen = fuzz | probes
        missing = sorted(op.documented - seen)
        explained = [s for s in missing if (op.method, op.path, s) in UNREACHED]
        unexplained = [s for s in missing if s not in explained]
        undocumented = sorted(s for s in seen if s not in op.documented)
        for s in unexplained:
            gaps.append(f"{op.label}: documented {s} never observed")
        rows.append(
            (
                op.label,
                ",".join(map(str, sorted(op.documented))),
                ",".join(map(str, sorted(fuzz))) or "-",
                ",".join(map(str, sorted(probes - fuzz))) or "-",
                ",".join(map(str, unexplained)) + ("" if not explained else f" (explained: {','.join(map(str, explained))})")
                + (f" UNDOCUMENTED {undocumented}" if undocumented else ""),
            )
        )
    header = ("operation", "documented", "fuzzing", "targeted", "missing")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    for (method, path, status) in UNREACHED:
        op = ops.get((method, path))
        if op is None or status not in op.documented:
            gaps.append(f"UNREACHED lists {method} {path} {status}, which is not documented")
    documented = sum(len(op.documented) for op in ops.values())
    reached = sum(len(op.documented & (observed.fuzz.get(k, set()) | observed.probes.get(k, set()))) for k, op in ops.items())
    print(
        f"\n{len(ops)} operations, {documented} documented statuses, {reached} observed "
        f"({len(UNREACHED)} explained as unreachable here, {len(gaps)} unexplained gaps)"
    )
    for (method, path, status), why in sorted(UNREACHED.items()):
        print(f"  unreached {method} {path} {status}: {why}")
    return gaps


# ---- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.environ.get("PORTICO_BIN", REPO / "target" / "debug" / "portico"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--seed", default=os.environ.get("PORTICO_FUZZ_SEED", DEFAULT_SEED),
                        help="schemathesis seed, or `random`")
    parser.add_argument("--max-examples", type=int, default=MAX_EXAMPLES,
                        help="fuzzing-phase test cases per operation")
    parser.add_argument("--only", choices=["portal", "firm", "platform"], action="append",
                        help="fuzz only these sides (repeatable; the coverage check is skipped)")
    args = parser.parse_args()

    binary = Path(args.binary)
    if not binary.exists():
        print(f"portico binary not found at {binary}; run `cargo build -p portico-web`", file=sys.stderr)
        return 1

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="portico-fuzz-"))
    passed, failed = 0, 0

    def result(ok: bool, name: str) -> None:
        nonlocal passed, failed
        print(f"# {'ok' if ok else 'not ok'} - {name}")
        passed, failed = passed + ok, failed + (not ok)

    server = None
    try:
        server = Server(binary, workdir)
        log(f"portico listening on port {server.port} (work dir {workdir})")
        doc_response = requests.get(
            f"http://127.0.0.1:{server.port}/api/openapi.json",
            headers={"Host": server.host()},
            timeout=REQUEST_TIMEOUT,
        )
        doc_response.raise_for_status()
        doc = doc_response.json()
        schema_path = workdir / "openapi.json"
        schema_path.write_text(json.dumps(doc))
        ops = load_operations(doc)
        observed = Observed()
        api = Api(server, ops, observed)

        fx = set_up(server, api)
        log("fixture ready: firm, members, client, file, items, invoice, payment methods")

        generic_probes(api, doc, fx, server)
        specific_probes(api, doc, fx, server)

        for (method, path), why in EXCLUDED.items():
            log(f"not fuzzed: {method} {path} ({why})")
        firm_host = server.host(fx.slug)
        all_methods = fx.method_ids
        runs = [
            Run(
                name="portal",
                path_regex="^/portal/",
                host=firm_host,
                token=fx.client_token,
                bindings=[
                    (r"^/portal/files/\{id\}", "path.id", "file"),
                    (r"\{field_id\}", "path.field_id", "field"),
                    (r"^/portal/documents/\{id\}", "path.id", "document"),
                    (r"^/portal/invoices/\{id\}", "path.id", "invoice"),
                    (r"^/portal/invoices/\{id\}/payments", "body.payment_method_id", "method"),
                    (r"^/portal/payment-methods/\{id\}", "path.id", "method"),
                ],
                dictionaries={
                    "file": [fx.file_id],
                    "field": [fx.field_id],
                    "document": [fx.document_id],
                    "invoice": [fx.invoice_id],
                    "method": all_methods,
                },
            ),
            Run(
                name="firm",
                path_regex="^/firm/",
                host=firm_host,
                token=fx.admin_token,
                bindings=[
                    (r"^/firm/files/\{id\}", "path.id", "file"),
                    (r"\{contact_id\}", "path.contact_id", "contact"),
                    (r"\{field_id\}", "path.field_id", "field"),
                    (r"^/firm/contacts/\{id\}", "path.id", "contact"),
                    (r"^/firm/members/\{id\}", "path.id", "member"),
                    (r"^/firm/documents/\{id\}", "path.id", "document"),
                    (r"^/firm/notes/\{id\}", "path.id", "note"),
                    (r"^/firm/appointments/\{id\}", "path.id", "appointment"),
                    (r"^/firm/tasks/\{id\}", "path.id", "task"),
                    (r"^/firm/invoices/\{id\}", "path.id", "invoice"),
                    (r"^/firm/payments/\{id\}", "path.id", "payment"),
                    (r"^/firm/custom-fields/\{id\}", "path.id", "field"),
                    (r"^/firm/files/\{id\}/people$", "body.contact_id", "contact"),
                    (r"^/firm/files/\{id\}/payments$", "body.invoice_id", "invoice"),
                ],
                dictionaries={
                    "file": [fx.file_id],
                    "contact": [fx.contact_id, fx.client_contact_id],
                    "field": [fx.field_id],
                    "member": [fx.spare_member_id],
                    "document": [fx.document_id],
                    "note": [fx.note_id],
                    "appointment": [fx.appointment_id],
                    "task": [fx.task_id],
                    "invoice": [fx.invoice_id, fx.draft_invoice_id],
                    "payment": [fx.payment_id],
                },
            ),
            Run(
                name="platform",
                path_regex="^/platform/",
                host=server.host(),
                token=server.operator_token,
                bindings=[
                    (r"^/platform/tenants/\{slug\}", "path.slug", "slug"),
                    (r"^/platform/tenants/\{slug\}$", "body.confirm", "slug"),
                ],
                dictionaries={"slug": [fx.spare_slug]},
            ),
        ]
        selected = [r for r in runs if not args.only or r.name in args.only]
        for run in selected:
            ok, cassette = run_schemathesis(
                run, server, schema_path, workdir, args.seed, args.max_examples
            )
            recorded = read_cassette(cassette, ops, observed)
            log(f"{run.name}: {recorded} requests recorded")
            result(ok, f"schemathesis {run.name} operations")
            if server.proc.poll() is not None:
                raise RuntimeError(f"portico exited during fuzzing ({server.proc.returncode})")

        suspension_probes(api, doc, fx, server)

        probe_failures = observed.failures
        for failure in probe_failures:
            print(f"  targeted request: {failure}")
        result(not probe_failures, "targeted requests answer as documented")

        if not args.only:
            gaps = coverage_table(ops, observed)
            for gap in gaps:
                print(f"  {gap}")
            result(not gaps, "every documented status is observed")

        panics = [line for line in server.logs().splitlines() if "panicked" in line]
        for line in panics[:20]:
            print(f"  server: {line}")
        result(not panics, "the server log has no panic")
    except Exception as err:  # noqa: BLE001 - any setup failure is one failed test with its cause
        result(False, f"fuzz run aborted: {err}")
        if server is not None:
            print("\n".join(server.logs().splitlines()[-40:]))
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    log(f"fuzz run took {time.monotonic() - started:.0f}s")
    print(f"# pass {passed}")
    print(f"# fail {failed}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""CLI of the `serving` room: ``serve``, ``keys create|revoke``, ``pii rotate``,
``decisions verify``, ``approvals request|approve|refuse|show`` (one module-level Typer app,
joined by ``pipelines.cli``), and ``consume_approval``: how the other rooms' commands
(``promote --force``, ``ledger sell --liquidation``) cite an approved maker-checker request.

Heavy imports (uvicorn, FastAPI, SQLAlchemy) happen inside the command bodies so that
``creditdesk --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from creditdesk.errors import InputError

app = typer.Typer()
keys = typer.Typer(help="API keys of the decision API.", no_args_is_help=True)
pii = typer.Typer(help="Encrypted applicant PII (AES-256-GCM) at rest.", no_args_is_help=True)
decisions = typer.Typer(help="The decision journal (append-only, hash-chained).", no_args_is_help=True)
approvals = typer.Typer(
    help="Maker-checker: request a critical operation with one API key, approve it with another.",
    no_args_is_help=True,
)
app.add_typer(approvals, name="approvals")
app.add_typer(keys, name="keys")
app.add_typer(pii, name="pii")
app.add_typer(decisions, name="decisions")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (1-65535)")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (1-32)")] = 1,
    instruments: Annotated[
        Path | None,
        typer.Option(
            help="instruments.parquet of the population the champion was trained on "
            "(default: CREDITDESK_INSTRUMENTS_PATH, else var/demo/raw/instruments.parquet)"
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain) to serve HTTPS; needs --ssl-keyfile")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="PEM private key of --ssl-certfile")] = None,
) -> None:
    """Serve the decision API with uvicorn (OpenAPI at /docs); HTTPS with --ssl-certfile/--ssl-keyfile.

    Models: the ``champion`` aliases of the MLflow registry at MLFLOW_TRACKING_URI.
    """
    if not 1 <= port <= 65535:
        raise InputError(f"must be between 1 and 65535, got {port}", field="--port")
    if not 1 <= workers <= 32:
        raise InputError(f"must be between 1 and 32, got {workers}", field="--workers")
    if instruments is not None:
        if not instruments.is_file():
            raise InputError(f"no such file: {instruments}", field="--instruments")
        os.environ["CREDITDESK_INSTRUMENTS_PATH"] = str(instruments.resolve())  # workers inherit it
    tls = check_tls(ssl_certfile, ssl_keyfile)
    run_server(host, port, workers, tls)


@keys.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="onboarding | analyst | operations | admin")],
    label: Annotated[str, typer.Option(help="who or what uses the key")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Create an API key; the key is printed once, as the last line of stdout."""
    from serving.config import get_serving_settings
    from serving.db import get_engine, migrate
    from serving.keys import create_key, parse_role

    parsed = parse_role(role)
    settings = get_serving_settings()
    with database_errors(settings.database_url):
        migrate(settings.database_url)
        created = create_key(get_engine(settings.database_url), parsed, label)
    if as_json:
        print(json.dumps({"key_id": created.key_id, "role": created.role.value, "token": created.token}))
        return
    print(f"key id: {created.key_id}  role: {created.role.value}  (store the key now; it is not kept)")
    print(created.token)


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the 12-hex-digit key id")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Revoke an API key (servers stop accepting it within api_key_cache_seconds)."""
    from serving.config import get_serving_settings
    from serving.db import get_engine, migrate
    from serving.keys import revoke_key

    settings = get_serving_settings()
    with database_errors(settings.database_url):
        migrate(settings.database_url)
        revoked = revoke_key(get_engine(settings.database_url), key_id)
    if not revoked:
        raise InputError(f"no live key with id {key_id!r}", field="key_id")
    print(json.dumps({"key_id": key_id, "revoked": True}) if as_json else f"revoked {key_id}")


@decisions.command("verify")
def decisions_verify(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Verify the decision journal: exit 0 when intact, 1 when a row was edited or deleted."""
    code = verify_journal(as_json)
    if code:
        raise typer.Exit(code)


@decisions.command("replay")
def decisions_replay(
    decision_id: Annotated[str, typer.Argument(help="the 32-hex-digit decision id")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Recompute a stored decision with the models and policy that made it (from the
    registry); exit 0 when every field is equal bit for bit, 1 when any differs."""
    code = replay_decision(decision_id, as_json)
    if code:
        raise typer.Exit(code)


@pii.command("rotate")
def pii_rotate(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Re-seal every PII row under the active key (CREDITDESK_PII_ACTIVE_KEY_ID).

    List old and new keys in CREDITDESK_PII_KEYS, make the new one active, run this,
    then drop the old key from the list.
    """
    from serving.config import get_serving_settings
    from serving.crypto import load_keyring
    from serving.db import get_engine, migrate
    from serving.pii import PiiVault

    settings = get_serving_settings()
    keyring = load_keyring(settings.pii_keys, settings.pii_active_key_id, settings.pii_key_file)
    with database_errors(settings.database_url):
        migrate(settings.database_url)
        vault = PiiVault(get_engine(settings.database_url), keyring)
        rotated = vault.rotate()
        counts = vault.count_by_key()
    result = {"rotated": rotated, "active_key_id": keyring.active_key_id, "rows_by_key": counts}
    print(json.dumps(result) if as_json else f"re-sealed {rotated} rows; rows by key: {counts}")


def verify_journal(as_json: bool) -> int:
    """Walk the decision journal's hash chain; 0 when intact, 1 when any row was edited or deleted."""
    from sqlalchemy import func, inspect, select
    from sqlalchemy.exc import OperationalError

    from creditdesk.settings import get_settings
    from ledger.journal import DecisionJournal
    from ledger.storage import journal, make_engine

    url = get_settings().database_url
    try:  # read-only: verifying must work on a read-only snapshot and must never change it
        engine = make_engine(url, read_only=True)
    except FileNotFoundError as exc:
        raise InputError(str(exc), field="database") from None
    try:
        if not inspect(engine).has_table(journal.name):
            raise InputError(f"{_redact(url)} holds no decision journal", field="database")
        breaks = DecisionJournal(engine).verify()
        with engine.connect() as conn:
            rows = int(conn.execute(select(func.count()).select_from(journal)).scalar_one())
    except OperationalError as exc:
        raise InputError(f"cannot read {_redact(url)}: {exc.orig}", field="database") from None
    finally:
        engine.dispose()
    found = [{"seq": b.seq, "decision_id": b.decision_id, "problem": b.problem} for b in breaks]
    report = {"ok": not breaks, "rows": rows, "breaks": found}
    if as_json:
        print(json.dumps(report))
    elif breaks:
        for item in found:
            print(f"BROKEN seq {item['seq']} decision {item['decision_id']}: {item['problem']}")
        print(f"decision journal: {len(breaks)} break(s) in {rows} rows")
    else:
        print(f"decision journal intact: {rows} rows, hash chain verified")
    return 0 if not breaks else 1


def replay_decision(decision_id: str, as_json: bool) -> int:
    """Replay one journalled decision read-only: 0 equal, 1 different, InputError when gone."""
    from ledger.journal import DecisionJournal
    from ledger.storage import make_engine
    from serving.config import get_serving_settings
    from serving.decide import replay_stored
    from serving.replay import Replayer, ReplayUnavailable
    from serving.runtime import NotReady, Runtime, registry_version_loader

    if not (len(decision_id) == 32 and all(c in "0123456789abcdef" for c in decision_id)):
        raise InputError(f"must be 32 lowercase hex digits, got {decision_id[:40]!r}", field="decision_id")
    settings = get_serving_settings()
    try:
        engine = make_engine(settings.database_url, read_only=True)
    except FileNotFoundError as exc:
        raise InputError(str(exc), field="database") from None
    try:
        with database_errors(settings.database_url):
            entry = DecisionJournal(engine).get(decision_id)
            if entry is None:
                raise InputError(f"no decision {decision_id} in the journal", field="decision_id")
            runtime = Runtime(_no_champion, version_loader=registry_version_loader(settings.tracking_uri))
            replayed = replay_stored(entry.payload, Replayer(engine, runtime), None)
    except (ReplayUnavailable, NotReady) as exc:
        raise InputError(str(exc), field="replay") from None
    finally:
        engine.dispose()
    differ = [name for name, f in replayed["fields"].items() if not f["equal"]]
    same = not differ and replayed["features_match"]
    if as_json:
        print(json.dumps({"decision_id": decision_id, "same_numbers": same, **replayed}))
    else:
        for name, f in replayed["fields"].items():
            mark = "=" if f["equal"] else "DIFFERS"
            print(f"{name:<24} {mark:<8} stored {f['stored']!r}  replayed {f['replayed']!r}")
        features = "=" if replayed["features_match"] else "DIFFER"
        print(f"features {features}; versions {entry.payload['versions']}")
        print(
            f"decision {decision_id}: {'replayed bit for bit' if same else 'DIFFERS: ' + ', '.join(differ)}"
        )
    return 0 if same else 1


def _no_champion() -> Any:
    raise RuntimeError("replay loads recorded versions only")


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """A database that cannot be opened or written (read-only file, missing folder rights,
    full disk) is an environment the caller chose: one line and exit 2, not a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as exc:
        raise InputError(f"cannot use {_redact(url)}: {exc.orig}", field="database") from None


def _redact(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def check_tls(certfile: Path | None, keyfile: Path | None) -> dict[str, str]:
    """uvicorn's TLS options, after checking the pair loads (a bad file: exit 2, one line)."""
    import ssl

    if certfile is None and keyfile is None:
        return {}
    if certfile is None or keyfile is None:
        raise InputError("give both --ssl-certfile and --ssl-keyfile", field="--ssl-certfile")
    for path, name in ((certfile, "--ssl-certfile"), (keyfile, "--ssl-keyfile")):
        if not path.is_file():
            raise InputError(f"no such file: {path}", field=name)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InputError(
            f"{certfile} / {keyfile} is not a usable certificate and key: {exc}", field="--ssl-certfile"
        ) from None
    return {"ssl_certfile": str(certfile.resolve()), "ssl_keyfile": str(keyfile.resolve())}


def run_server(host: str, port: int, workers: int, tls: dict[str, str] | None = None) -> None:
    """Prepare shared state once (schema, PII key file), then hand over to uvicorn.

    Migrations and the default PII key are created here, before any worker starts, so
    workers never race each other to create tables or keys.
    """
    import tempfile

    import uvicorn

    from ledger.storage import make_engine
    from margin.storage import migrate as migrate_ledger
    from serving.config import get_serving_settings
    from serving.crypto import load_keyring
    from serving.db import dispose_engines, migrate
    from serving.logs import log_config

    settings = get_serving_settings()
    with database_errors(settings.database_url):
        migrate(settings.database_url)
        ledger_engine = make_engine(settings.database_url)
        migrate_ledger(ledger_engine)  # the journal and the books, before workers race to do it
        ledger_engine.dispose()
    load_keyring(settings.pii_keys, settings.pii_active_key_id, settings.pii_key_file)
    dispose_engines()  # no pooled connection may cross into forked workers
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-", dir=settings.var_dir)
    uvicorn.run(
        "serving.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(settings.log_level),
        access_log=False,
        server_header=False,
        **(tls or {}),  # type: ignore[arg-type]
    )


# ---- maker-checker ------------------------------------------------------------------------

KEY_OPT = typer.Option(
    ..., "--key", envvar="CREDITDESK_API_KEY", help="your API key (admin or operations): who you are"
)


@contextlib.contextmanager
def _approvals() -> Iterator[Any]:
    """The approvals book on the configured database, its audit on the journal's chain."""
    from serving.app import journal_writer
    from serving.approvals import Approvals
    from serving.config import get_serving_settings
    from serving.db import dispose_engines, get_engine, migrate

    settings = get_serving_settings()
    with database_errors(settings.database_url):
        migrate(settings.database_url)
        writer = journal_writer(settings.database_url)
        try:
            yield Approvals(get_engine(settings.database_url), writer, _no_executor)
        finally:
            writer.journal.engine.dispose()
            dispose_engines()


def _no_executor(approval: Any) -> dict[str, Any]:
    raise InputError("key rotation executes in the service (POST /v1/approvals/{id}/approve)", field="kind")


def _staff(token: str) -> str:
    """The key id of a live admin/operations key, or exit 2."""
    from serving.config import get_serving_settings
    from serving.db import get_engine
    from serving.keys import KeyStore, Role

    principal = KeyStore(get_engine(get_serving_settings().database_url)).authenticate(token)
    if principal is None:
        raise InputError("unknown or revoked API key", field="--key")
    if principal.role not in (Role.admin, Role.operations):
        raise InputError(f"a {principal.role.value} key cannot make or check requests", field="--key")
    return principal.key_id


def _print_approval(found: Any, as_json: bool) -> None:
    data = dict(found.__dict__)
    if as_json:
        print(json.dumps(data, sort_keys=True))
    else:
        print(f"{found.approval_id} {found.kind} {found.state} subject={json.dumps(found.subject)}")


def _subject(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InputError(f"expected NAME=VALUE, got {pair!r}", field="--subject")
        out[name] = value
    return out


@approvals.command("request")
def approvals_request(
    kind: Annotated[str, typer.Option(help="policy_change | forced_promotion | manual_liquidation")],
    reason: Annotated[str, typer.Option(help="why (recorded in the audit log)")],
    subject: Annotated[list[str], typer.Option(help="NAME=VALUE, repeatable: what exactly")] = [],  # noqa: B006
    key: str = KEY_OPT,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Request a critical operation (you are the maker); another key must approve it."""
    from serving.approvals import KINDS

    if kind not in KINDS:
        raise InputError(f"must be one of {list(KINDS)}, got {kind!r}", field="--kind")
    if not reason.strip():
        raise InputError("must not be empty", field="--reason")
    with _approvals() as book:
        _print_approval(book.request(kind, _subject(subject), reason, _staff(key)), as_json)


def _check(approval_id: str, key: str, approve: bool, note: str, as_json: bool) -> None:
    from serving.approvals import MakerCannotCheck, NotPending

    with _approvals() as book:
        try:
            _print_approval(book.decide(approval_id, _staff(key), approve, note), as_json)
        except KeyError:
            raise InputError(f"no request {approval_id}", field="approval_id") from None
        except (MakerCannotCheck, NotPending) as exc:
            raise InputError(
                str(exc), field="--key" if isinstance(exc, MakerCannotCheck) else "approval_id"
            ) from None


@approvals.command("approve")
def approvals_approve(
    approval_id: str,
    key: str = KEY_OPT,
    note: Annotated[str, typer.Option(help="what you checked")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Approve a pending request (you are the checker: never the maker)."""
    _check(approval_id, key, True, note, as_json)


@approvals.command("refuse")
def approvals_refuse(
    approval_id: str,
    key: str = KEY_OPT,
    note: Annotated[str, typer.Option(help="why not")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Refuse a pending request (you are the checker: never the maker)."""
    _check(approval_id, key, False, note, as_json)


@approvals.command("show")
def approvals_show(approval_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One request: kind, subject, state, maker, checker."""
    with _approvals() as book:
        found = book.get(approval_id)
        if found is None:
            raise InputError(f"no request {approval_id}", field="approval_id")
        _print_approval(found, as_json)


@contextlib.contextmanager
def consume_approval(
    approval_id: str | None, kind: str, subject: dict[str, Any], option: str
) -> Iterator[None]:
    """Run a critical operation only under an approved request of ``kind`` for ``subject``
    (marked executed first, audited; a failure inside is audited too). Exit 2 otherwise."""
    from serving.approvals import NotApproved

    if not approval_id:
        raise InputError(f"a {kind.replace('_', ' ')} needs an approved maker-checker request", field=option)
    with _approvals() as book:
        try:
            book.consume(approval_id, kind, subject, by="cli")
        except NotApproved as exc:
            raise InputError(str(exc), field=option) from None
        try:
            yield
        except BaseException as exc:
            book.record_failure(approval_id, f"{type(exc).__name__}: {exc}")
            raise

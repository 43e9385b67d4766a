"""Maker-checker enforced where the critical operations run (issue 16, scope 7).

A forced promotion (``promote --force``), a manual liquidation (``ledger sell
--liquidation``) and a policy change (the service loading a policy other than the one in
force) each run only under a request of their kind and subject approved by a second key;
the request is used once (approved -> executed), and every step, a failed execution
included, is an entry of the hash-chained journal. The maker approving their own request
is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ledger.journal import DecisionJournal
from ledger.storage import make_engine
from tests.conftest import run_cli


def _keys(var_dir: Path) -> tuple[str, str]:
    from serving.config import get_serving_settings
    from serving.db import get_engine, migrate
    from serving.keys import create_key

    url = get_serving_settings().database_url
    migrate(url)
    return create_key(get_engine(url), "operations").token, create_key(get_engine(url), "admin").token


def _request(kind: str, subject: list[str], key: str, capsys: pytest.CaptureFixture[str]) -> str:
    args = ["approvals", "request", "--kind", kind, "--reason", "test", "--key", key, "--json"]
    for pair in subject:
        args += ["--subject", pair]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    return str(json.loads(out.strip().splitlines()[-1])["approval_id"])


def _journal() -> DecisionJournal:
    from serving.config import get_serving_settings

    return DecisionJournal(make_engine(get_serving_settings().database_url))


def test_the_maker_cannot_approve_their_own_request_on_the_cli(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maker, checker = _keys(var_dir)
    request_id = _request("manual_liquidation", ["customer=1", "instrument=2", "quantity=10"], maker, capsys)
    code, _, err = run_cli(["approvals", "approve", request_id, "--key", maker], capsys)
    assert code == 2 and "cannot approve" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run_cli(["approvals", "show", request_id, "--json"], capsys)
    assert code == 0 and '"state": "pending"' in out
    code, out, err = run_cli(["approvals", "approve", request_id, "--key", checker, "--json"], capsys)
    assert code == 0 and '"state": "approved"' in out, err
    journal = _journal()
    for step in ("requested", "approved"):
        assert journal.get_by_application(f"audit:{request_id}:{step}") is not None
    assert journal.verify() == []


def test_a_manual_liquidation_needs_an_approved_request_for_exactly_that_sale(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maker, checker = _keys(var_dir)
    sale = ["ledger", "sell", "--customer", "1", "--instrument", "2", "--quantity", "10", "--price", "100"]
    sale += ["--op", "liq-1", "--liquidation"]
    code, _, err = run_cli(sale, capsys)
    assert code == 2 and "--approval" in err and "needs an approved" in err

    other = _request("manual_liquidation", ["customer=1", "instrument=2", "quantity=99"], maker, capsys)
    assert run_cli(["approvals", "approve", other, "--key", checker], capsys)[0] == 0
    code, _, err = run_cli([*sale, "--approval", other], capsys)
    assert code == 2 and "not {" in err  # approved for 99 shares, not 10
    code, out, _ = run_cli(["approvals", "show", other, "--json"], capsys)
    assert '"state": "approved"' in out  # a refused citation does not use the request up

    pending = _request("manual_liquidation", ["customer=1", "instrument=2", "quantity=10"], maker, capsys)
    code, _, err = run_cli([*sale, "--approval", pending], capsys)
    assert code == 2 and "pending, not approved" in err

    assert run_cli(["approvals", "approve", pending, "--key", checker], capsys)[0] == 0
    code, _, err = run_cli([*sale, "--approval", pending], capsys)
    # the approval let the sale through to the ledger, which refuses it (customer 1 has no
    # facility here): the request is used and the failure audited
    assert code == 2, err
    journal = _journal()
    assert journal.get_by_application(f"audit:{pending}:executed") is not None
    assert journal.get_by_application(f"audit:{pending}:failed") is not None
    code, _, err = run_cli([*sale, "--approval", pending], capsys)
    assert code == 2 and "executed, not approved" in err  # used once
    assert journal.verify() == []


def test_a_forced_promotion_needs_an_approved_request_naming_the_version(
    registered_champion: Path, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(registered_champion, var_dir, dirs_exist_ok=True)
    maker, checker = _keys(var_dir)
    force = ["promote", "--force", "--reason", "test override", "--version", "1", "--json"]
    code, _, err = run_cli(force, capsys)
    assert code == 2 and "needs an approved maker-checker request" in err

    wrong = _request("forced_promotion", ["pd_version=2"], maker, capsys)
    assert run_cli(["approvals", "approve", wrong, "--key", checker], capsys)[0] == 0
    code, _, err = run_cli([*force, "--approval", wrong], capsys)
    assert code == 2 and "pd_version" in err

    right = _request("forced_promotion", ["pd_version=1"], maker, capsys)
    refused = run_cli(["approvals", "refuse", right, "--key", checker, "--note", "no"], capsys)
    assert refused[0] == 0
    code, _, err = run_cli([*force, "--approval", right], capsys)
    assert code == 2 and "refused, not approved" in err

    right = _request("forced_promotion", ["pd_version=1"], maker, capsys)
    assert run_cli(["approvals", "approve", right, "--key", checker], capsys)[0] == 0
    code, out, err = run_cli([*force, "--approval", right], capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["promoted"] is True, err
    assert _journal().get_by_application(f"audit:{right}:executed") is not None


def test_the_service_loads_a_new_policy_only_under_an_approved_policy_change(
    make_live: Any, body: dict[str, Any]
) -> None:
    from pricing.policy import load_policy, policy_from_mapping
    from serving.runtime import Loaded

    h = make_live()
    runtime = h.app.state.services.runtime
    made = h.client.post("/v1/decisions", json=body, headers=h.key("onboarding"))
    assert made.status_code == 201, made.text  # the policy in force is now recorded
    current = runtime.require()
    changed = policy_from_mapping({**load_policy().model_dump(mode="json"), "version": "2026.9.9"})
    versions = {**current.versions, "policy": changed.version, "policy_hash": changed.policy_hash}
    runtime._loader = lambda: Loaded(current.champions, changed, versions, current.instruments)
    with pytest.raises(PermissionError, match="policy_change"):
        runtime.load()
    assert runtime.require().policy.policy_hash == current.policy.policy_hash  # still the old one

    maker, checker = h.key("operations"), h.key("admin")
    request = {"kind": "policy_change", "subject": {"policy_hash": changed.policy_hash}, "reason": "rates"}
    approval_id = h.client.post("/v1/approvals", json=request, headers=maker).json()["approval_id"]
    own = h.client.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=maker)
    assert own.status_code == 403
    with pytest.raises(PermissionError):
        runtime.load()  # pending is not approved
    assert h.client.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=checker).status_code == 200
    runtime.load()
    assert runtime.require().policy.policy_hash == changed.policy_hash
    done = h.client.get(f"/v1/approvals/{approval_id}", headers=checker).json()
    assert done["state"] == "executed"
    assert _journal_of(h).get_by_application(f"audit:{approval_id}:executed") is not None


def _journal_of(h: Any) -> DecisionJournal:
    return DecisionJournal(make_engine(h.app.state.services.settings.database_url))

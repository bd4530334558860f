"""The telehub command's arguments, token minting and refusals (no servers started here)."""

from __future__ import annotations

import json

import jwt
import pytest

from embedded.cli import main
from embedded.local import STATE_FILE, PortInUse


def write_running_state(state_dir, **overrides) -> None:
    state = {
        "pid": 1,
        "gateway_url": "http://127.0.0.1:9999",
        "moto_url": "http://127.0.0.1:9998",
        "region": "eu-west-1",
        "token_issuer": "http://127.0.0.1:9999",
        "token_audience": "telehub-local",
        "queue_urls": {"measurements": "http://q", "measurements-dlq": "http://dlq"},
        **overrides,
    }
    state_dir.mkdir(exist_ok=True)
    (state_dir / STATE_FILE).write_text(json.dumps(state))


def test_exit_after_demo_needs_the_demo(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["local", "--exit-after-demo"])
    assert exited.value.code == 2
    assert "--exit-after-demo needs --demo" in capsys.readouterr().err


def test_a_token_is_minted_for_the_running_systems_issuer(tmp_path, capsys):
    # Given a running system recorded in the state directory, on a non-default port
    write_running_state(tmp_path, token_issuer="http://127.0.0.1:9999")
    # When a clinician token is minted
    assert (
        main(["token", "--role", "clinician", "--org", "265161000016009", "--state-dir", str(tmp_path)]) == 0
    )
    # Then stdout is just the token, issued by that system's issuer
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "http://127.0.0.1:9999" and claims["telehub_role"] == "clinician"
    assert claims["telehub_org"] == "265161000016009" and claims["sub"] == "dev-clinician"


def test_a_gp_token_names_the_practice_by_its_ydernummer(tmp_path, capsys):
    # Given no running system; When a token is minted for a GP practice by its 6-digit ydernummer
    assert main(["token", "--role", "clinician", "--org", "123456", "--state-dir", str(tmp_path)]) == 0
    # Then the token names the practice
    token = capsys.readouterr().out.strip()
    assert jwt.decode(token, options={"verify_signature": False})["telehub_org"] == "123456"


def test_without_a_running_system_the_token_is_for_the_default_port(tmp_path, capsys):
    assert main(["token", "--role", "system", "--ttl-minutes", "5", "--state-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "no running `telehub local`" in captured.err
    assert (
        jwt.decode(captured.out.strip(), options={"verify_signature": False})["iss"]
        == "http://127.0.0.1:8080"
    )


def test_a_logistics_token_without_an_organisation_is_refused_with_a_reason(tmp_path, capsys):
    assert main(["token", "--role", "logistics", "--state-dir", str(tmp_path)]) == 2
    assert "needs an organisation" in capsys.readouterr().err


def test_a_citizen_token_is_minted_with_the_cpr_number_and_one_without_is_refused(tmp_path, capsys):
    # Given no running system; When a citizen's token is minted for a test CPR number
    assert main(["token", "--role", "citizen", "--cpr", "2512489996", "--state-dir", str(tmp_path)]) == 0
    # Then it is a citizen's token carrying the CPR number in the national login's claim
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["telehub_role"] == "citizen"
    assert claims["dk:gov:saml:attribute:CprNumberIdentifier"] == "2512489996"
    # And without a CPR number none is minted, with the reason
    assert main(["token", "--role", "citizen", "--state-dir", str(tmp_path)]) == 2
    assert "needs a CPR number" in capsys.readouterr().err


def test_redrive_needs_a_running_system_and_a_queue_with_a_dlq(tmp_path, capsys):
    assert main(["redrive", "measurements", "--state-dir", str(tmp_path)]) == 1
    assert "no running `telehub local`" in capsys.readouterr().err
    write_running_state(tmp_path)
    assert main(["redrive", "nonsense", "--state-dir", str(tmp_path)]) == 2
    assert "is not a queue with a DLQ" in capsys.readouterr().err


def test_subscriber_needs_a_running_system_and_an_organisation_that_subscribes(tmp_path, capsys):
    assert main(["subscriber", "--org", "615171000016009", "--state-dir", str(tmp_path)]) == 1
    assert "no running `telehub local`" in capsys.readouterr().err
    write_running_state(tmp_path, queue_urls={"sharing-615171000016009": "http://q",
                                              "sharing-615171000016009-dlq": "http://dlq"})
    assert main(["subscriber", "--org", "664141000016003", "--state-dir", str(tmp_path)]) == 2
    assert "subscribers: 615171000016009" in capsys.readouterr().err


@pytest.mark.parametrize(("arguments", "isolated"), [([], False), (["--isolated-environments"], True)])
def test_isolated_environments_are_an_option_of_local_and_off_by_default(monkeypatch, arguments, isolated):
    # Given a system that records its options and cannot start (so nothing runs)
    started_with = []

    class RecordingSystem:
        def __init__(self, options):
            started_with.append(options)

        def start(self):
            raise PortInUse("taken")

        def stop(self):
            pass

    monkeypatch.setattr("embedded.cli.LocalSystem", RecordingSystem)
    # When telehub local is run with or without the option
    assert main(["local", *arguments]) == 1
    # Then the system was asked for isolated environments exactly when the option was given
    assert [options.isolated_environments for options in started_with] == [isolated]


def test_missed_measurements_needs_a_running_system(tmp_path, capsys):
    assert main(["missed-measurements", "--state-dir", str(tmp_path)]) == 1
    assert "no running `telehub local`" in capsys.readouterr().err


@pytest.mark.parametrize("at", ["2026-11-25T09:30:00", "yesterday"])
def test_missed_measurements_at_needs_an_instant_with_its_zone(tmp_path, capsys, at):
    with pytest.raises(SystemExit) as refused:
        main(["missed-measurements", "--at", at, "--state-dir", str(tmp_path)])
    assert refused.value.code == 2
    assert "--at" in capsys.readouterr().err

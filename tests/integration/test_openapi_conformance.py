"""Schemathesis (every check) against a running server and the document it serves.

Schemathesis generates requests from /openapi.yaml, valid and invalid, through its coverage,
fuzzing and stateful phases, and checks every answer: no 5xx, documented statuses, headers and
schemas, valid requests accepted and invalid ones refused, 405 with `Allow` for methods a path
does not have. tests/schemathesis/ holds its configuration and the hooks that supply what JSON
Schema cannot describe (real images); the configuration says why each exception exists.

Bounded: a fixed seed (PARLEY_ST_SEED picks another) and 100 examples per operation (about half a
minute), with a timeout. One worker: with several, CPython 3.11 fails inside schemathesis's regex compilation.
"""
import os
import subprocess
import sys

import pytest
import requests

from conftest import fresh_database, fresh_mongo_database

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "tests", "schemathesis")
SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")
METRICS_TOKEN = "a-metrics-token-for-schemathesis"


@pytest.mark.parametrize("store", ["sqlite", "postgres", "mongodb"])
def test_schemathesis_finds_nothing(parley, store):
    env = {
        "METRICS_TOKEN": METRICS_TOKEN,
        # It logs in again and again (and after its own logouts): no rate limit in the way.
        "AUTH_RATE_LIMIT": "1000000",
        "AUTH_EMAIL_RATE_LIMIT": "1000000",
        "AUTH_EMAIL_GLOBAL_RATE_LIMIT": "1000000",
    }
    if store == "postgres":
        env["DATABASE_URL"] = fresh_database()
    if store == "mongodb":
        env["MONGODB_URI"] = fresh_mongo_database()
    server = parley(env=env)
    account = {"name": "Schemathesis", "email": "schemathesis@example.com", "password": "a-long-password"}
    assert requests.post(server.url + "/api/auth/signup", json=account).status_code == 201
    result = subprocess.run(
        [
            SCHEMATHESIS, "--config-file", os.path.join(CONFIG, "schemathesis.toml"),
            "run", server.url + "/openapi.yaml",
            "--seed", os.environ.get("PARLEY_ST_SEED", "1"),
            "--max-examples", "100", "--workers", "1",
            "--no-color",
        ],
        cwd=CONFIG,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "hooks",
            "PARLEY_ST_EMAIL": account["email"],
            "PARLEY_ST_PASSWORD": account["password"],
            "PARLEY_ST_METRICS_TOKEN": METRICS_TOKEN,
        },
        capture_output=True,
        text=True,
        timeout=420,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20000:]
    assert "Tested: 33" in report, report[-3000:]
    assert '"level":"error"' not in server.output(), server.output()[-5000:]

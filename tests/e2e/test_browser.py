"""End to end in a real browser: `airflow standalone` on loopback, `branch_transfer` triggered on the sample
through the REST API v2, then headless Chromium (Debian's, driven by Selenium through Debian's
chromedriver — nothing downloads a browser) logs in, opens the Handover page and finds the transfer's
counts there. A screenshot is saved in `.handover/test-artifacts/`.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`make test` installs them with apt when it may)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.conftest import ROOT, scratch_database
from tests.support.stores import airflow_connection, approve_pipia

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-processes")]  # one at a time: each is a cluster

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / ".handover" / "test-artifacts"
BRANCH = "SH-PD-0042"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.RequestException, OSError):
            result = None
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def standalone(tmp_path, pg_admin_dsn, master_key_text, signing_key_text):
    """`airflow standalone` in a home of its own, the target store a fresh database; yields (url, user,
    password, target dsn, log path)."""
    for tool in (CHROMIUM, CHROMEDRIVER):
        assert tool.exists(), f"{tool} is missing: install Debian's chromium and chromium-driver (make test does, as root)"
    home = tmp_path / "airflow"
    home.mkdir()
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    port = _free_port()
    with scratch_database(pg_admin_dsn, "handover_test_browser") as target:
        approve_pipia(target, folder=tmp_path / "pipia")  # the sample's impact assessment, approved
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW_CONN_HANDOVER_TARGET": airflow_connection(target),
            "AIRFLOW_VAR_HANDOVER_MASTER_KEY": master_key_text,
            "AIRFLOW_VAR_HANDOVER_SIGNING_KEY": signing_key_text,
            "HANDOVER_WORK_ROOT": str(tmp_path / "work"),
            "HANDOVER_OUTPUT_ROOT": str(tmp_path / "output"),
            "HANDOVER_ARCHIVE_ROOT": str(tmp_path / "archive"),
            "GX_ANALYTICS_ENABLED": "False",
            # standalone starts its components as `airflow …` from PATH: this venv's
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        })
        log = (tmp_path / "standalone.log").open("wb")
        exe = Path(sys.executable).with_name("airflow")
        process = subprocess.Popen([str(exe), "standalone"], env=env, cwd=tmp_path, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            def up():
                assert process.poll() is None, (tmp_path / "standalone.log").read_text(errors="replace")[-5000:]
                return requests.get(f"{url}/api/v2/monitor/health", timeout=5).ok

            _wait("the API server", up, 300)
            yield url, "admin", password, target, tmp_path / "standalone.log"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()


def _token(url: str, user: str, password: str) -> str:
    answer = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["access_token"]


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def _log_in(driver, url: str, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/")
    wait = WebDriverWait(driver, 60)
    name = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "input[name='username'], input#username")))
    name.send_keys(user)
    secret = driver.find_element(By.CSS_SELECTOR, "input[type='password']")
    secret.send_keys(password, Keys.ENTER)
    wait.until(lambda d: "/auth/login" not in d.current_url and "login" not in d.current_url.rsplit("/", 1)[-1])
    wait.until(lambda d: any(c["name"] == "_token" for c in d.get_cookies()))


def test_a_transfer_triggered_over_rest_shows_on_the_handover_page(standalone, sample_export, sample_contract):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, user, password, target, log = standalone
    folder, _ = sample_export
    headers = {"Authorization": f"Bearer {_token(url, user, password)}"}
    try:
        _wait("branch_transfer to be parsed",
              lambda: requests.get(f"{url}/api/v2/dags/branch_transfer", headers=headers, timeout=10).ok, 240)
        assert requests.patch(f"{url}/api/v2/dags/branch_transfer", json={"is_paused": False}, headers=headers,
                              timeout=30).ok
        # the DAG's own chunk size (a chunk per source): the page is what this test reads; many chunks on
        # real workers are test_celery_executor.py's (13 chunks of 150 rows were most of this test's time)
        conf = {"branch_id": BRANCH, "contract": str(sample_contract), "source": str(folder)}
        created = requests.post(f"{url}/api/v2/dags/branch_transfer/dagRuns", headers=headers, timeout=30,
                                json={"logical_date": None, "conf": conf})
        assert created.ok, created.text
        run_id = created.json()["dag_run_id"]

        def finished():
            state = requests.get(f"{url}/api/v2/dags/branch_transfer/dagRuns/{run_id}", headers=headers,
                                 timeout=10).json()["state"]
            return state if state in ("success", "failed") else None

        assert _wait("the transfer to finish", finished, 900, every=5) == "success"
    except AssertionError:
        print(log.read_text(errors="replace")[-20_000:])
        raise

    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT manifest FROM ops.manifests ORDER BY created_at DESC LIMIT 1")
        counts = cur.fetchone()[0]["counts"]

    driver = _browser()
    try:
        _log_in(driver, url, user, password)
        driver.get(f"{url}/handover/")
        WebDriverWait(driver, 60).until(lambda d: run_id in d.page_source)
        summary = driver.find_element(By.TAG_NAME, "body").text
        loaded_total = sum(c["loaded"] for c in counts.values())
        source_total = sum(c["source_rows"] for c in counts.values())
        assert BRANCH in summary and f"{loaded_total:,}" in summary and f"{source_total:,}" in summary
        for details in driver.find_elements(By.CSS_SELECTOR, "details > summary"):  # the reconciliation
            driver.execute_script("arguments[0].scrollIntoView()", details)
            details.click()
        text = driver.find_element(By.TAG_NAME, "body").text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "handover-page.png"))
        for entity in ("customers", "accounts", "transactions", "interactions"):
            assert f"{counts[entity]['loaded']:,}" in text, entity
        assert "no_consent" in text  # the exclusions by reason
        assert driver.find_elements(By.TAG_NAME, "svg"), "the charts are drawn"
    finally:
        driver.quit()
    assert (ARTIFACTS / "handover-page.png").stat().st_size > 10_000

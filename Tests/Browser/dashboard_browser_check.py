#!/usr/bin/env python3
"""Drives the WRaft dashboard in headless Chromium (Selenium), as a user and as an attacker's page.

Started by Tests/IntegrationTests/DashboardBrowserTests.swift, which launches the nodes, forms the
cluster, and checks the nodes' side afterwards (which keys exist). This script only drives the
browser and prints one JSON object on stdout: {"checks": [{"name", "ok", "detail"}...]}.
It exits 0 when every check passed, 1 when one failed, 2 on bad arguments or when the browser
cannot be started (the Swift test reports that as a failure: CI installs the browser).

Scenarios:
  tokens  --url A --members N --token T --key K --value V
      The page asks for the bearer token once (a prompt), keeps it in sessionStorage for the tab,
      reaches every member with it (all N members up), writes K=V through the key-value panel,
      and after a reload does not ask again.
  origin  --url A --members N --key K
      Without tokens the page works with no prompt. A page from another origin (a local server on
      a free port) cannot read /state (CORS) and cannot make a JSON write (its preflight is
      refused); its simple text/plain and form POSTs of K are sent (the node must refuse them:
      the Swift test checks K was never written).
"""
import argparse
import functools
import http.server
import json
import sys
import threading
import time

BOUND_SECONDS = 20  # every wait in this script is bounded by this


def parse_arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["tokens", "origin"])
    parser.add_argument("--url", required=True, help="the dashboard node's base URL, http://127.0.0.1:PORT")
    parser.add_argument("--members", type=int, required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--key", required=True)
    parser.add_argument("--value", default="")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    return parser.parse_args()


class Checks:
    def __init__(self):
        self.items = []

    def record(self, name, ok, detail=""):
        self.items.append({"name": name, "ok": bool(ok), "detail": str(detail)[:500]})
        return ok

    def report_and_exit(self):
        print(json.dumps({"checks": self.items}))
        sys.exit(0 if self.items and all(item["ok"] for item in self.items) else 1)


def start_browser(arguments):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = arguments.chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    # The page's prompt() is ours to answer, not the driver's to dismiss.
    options.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(service=Service(arguments.chromedriver), options=options)
    driver.set_page_load_timeout(BOUND_SECONDS)
    driver.set_script_timeout(BOUND_SECONDS)
    return driver


def wait_for(predicate, seconds=BOUND_SECONDS, poll=0.1):
    """Polls `predicate` until it returns a truthy value or `seconds` pass; returns the last value."""
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # a stale element or an open alert: try again
            value = None
        if value:
            return value
        time.sleep(poll)
    return value


def alert_or_none(driver):
    try:
        alert = driver.switch_to.alert
        _ = alert.text
        return alert
    except Exception:
        return None


def text_of(driver, element_id):
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.textContent : null;", element_id)


def members_up(driver, count):
    expected = "%d / %d" % (count, count)
    return wait_for(lambda: text_of(driver, "fact-up") == expected and text_of(driver, "fact-up"))


def scenario_tokens(driver, arguments, checks):
    driver.get(arguments.url + "/")
    alert = wait_for(lambda: alert_or_none(driver))
    if not checks.record("asks for a token", alert is not None, "a prompt" if alert else "no prompt appeared"):
        return
    checks.record("the prompt names the token flag", "--auth-token-file" in alert.text, alert.text)
    alert.send_keys(arguments.token)
    alert.accept()

    up = members_up(driver, arguments.members)
    checks.record("every member reachable with the token", up, text_of(driver, "fact-up"))
    leader = wait_for(lambda: (text_of(driver, "fact-leader") or "").startswith("node :") and text_of(driver, "fact-leader"))
    checks.record("a leader is shown", leader, text_of(driver, "fact-leader"))
    stored = driver.execute_script("return sessionStorage.getItem('wraft.token');")
    checks.record("the token is kept in sessionStorage", stored == arguments.token, repr(stored))

    driver.find_element("id", "kv-key").send_keys(arguments.key)
    driver.find_element("id", "kv-value").send_keys(arguments.value)
    driver.find_element("id", "kv-put").click()
    result = wait_for(lambda: (text_of(driver, "kv-result") or "").startswith("2") and text_of(driver, "kv-result"))
    checks.record("a put from the key-value panel succeeds", result, text_of(driver, "kv-result"))

    driver.refresh()
    prompted_again = wait_for(lambda: alert_or_none(driver), seconds=3)
    checks.record("no second prompt after a reload", prompted_again is None, prompted_again.text if prompted_again else "")
    if prompted_again is not None:
        prompted_again.dismiss()
    checks.record("after the reload every member is still reachable", members_up(driver, arguments.members), text_of(driver, "fact-up"))


class AttackerPage(http.server.BaseHTTPRequestHandler):
    """Serves one empty page: the origin the attack scripts run in."""

    def do_GET(self):
        body = b"<!doctype html><title>not a member</title><p>another origin"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments):
        pass


ATTACKS = {
    # name: (script body run in the attacker's page, what must happen)
    "reading /state from another origin is blocked": (
        "fetch(url + '/state').then(r => r.text()).then(t => 'read:' + t.slice(0, 80), e => 'blocked:' + e)",
        "blocked",
    ),
    "a JSON write from another origin is blocked at its preflight": (
        "fetch(url + '/set', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({key: key, value: 'json'})}).then(r => 'answered:' + r.status, e => 'blocked:' + e)",
        "blocked",
    ),
    "a text/plain write from another origin is sent (the node must refuse it)": (
        "fetch(url + '/set', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},"
        " body: JSON.stringify({key: key, value: 'text'})}).then(r => 'sent:' + r.type, e => 'blocked:' + e)",
        "sent",
    ),
    "a form write from another origin is sent (the node must refuse it)": (
        "fetch(url + '/set', {method: 'POST', mode: 'no-cors', body: new URLSearchParams({key: key, value: 'form'})})"
        ".then(r => 'sent:' + r.type, e => 'blocked:' + e)",
        "sent",
    ),
}


def scenario_origin(driver, arguments, checks):
    driver.get(arguments.url + "/")
    checks.record("no prompt without tokens", wait_for(lambda: alert_or_none(driver), seconds=3) is None)
    checks.record("the dashboard shows every member", members_up(driver, arguments.members), text_of(driver, "fact-up"))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AttackerPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        driver.get("http://127.0.0.1:%d/" % server.server_address[1])
        for name, (body, expected) in ATTACKS.items():
            script = ("const [url, key, done] = arguments; " + body + ".then(done);")
            outcome = driver.execute_async_script(script, arguments.url, arguments.key)
            checks.record(name, isinstance(outcome, str) and outcome.startswith(expected + ":"), outcome)
    finally:
        server.shutdown()


def main():
    arguments = parse_arguments()
    checks = Checks()
    try:
        driver = start_browser(arguments)
    except Exception as error:
        print(json.dumps({"error": "cannot start the browser: %s" % error}))
        sys.exit(2)
    try:
        if arguments.scenario == "tokens":
            scenario_tokens(driver, arguments, checks)
        else:
            scenario_origin(driver, arguments, checks)
    except Exception as error:
        checks.record("the scenario ran to its end", False, repr(error))
    finally:
        driver.quit()
    checks.report_and_exit()


if __name__ == "__main__":
    main()

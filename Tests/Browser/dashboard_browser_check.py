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
  cluster --url A --members N [--artifacts DIR]
      A cluster with faults on. The page names a leader; a click on a card's button during
      constant updates (event streams, polls) is handled every time (the button is the same element
      throughout); the leader is crashed with its card's own button and a new leader is named
      within a bound; one follower is partitioned from the others with the page's controls (the
      nodes report the isolation) and healed. Screenshots go to DIR.
  forbidden --url A [--artifacts DIR]
      A node without --enable-faults: the page's crash button is answered 403 and the page shows
      the action as failed, with the node's error.
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
    parser.add_argument("scenario", choices=["tokens", "origin", "cluster", "forbidden", "add"])
    parser.add_argument("--artifacts", default="", help="a folder for screenshots")
    parser.add_argument("--url", required=True, help="the dashboard node's base URL, http://127.0.0.1:PORT")
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--token", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--value", default="")
    parser.add_argument("--new-node", default="", help="the HTTP address of an empty node for the add scenario")
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
    options.add_argument("--window-size=1400,1000")
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


def members_up(driver, count, seconds=BOUND_SECONDS):
    expected = "%d / %d" % (count, count)
    return wait_for(lambda: text_of(driver, "fact-up") == expected and text_of(driver, "fact-up"), seconds=seconds)


def screenshot(driver, arguments, name):
    if arguments.artifacts:
        import os
        os.makedirs(arguments.artifacts, exist_ok=True)
        driver.save_screenshot(os.path.join(arguments.artifacts, name + ".png"))


def leader_name(driver):
    text = text_of(driver, "fact-leader") or ""
    return None if text.startswith("none") else text


def card(driver, name):
    """The member card whose name is `name` (host:port), or None."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#members .card')].find(c => c.querySelector('.name').textContent === arguments[0]) || null;",
        name)


def card_button(driver, name, op):
    element = card(driver, name)
    return element.find_element("css selector", "button[data-op='%s']" % op) if element else None


def click(driver, element):
    # The header is sticky: scroll the element to the middle first, as a user would see it.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def action_text(driver):
    return text_of(driver, "action-result") or ""


def clear_action(driver):
    driver.execute_script("const e = document.getElementById('action-result'); e.textContent = ''; e.classList.remove('error');")


def scenario_cluster(driver, arguments, checks):
    driver.get(arguments.url + "/")
    checks.record("every member is shown", members_up(driver, arguments.members), text_of(driver, "fact-up"))
    first = wait_for(lambda: leader_name(driver))
    if not checks.record("a leader is named (host:port)", first and ":" in first, text_of(driver, "fact-leader")):
        return
    streams = wait_for(lambda: "%d event streams" % arguments.members in (text_of(driver, "live-text") or ""))
    checks.record("one event stream per member", streams, text_of(driver, "live-text"))
    messages = wait_for(lambda: driver.execute_script("return document.querySelectorAll('#ring .msg').length > 0;"), seconds=10, poll=0.02)
    checks.record("messages are drawn in flight", messages)
    screenshot(driver, arguments, "1-cluster")

    # Clicks during constant updates: the same button element the whole time, every click answered.
    follower = next(n for n in driver.execute_script(
        "return [...document.querySelectorAll('#members .card .name')].map(e => e.textContent);") if n != first)
    button = card_button(driver, follower, "heal")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    handled = 0
    for _ in range(12):
        clear_action(driver)
        button.click()
        if wait_for(lambda: action_text(driver).startswith("heal → " + follower), seconds=5, poll=0.02):
            handled += 1
        time.sleep(0.15)
    checks.record("every click during updates is handled (12 of 12)", handled == 12, "%d of 12" % handled)
    same = driver.execute_script("return document.contains(arguments[0]);", button)
    checks.record("the button was never rebuilt", same)

    # Partition one follower from the rest with the page's controls, then heal.
    click(driver, card(driver, follower).find_element("css selector", "input.select"))
    clear_action(driver)
    click(driver, driver.find_element("id", "partition-btn"))
    partitioned = wait_for(lambda: action_text(driver).startswith("partition") and action_text(driver))
    checks.record("the partition is applied on every member", partitioned and "failed" not in partitioned, action_text(driver))
    isolated = wait_for(lambda: "isolated" in (card(driver, follower).find_element("css selector", ".faults").text or ""))
    checks.record("the partitioned member reports its isolation", isolated)
    screenshot(driver, arguments, "2-partitioned")
    click(driver, card(driver, follower).find_element("css selector", "input.select"))
    clear_action(driver)
    click(driver, driver.find_element("id", "heal-all-btn"))
    healed = wait_for(lambda: action_text(driver).startswith("heal: ok"))
    checks.record("heal all succeeds", healed, action_text(driver))
    cleared = wait_for(lambda: all("isolated" not in (e.text or "") for e in driver.find_elements("css selector", "#members .faults")))
    checks.record("no member is isolated after the heal", cleared)

    # Crash the leader with its own card's button; a new leader is named within the bound.
    leader = leader_name(driver)
    click(driver, card_button(driver, leader, "crash"))
    confirm = wait_for(lambda: alert_or_none(driver), seconds=5)
    if confirm is not None:
        confirm.accept()
    started = time.monotonic()
    crashed = wait_for(lambda: "crash → " + leader in action_text(driver) and action_text(driver), seconds=10)
    checks.record("the crash is reported as done", crashed and "failed" not in crashed, action_text(driver))
    new_leader = wait_for(lambda: (leader_name(driver) or leader) != leader and leader_name(driver), seconds=30)
    checks.record("a new leader is named within 30 s", new_leader,
                  "%s after %.1f s (old %s)" % (text_of(driver, "fact-leader"), time.monotonic() - started, leader))
    timeline = text_of(driver, "timeline") or ""
    checks.record("the timeline shows the election", "asks for votes" in timeline and "is leader" in timeline, timeline[:300])
    screenshot(driver, arguments, "3-failover")


def scenario_forbidden(driver, arguments, checks):
    driver.get(arguments.url + "/")
    name = wait_for(lambda: leader_name(driver))
    if not checks.record("the single member leads", name, text_of(driver, "fact-leader")):
        return
    click(driver, card_button(driver, name, "crash"))
    confirm = wait_for(lambda: alert_or_none(driver), seconds=5)
    if confirm is not None:
        confirm.accept()
    failed = wait_for(lambda: "failed" in action_text(driver) and action_text(driver), seconds=10)
    checks.record("a crash answered 403 is shown as failed, with the error", failed and "403" in failed and "faults_disabled" in failed,
                  action_text(driver))
    is_error = driver.execute_script("return document.getElementById('action-result').classList.contains('error');")
    checks.record("the failure is marked as an error", is_error)
    screenshot(driver, arguments, "forbidden-crash")


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
    leader = wait_for(lambda: leader_name(driver))
    checks.record("a leader is shown", leader, text_of(driver, "fact-leader"))
    stored = driver.execute_script("return sessionStorage.getItem('wraft.token');")
    checks.record("the token is kept in sessionStorage", stored == arguments.token, repr(stored))

    driver.find_element("id", "kv-key").send_keys(arguments.key)
    driver.find_element("id", "kv-value").send_keys(arguments.value)
    driver.find_element("id", "kv-put").click()
    result = wait_for(lambda: (text_of(driver, "kv-result") or "").startswith("2") and text_of(driver, "kv-result"))
    checks.record("a put from the key-value panel succeeds", result, text_of(driver, "kv-result"))
    # EventSource cannot send the token: the keys table says it reloads instead, and the reload
    # brings the key just written.
    checks.record("with a token the keys table reloads instead of watching",
                  wait_for(lambda: "(token)" in (text_of(driver, "keys-live") or "")), text_of(driver, "keys-live"))
    checks.record("the reloaded table shows the key written from the panel",
                  wait_for(lambda: key_row_value(driver, arguments.key) == arguments.value), key_row_value(driver, arguments.key))

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


def key_row_value(driver, key):
    """The value cell of `key`'s row in the page's keys table, or None when it has no row."""
    return driver.execute_script(
        "for (const r of document.querySelectorAll('#keys-body tr')) {"
        " if (r.dataset.key === arguments[0]) return r.children[1].textContent; } return null;", key)


def live_keys(driver, arguments, checks):
    """A key PUT and DELETEd by this script (not the page) appears in and leaves the keys table
    without a reload (the page follows GET /watch)."""
    import urllib.request
    key, value = "live/watched-key", "v-%d" % int(time.time())
    checks.record("the keys table says live", wait_for(lambda: (text_of(driver, "keys-live") or "").startswith("live")),
                  text_of(driver, "keys-live"))
    marker = driver.execute_script("window.__noReload = 1; return window.__noReload;")
    urllib.request.urlopen(urllib.request.Request(arguments.url + "/data/" + key, data=value.encode(), method="PUT",
                                                  headers={"Content-Type": "application/octet-stream"}), timeout=10).read()
    checks.record("a PUT key appears in the table", wait_for(lambda: key_row_value(driver, key) == value),
                  key_row_value(driver, key))
    urllib.request.urlopen(urllib.request.Request(arguments.url + "/data/" + key, method="DELETE"), timeout=10).read()
    checks.record("a deleted key leaves the table", wait_for(lambda: key_row_value(driver, key) is None and
                                                            driver.execute_script("return !!document.getElementById('keys-body')")),
                  key_row_value(driver, key))
    checks.record("the page was not reloaded", marker == 1 and driver.execute_script("return window.__noReload === 1;"))

    # A watch whose start the node has compacted away: the page reloads the table and watches again
    # from the reload's revision. Write three versions, compact to the last, then make the page
    # watch from revision 1 (what a reconnect after a long sleep would ask for).
    def call(method, path, body=None, content_type="application/octet-stream"):
        request = urllib.request.Request(arguments.url + path, data=body, method=method,
                                         headers={"Content-Type": content_type} if body is not None else {})
        return json.loads(urllib.request.urlopen(request, timeout=10).read() or b"null")
    for n in range(3):
        call("PUT", "/data/live/compacted", ("c%d" % n).encode())
    revision = call("GET", "/data?prefix=live/&limit=1")["revision"]
    call("POST", "/compact", json.dumps({"revision": revision}).encode(), "application/json")
    driver.execute_script("window.__states = []; const el = document.getElementById('keys-live');"
                          "new MutationObserver(() => window.__states.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});"
                          "watchKeys(1);")
    refused = wait_for(lambda: any("reloading" in t for t in driver.execute_script("return window.__states;")))
    checks.record("a compacted start is refused and the page says it reloads", refused,
                  driver.execute_script("return window.__states;"))
    live_again = wait_for(lambda: (text_of(driver, "keys-live") or "").startswith("live"))
    checks.record("after the reload the table is live again", live_again, text_of(driver, "keys-live"))
    call("PUT", "/data/live/after-compaction", b"fresh")
    checks.record("a key written after the reload appears live",
                  wait_for(lambda: key_row_value(driver, "live/after-compaction") == "fresh"),
                  key_row_value(driver, "live/after-compaction"))
    checks.record("the table shows the compacted key's last value", key_row_value(driver, "live/compacted") == "c2",
                  key_row_value(driver, "live/compacted"))


def scenario_add(driver, arguments, checks):
    """Adds an empty node to the cluster with the page's own control (the node allows this page's
    origin), and the page then shows it as a member, up, with the leader's log."""
    driver.get(arguments.url + "/")
    if not checks.record("every member is shown", members_up(driver, arguments.members), text_of(driver, "fact-up")):
        return
    field = driver.find_element("id", "add-http")
    field.clear()
    field.send_keys(arguments.new_node)
    clear_action(driver)
    click(driver, driver.find_element("id", "add-btn"))
    added = wait_for(lambda: action_text(driver).startswith("add " + arguments.new_node) and action_text(driver), seconds=20)
    checks.record("the add is reported as joined", added and "joined" in added and "failed" not in added, action_text(driver))
    checks.record("the page shows one more member, up", members_up(driver, arguments.members + 1, seconds=30),
                  text_of(driver, "fact-up"))
    names = driver.execute_script("return [...document.querySelectorAll('#members .card .name')].map(e => e.textContent);")
    checks.record("the new member has its own card", len(names) == arguments.members + 1, names)
    screenshot(driver, arguments, "added-member")


def scenario_origin(driver, arguments, checks):
    driver.get(arguments.url + "/")
    checks.record("no prompt without tokens", wait_for(lambda: alert_or_none(driver), seconds=3) is None)
    checks.record("the dashboard shows every member", members_up(driver, arguments.members), text_of(driver, "fact-up"))
    live_keys(driver, arguments, checks)

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
        scenarios = {"tokens": scenario_tokens, "origin": scenario_origin, "cluster": scenario_cluster,
                     "forbidden": scenario_forbidden, "add": scenario_add}
        scenarios[arguments.scenario](driver, arguments, checks)
    except Exception as error:
        checks.record("the scenario ran to its end", False, repr(error))
    finally:
        driver.quit()
    checks.report_and_exit()


if __name__ == "__main__":
    main()

"""Wait until the lab cloud is usable: keystone issues a token, every other API answers with it,
the nova-compute service and its hypervisor are up, the compute node has a resource provider
in placement (the scheduler maps a new compute node every 5 s: a fresh start takes about a minute),
and cinder's scheduler has a pool from cinder-volume (until its first capability report, every
new volume goes to `error` with "No valid backend": that failed a clean-clone run's seed).
Plain urllib, no SDK: on a running lab this takes a fraction of a second.

usage: /usr/bin/python3 ready.py [TIMEOUT_SECONDS]    exit 0 ready, 1 not ready in time
"""
import json
import sys
import time
import urllib.request

K = "http://127.0.0.1"
AUTH = {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "lab-secret"}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}


def call(url, token=None, body=None, headers=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers, json.loads(r.read() or b"{}")


def problems():
    headers, body = call(K + ":5000/v3/auth/tokens", body=AUTH)
    token, project = headers["X-Subject-Token"], body["token"]["project"]["id"]
    found = []
    for name, url in (("image", ":9292/v2/images"), ("network", ":9696/v2.0/networks"),
                      ("volume", ":8776/v3/%s/volumes" % project), ("compute", ":8774/v2.1/flavors")):
        try:
            call(K + url, token)
        except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
            found.append("%s API: %s" % (name, e))
    _, services = call(K + ":8774/v2.1/os-services?binary=nova-compute", token)
    if not any(s["state"] == "up" for s in services["services"]):
        found.append("nova-compute service not up")
    _, hypervisors = call(K + ":8774/v2.1/os-hypervisors/detail", token)
    if not any(h["state"] == "up" for h in hypervisors["hypervisors"]):
        found.append("no hypervisor up")
    _, rps = call(K + ":8778/resource_providers", token, headers={"OpenStack-API-Version": "placement 1.14"})
    if not rps["resource_providers"]:
        found.append("no resource provider in placement")
    _, pools = call(K + ":8776/v3/%s/scheduler-stats/get_pools" % project, token)
    if not pools.get("pools"):
        found.append("cinder scheduler has no pool from cinder-volume yet")
    return found


deadline = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 180)
while True:
    try:
        last = problems()
    except Exception as e:  # noqa: BLE001
        last = ["%s" % e]
    if not last:
        sys.exit(0)
    if time.time() > deadline:
        break
    time.sleep(2)
print("not ready: " + "; ".join(last), file=sys.stderr)
sys.exit(1)

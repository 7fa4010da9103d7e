"""Wait until the lab cloud is usable: every API answers with a token, the nova-compute service is
up, its hypervisor is up and it has a resource provider in placement (the scheduler maps the
compute node to cell1 every 5 s, so a fresh start takes about a minute).

usage: /usr/bin/python3 ready.py [TIMEOUT_SECONDS]    exit 0 ready, 1 not ready in time
"""
import sys
import time
import warnings

import openstack

warnings.filterwarnings("ignore")


def problems(conn):
    found = []
    for name, proxy in (("identity", conn.identity), ("compute", conn.compute),
                        ("volume", conn.block_storage), ("image", conn.image),
                        ("network", conn.network), ("placement", conn.placement)):
        try:
            proxy.get("/")   # a version document or an authenticated 404: the service answers
        except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
            found.append("%s API: %s" % (name, e.__class__.__name__))
    computes = [s for s in conn.compute.services() if s.binary == "nova-compute"]
    if not any(s.state == "up" for s in computes):
        found.append("nova-compute service not up")
    if not any(h.state == "up" for h in conn.compute.hypervisors(details=True)):
        found.append("no hypervisor up")
    if not list(conn.placement.resource_providers()):
        found.append("no resource provider in placement")
    return found


deadline = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 180)
last = ["not checked"]
while time.time() < deadline:
    try:
        conn = openstack.connect(auth_url="http://127.0.0.1:5000/v3", username="admin",
                                 password="lab-secret", project_name="admin",
                                 user_domain_name="Default", project_domain_name="Default",
                                 region_name="RegionOne")
        last = problems(conn)
    except Exception as e:  # noqa: BLE001
        last = ["keystone: %s" % e]
    if not last:
        sys.exit(0)
    time.sleep(2)
print("not ready: " + "; ".join(last), file=sys.stderr)
sys.exit(1)

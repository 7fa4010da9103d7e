"""Fill keystone once it answers: service users, the catalog, the lab's member project and user.
Then (argument "compute") flavors and the volume type, which need nova and cinder up.
One openstacksdk process instead of ~40 CLI calls (each CLI call costs ~1.5 s of start-up).
Idempotent: finds before it creates.

usage: /usr/bin/python3 register.py identity|compute
"""
import sys
import warnings

import openstack

warnings.filterwarnings("ignore")
PW = "lab-secret"
K = "http://127.0.0.1"

conn = openstack.connect(auth_url=K + ":5000/v3", username="admin", password=PW,
                         project_name="admin", user_domain_name="Default",
                         project_domain_name="Default", region_name="RegionOne")


def identity():
    idn = conn.identity
    dom = idn.find_domain("default")
    roles = {r: idn.find_role(r) or idn.create_role(name=r)
             for r in ("admin", "service", "member", "reader")}

    def project(name):
        return idn.find_project(name, domain_id=dom.id) or idn.create_project(name=name, domain_id=dom.id)

    def user(name, password):
        return (idn.find_user(name, domain_id=dom.id)
                or idn.create_user(name=name, password=password, domain_id=dom.id))

    # every service authenticates as its own user with admin+service roles in "service"
    service = project("service")
    for name in ("glance", "placement", "nova", "cinder", "neutron"):
        for role in ("admin", "service"):
            idn.assign_project_role_to_user(service, user(name, PW), roles[role])

    # the ordinary user of the lab: role "member" in project "incidents"
    incidents = project("incidents")
    for role in ("member", "reader"):
        idn.assign_project_role_to_user(incidents, user("operator", PW), roles[role])

    catalog = [("glance", "image", K + ":9292"),
               ("placement", "placement", K + ":8778"),
               ("nova", "compute", K + ":8774/v2.1"),
               ("cinderv3", "volumev3", K + ":8776/v3/%(project_id)s"),
               ("cinder", "block-storage", K + ":8776/v3/%(project_id)s"),
               ("neutron", "network", K + ":9696")]
    for name, kind, url in catalog:
        svc = (next((s for s in idn.services() if s.type == kind), None)
               or idn.create_service(name=name, type=kind))
        have = {e.interface for e in idn.endpoints(service_id=svc.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                idn.create_endpoint(service_id=svc.id, interface=interface, url=url,
                                    region_id="RegionOne")


def compute():
    for name, ram, disk in (("m1.tiny", 512, 1), ("m1.small", 2048, 20)):
        if not conn.compute.find_flavor(name):
            conn.compute.create_flavor(name=name, ram=ram, disk=disk, vcpus=1)
    if not conn.block_storage.find_type("nfs"):
        conn.block_storage.create_type(name="nfs", extra_specs={"volume_backend_name": "nfs1"})


{"identity": identity, "compute": compute}[sys.argv[1]]()

"""Seed the lab's incidents in project "incidents", as the ordinary user "operator" (lab-member).
Re-running restores the broken state: everything in the project is deleted first (it is a lab),
then recreated. Every seeded thing carries lab-seed=<name> (metadata, image property or tag).

  web-1         volume-backed; its root volume holds a partitioned ext4 disk whose /etc/fstab
                names /dev/vdb without nofail (the boot proof's Debian, which lab_virt.py really
                boots, when seed.sh could build it); two data volumes attached; port 10.251.0.10
  eph-1         image-backed; its qcow2 overlay + _base file sit under /var/lib/nova/instances
                of the simulated compute host compute-1 (a lab guest), fault in the overlay only
  snap-mounter  the helper server; its port's fixed IP is its guest's address (SSH as cloud-user,
                a passwordless sudoer, as on a cloud image; root and pw-user log in too)

Writes .lab/seed.json (read by test/support/lab.ts). Run by seed.sh, which builds the disks.
usage: /usr/bin/python3 seed.py LAB_DIR WORK_DIR
"""
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings

import openstack

warnings.filterwarnings("ignore")
LAB, WORK = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
EXPORT = os.path.join(LAB, "state", "cinder", "export")
T0 = float(os.environ.get("LAB_T0", time.time()))

CIDR, GATEWAY = "10.251.0.0/24", "10.251.0.1"
WEB1_IP, EPH1_IP = "10.251.0.10", "10.251.0.30"
BAD_LINE = "/dev/vdb\t/mnt/data\text4\tdefaults\t0 2"
ROOT_OFFSET = 1048576

member = openstack.connect(cloud="lab-member")
admin = openstack.connect(cloud="lab-admin")
project_id = member.current_project_id


def say(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def tag(name):
    return {"lab-seed": name}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 << 20), b""):
            h.update(block)
    return h.hexdigest()


def guest(name):
    g = os.path.join(LAB, "guests", name)
    with open(os.path.join(g, "address")) as f:
        address = f.read().strip()
    with open(os.path.join(g, "login-user")) as f:
        user = f.read().strip()   # guest.sh: snap-mounter's default user (a NOPASSWD sudoer), else root
    g_json = {"name": name, "address": address, "port": 22, "user": user,
              "keyPath": os.path.join(LAB, "keys", name + "_ed25519"),
              "knownHosts": os.path.join(LAB, "known_hosts")}
    if os.path.exists(os.path.join(g, "password-sudoer")):   # a user whose sudo asks for a password
        with open(os.path.join(g, "password-sudoer")) as f:
            g_json["passwordSudoer"] = f.read().strip()
    return g_json


def wait_volume(vol, status="available"):
    return member.block_storage.wait_for_status(vol, status, failures=["error"], interval=1, wait=300)


# ---------------------------------------------------------------- 1. wipe the project
def wipe():
    if os.path.exists(os.path.join(LAB, "seed.json")):
        os.unlink(os.path.join(LAB, "seed.json"))   # not seeded until this run succeeds
    servers = list(member.compute.servers())
    for s in servers:
        member.compute.delete_server(s)
    for s in servers:
        member.compute.wait_for_delete(s, interval=1, wait=180)
    for v in member.block_storage.volumes():
        if v.status not in ("available", "error"):
            # left attached by a server that no longer exists: only an admin can fix that
            admin.block_storage.reset_volume_status(v, "available", "detached", None)
        member.block_storage.delete_volume(v)
    for v in list(member.block_storage.volumes()):
        member.block_storage.wait_for_delete(v, interval=1, wait=180)
    for i in member.image.images(owner=project_id):
        member.image.delete_image(i)
    for p in member.network.ports(project_id=project_id):
        member.network.delete_port(p)
    for n in member.network.networks(project_id=project_id):
        for s in member.network.subnets(network_id=n.id):
            member.network.delete_subnet(s)
        member.network.delete_network(n)
    for k in member.compute.keypairs():
        member.compute.delete_keypair(k)
    instances = os.path.join(LAB, "guests", "compute-1", "instances")   # compute-1's disks
    for n in os.listdir(instances) if os.path.isdir(instances) else []:
        shutil.rmtree(os.path.join(instances, n))
    say("project incidents emptied (%d servers)" % len(servers))


# ---------------------------------------------------------------- 2. recreate
def port(net, subnet, name, ip, seed):
    p = member.network.create_port(network_id=net.id, name=name,
                                   fixed_ips=[{"subnet_id": subnet.id, "ip_address": ip}])
    member.network.set_tags(p, ["lab-seed=" + seed])
    return p


def image(name, path, seed, **props):
    return member.create_image(name, filename=path, disk_format="qcow2", container_format="bare",
                               wait=True, meta=dict(tag(seed), **props))


def main():
    wipe()
    flavor = member.compute.find_flavor("m1.tiny")
    net = member.network.create_network(name="incident-net")
    member.network.set_tags(net, ["lab-seed=incident-net"])
    subnet = member.network.create_subnet(
        network_id=net.id, name="incident-subnet", ip_version=4, cidr=CIDR, gateway_ip=GATEWAY,
        enable_dhcp=False, allocation_pools=[{"start": "10.251.0.100", "end": "10.251.0.199"}])
    snap_guest, compute_guest = guest("snap-mounter"), guest("compute-1")
    with open(snap_guest["keyPath"] + ".pub") as f:
        key = member.compute.create_keypair(name="lab-key", public_key=f.read().strip())

    # Images: the clean base (helper and eph-1 boot from it) and web-1's broken disk.
    base_img = image("debian-12-lab", os.path.join(WORK, "base.qcow2"), "eph-1",
                     hw_rescue_bus="virtio", hw_rescue_device="disk")
    web1_img = image("web-1-root", os.path.join(WORK, "web-1.qcow2"), "web-1")
    say("images uploaded: debian-12-lab, web-1-root")

    # web-1's volumes: the root written straight into its volume file (seed.sh built it: the bootable
    # Debian with the bad fstab, or the small disk), two data volumes with a small ext4 each.
    # The image web-1-root (the small disk) stays for the tests that make more servers like web-1.
    root_raw = os.path.join(WORK, "web-1-root.raw")
    root = member.block_storage.create_volume(name="web-1-root", size=-(-os.path.getsize(root_raw) // 1024**3),
                                              metadata=tag("web-1"))
    datas = [member.block_storage.create_volume(name="web-1-data-%d" % n, size=1,
                                                metadata=tag("web-1")) for n in (1, 2)]
    markers = []
    for n, vol in enumerate(datas, 1):
        wait_volume(vol)
        marker = "web-1 data volume %d %s" % (n, vol.id)
        subprocess.run(["bash", os.path.join(HERE, "disk.sh"), "data",
                        os.path.join(EXPORT, "volume-" + vol.id), "data%d" % n, marker], check=True)
        markers.append(marker)
    root = wait_volume(root)
    root_file = os.path.join(EXPORT, "volume-" + root.id)
    subprocess.run(["cp", "--sparse=always", root_raw, root_file], check=True)
    member.block_storage.set_volume_bootable_status(root, True)
    say("web-1 volumes ready (root %d GiB, 2 data volumes)" % root.size)

    # Servers: ports with fixed IPs first, then the three servers in parallel.
    web1_port = port(net, subnet, "web-1-port", WEB1_IP, "web-1")
    snap_port = port(net, subnet, "snap-mounter-port", snap_guest["address"], "snap-mounter")
    eph1_port = port(net, subnet, "eph-1-port", EPH1_IP, "eph-1")
    web1 = member.compute.create_server(
        name="web-1", flavor_id=flavor.id, networks=[{"port": web1_port.id}], metadata=tag("web-1"),
        block_device_mapping=[{"boot_index": 0, "uuid": root.id, "source_type": "volume",
                               "destination_type": "volume", "delete_on_termination": False}])
    snap = member.compute.create_server(
        name="snap-mounter", flavor_id=flavor.id, image_id=base_img.id, key_name=key.name,
        networks=[{"port": snap_port.id}], metadata=tag("snap-mounter"))
    eph1 = member.compute.create_server(
        name="eph-1", flavor_id=flavor.id, image_id=base_img.id, key_name=key.name,
        networks=[{"port": eph1_port.id}], metadata=tag("eph-1"))
    web1, snap, eph1 = (member.compute.wait_for_server(s, interval=1, wait=180)
                        for s in (web1, snap, eph1))
    say("servers ACTIVE: web-1, snap-mounter, eph-1")

    root_sha = sha256(root_file)   # before anything else touches it
    for vol in datas:
        member.compute.create_volume_attachment(web1, volume_id=vol.id)
    for vol in datas:
        wait_volume(vol, "in-use")
    say("web-1: 2 data volumes attached")

    # eph-1's disk on compute-1, where nova's libvirt driver would keep it:
    # /var/lib/nova/instances/_base/<sha1 of image id> (raw) + <uuid>/disk (qcow2 overlay).
    inst_dir = "/var/lib/nova/instances"
    base_name = hashlib.sha1(base_img.id.encode()).hexdigest()
    host_instances = os.path.join(LAB, "guests", "compute-1", "instances")
    os.makedirs(os.path.join(host_instances, "_base"), exist_ok=True)
    host_base = os.path.join(host_instances, "_base", base_name)
    subprocess.run(["cp", "--sparse=always", os.path.join(WORK, "base.raw"), host_base], check=True)
    disk = "%s/%s/disk" % (inst_dir, eph1.id)
    with open(os.path.join(LAB, "run", "guest-compute-1.pid")) as f:
        compute_pid = f.read().split()[0]
    subprocess.run(["bash", os.path.join(HERE, "disk.sh"), "overlay", compute_pid,
                    "%s/_base/%s" % (inst_dir, base_name), disk, "1G"], check=True)
    with open(os.path.join(host_instances, eph1.id, "disk.info"), "w") as f:
        json.dump({disk: "qcow2"}, f)
    say("eph-1: overlay with the bad fstab on compute-1, base clean")

    seed = {
        "version": 1,
        "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "clouds": {"file": os.path.join(LAB, "clouds.yaml"), "admin": "lab-admin",
                   "member": "lab-member"},
        "project": {"id": project_id, "name": "incidents"},
        "availabilityZone": getattr(web1, "availability_zone", None) or "nova",
        "cinderExportDir": EXPORT,
        "knownHosts": os.path.join(LAB, "known_hosts"),
        "network": {"id": net.id, "name": net.name, "subnetId": subnet.id, "cidr": CIDR,
                    "gateway": GATEWAY},
        "images": {"base": {"id": base_img.id, "name": base_img.name},
                   "web1Root": {"id": web1_img.id, "name": web1_img.name}},
        "keypair": key.name,
        "badFstabLine": BAD_LINE,
        "web1": {
            "serverId": web1.id, "name": "web-1", "portId": web1_port.id, "fixedIp": WEB1_IP,
            "rootVolumeId": root.id, "rootVolumeFile": root_file, "rootVolumeSha256": root_sha,
            "rootPartitionOffset": ROOT_OFFSET, "rootFsLabel": "cloudimg-rootfs",
            "dataVolumes": [{"id": v.id, "name": v.name, "marker": m}
                            for v, m in zip(datas, markers)],
        },
        "snapMounter": {"serverId": snap.id, "name": "snap-mounter", "portId": snap_port.id,
                        "fixedIp": snap_guest["address"], "guest": snap_guest},
        "eph1": {
            "serverId": eph1.id, "name": "eph-1", "portId": eph1_port.id, "fixedIp": EPH1_IP,
            "imageId": base_img.id, "instanceDir": "%s/%s" % (inst_dir, eph1.id), "diskPath": disk,
            "basePath": "%s/_base/%s" % (inst_dir, base_name), "baseSha256": sha256(host_base),
            "hostInstancesDir": host_instances, "computeHost": compute_guest,
        },
    }
    with open(os.path.join(LAB, "seed.json.tmp"), "w") as f:
        json.dump(seed, f, indent=2)
    os.replace(os.path.join(LAB, "seed.json.tmp"), os.path.join(LAB, "seed.json"))
    say("wrote %s" % os.path.join(LAB, "seed.json"))


main()

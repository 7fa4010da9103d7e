"""Make a volume's data appear inside a lab guest, as a real hypervisor attaching a disk would.

The cinder volume's backing file becomes a loop device (losetup, then partx -a: losetup -P creates
no partitions on this kernel). Its device nodes and the /dev/disk/by-id/virtio-<first 20 chars of
the volume id> links (with -partN links, as udev makes them) are created in the guest's /dev,
which is the directory .lab/guests/<name>/dev (see guest.sh), so they show only in that guest.

A record per attachment (.lab/guests/<name>/attached/<volume id>.json) says what Nova has
attached; `release` (lab:down) frees the loop devices but keeps the records, `restore` (lab:up)
brings the devices back. Used by the nova driver lab_virt.py and by guest.sh.

usage: python3 lab_guest.py restore|release|list GUEST
       python3 lab_guest.py attach GUEST VOLUME_ID FILE | detach GUEST VOLUME_ID
Stdlib only.
"""
import contextlib
import fcntl
import json
import os
import stat
import subprocess
import sys

LAB = os.environ.get("OSR_LAB_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".lab")


def guest_dir(guest):
    return os.path.join(LAB, "guests", guest)


def is_guest(guest):
    """A server gets a guest when a guest of the same name exists (snap-mounter, ...)."""
    return bool(guest) and os.path.isdir(os.path.join(guest_dir(guest), "dev"))


def by_id_name(volume_id):
    # virtio-blk exposes the volume id as the disk serial, truncated to 20 characters
    return "virtio-" + volume_id[:20]


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def locked():
    """One attach/detach at a time (nova-compute may run several in parallel)."""
    os.makedirs(os.path.join(LAB, "guests"), exist_ok=True)
    with open(os.path.join(LAB, "guests", ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _record_path(guest, volume_id):
    return os.path.join(guest_dir(guest), "attached", volume_id + ".json")


def _records(guest):
    d = os.path.join(guest_dir(guest), "attached")
    if not os.path.isdir(d):
        return []
    out = []
    for n in sorted(os.listdir(d)):
        if n.endswith(".json"):
            with open(os.path.join(d, n)) as f:
                out.append(json.load(f))
    return out


def _write_record(guest, rec):
    path = _record_path(guest, rec["volume_id"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(path + ".tmp", path)


def _mknod(dev_dir, name):
    """Copy the host's block device NAME (from sysfs) into the guest's /dev."""
    sys_dir = "/sys/class/block/" + name
    with open(sys_dir + "/dev") as f:
        major, minor = (int(x) for x in f.read().split(":"))
    path = os.path.join(dev_dir, name)
    if os.path.lexists(path):
        os.unlink(path)
    os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(major, minor))


def _partitions(loop):
    """[(number, name)] of the partitions the kernel knows for /dev/loopN."""
    base = "/sys/block/" + loop
    parts = []
    for n in os.listdir(base):
        if n.startswith(loop + "p") and os.path.exists(os.path.join(base, n, "partition")):
            with open(os.path.join(base, n, "partition")) as f:
                parts.append((int(f.read()), n))
    return sorted(parts)


def _plug(guest, rec):
    """Loop device + partitions + guest device nodes + by-id links for one record."""
    loop_dev = run("losetup", "--find", "--show", rec["file"])
    loop = os.path.basename(loop_dev)
    # no partition table -> partx fails; the whole disk still works
    subprocess.run(["partx", "-a", loop_dev], capture_output=True)
    dev_dir = os.path.join(guest_dir(guest), "dev")
    by_id = os.path.join(dev_dir, "disk", "by-id")
    os.makedirs(by_id, exist_ok=True)
    _mknod(dev_dir, loop)
    link = os.path.join(by_id, by_id_name(rec["volume_id"]))
    names = [loop]
    _symlink("../../" + loop, link)
    for number, part in _partitions(loop):
        _mknod(dev_dir, part)
        _symlink("../../" + part, "%s-part%d" % (link, number))
        names.append(part)
    rec.update(loop=loop_dev, nodes=names, link=os.path.basename(link))


def _symlink(target, path):
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def _unplug(guest, rec):
    """Remove the by-id links, the guest's nodes, the partitions and the loop device."""
    dev_dir = os.path.join(guest_dir(guest), "dev")
    by_id = os.path.join(dev_dir, "disk", "by-id")
    link = by_id_name(rec["volume_id"])
    for n in os.listdir(by_id) if os.path.isdir(by_id) else []:
        if n == link or n.startswith(link + "-part"):
            os.unlink(os.path.join(by_id, n))
    for n in rec.get("nodes", []):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(dev_dir, n))
    loop_dev = rec.get("loop")
    if loop_dev and _backing_file(loop_dev) == rec["file"]:
        subprocess.run(["partx", "-d", loop_dev], capture_output=True)
        # a busy loop device (still mounted in the guest) is detached when released
        subprocess.run(["losetup", "-d", loop_dev], capture_output=True)
    rec.pop("loop", None)
    rec.pop("nodes", None)


def _backing_file(loop_dev):
    try:
        with open("/sys/block/%s/loop/backing_file" % os.path.basename(loop_dev)) as f:
            return f.read().strip()
    except OSError:
        return None


def attach(guest, volume_id, path, instance_uuid=None):
    with locked():
        old = next((r for r in _records(guest) if r["volume_id"] == volume_id), None)
        if old:
            _unplug(guest, old)
        rec = {"volume_id": volume_id, "file": os.path.realpath(path), "instance": instance_uuid}
        _plug(guest, rec)
        _write_record(guest, rec)
        return rec


def detach(guest, volume_id):
    with locked():
        for rec in _records(guest):
            if rec["volume_id"] == volume_id:
                _unplug(guest, rec)
                os.unlink(_record_path(guest, volume_id))


def forget_instance(guest, instance_uuid):
    """The server was deleted: its attachments go away with it."""
    with locked():
        for rec in _records(guest):
            if rec.get("instance") == instance_uuid:
                _unplug(guest, rec)
                os.unlink(_record_path(guest, rec["volume_id"]))


def release(guest):
    """lab:down: free the loop devices, keep the records."""
    with locked():
        for rec in _records(guest):
            _unplug(guest, rec)
            _write_record(guest, rec)


def restore(guest):
    """lab:up: plug again what Nova still has attached (and whose file still exists)."""
    with locked():
        for rec in _records(guest):
            if not os.path.exists(rec["file"]):
                os.unlink(_record_path(guest, rec["volume_id"]))
                continue
            _unplug(guest, rec)
            _plug(guest, rec)
            _write_record(guest, rec)


def main(argv):
    cmd, guest = argv[1], argv[2]
    if cmd == "attach":
        print(json.dumps(attach(guest, argv[3], argv[4])))
    elif cmd == "detach":
        detach(guest, argv[3])
    elif cmd == "release":
        release(guest)
    elif cmd == "restore":
        restore(guest)
    elif cmd == "list":
        print(json.dumps(_records(guest), indent=1))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

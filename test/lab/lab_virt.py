"""Lab-only nova compute driver: nova's fake driver that supports volume-backed rescue, plus real
disks for the lab's guests. When Nova attaches a volume to a server that has a lab guest of the
same name (snap-mounter, ...), the volume's backing file shows up inside that guest as a block
device with its partitions and /dev/disk/by-id/virtio-<id[:20]> links; detach removes them.
Servers without a guest behave exactly as with the fake driver, but for one thing: a server that
boots from a volume holding the lab's bootable disk (the boot proof's Debian, test/repairs/
boot-image.sh; the seed marks it: .lab/state/nova/boot-image names its cache) really boots, under
qemu TCG, and its serial console is what os-getConsoleOutput answers (see "real boots" below).
The fake driver's "running VMs" live in memory only; they are saved in .lab/state/nova so that
servers still run (and can be stopped) after a lab:down / lab:up.

Loaded by nova-compute as compute_driver = lab_virt.LabGuestDriver, with PYTHONPATH=test/lab.
"""
import json
import os
import subprocess
import tempfile
import time

from oslo_log import log as logging

from nova import exception
from nova.compute import power_state
from nova.compute import task_states
from nova.image import glance
from nova.virt import fake

import lab_guest

LOG = logging.getLogger(__name__)


def _volume_file(connection_info):
    """The backing file of a volume of the lab's cinder NFS backend (a local directory)."""
    data = connection_info.get("data") or {}
    if connection_info.get("driver_volume_type") != "nfs" or not data.get("export"):
        return None
    export_dir = data["export"].split(":", 1)[1]
    return os.path.join(export_dir, data["name"])


def _volume_id(connection_info):
    return connection_info.get("serial") or (connection_info.get("data") or {}).get("volume_id")


# ---- real boots: a server whose root volume holds the lab's bootable disk runs it under qemu TCG.
# Only that volume is its disk (data volumes are not: the fstab line the seed breaks names a disk that
# is not there). The guest mounts its root read-write and writes it, as any guest writes its disk:
# the volume is the server's. The boot starts when the console is first asked for (the hypervisor's
# start is lazy: a TCG boot takes two cores for about a minute, and only the tests that read the
# console pay for it; Nova's ACTIVE never waited for the guest either). Stopping, rebooting,
# rescuing or deleting the server stops qemu.
BOOT = os.path.join(lab_guest.LAB, "state", "nova", "boot")      # <uuid>.json, <uuid>.log, <uuid>.pid
BOOT_IMAGE = os.path.join(lab_guest.LAB, "state", "nova", "boot-image")   # the cache dir, by the seed
ROOT_OFFSET = 1048576     # the boot disk's partition 1 (MBR, sector 2048)
CONSOLE_MAX = 100 * 1024  # what Nova's libvirt driver keeps of a console log too


def _boot_cache():
    try:
        with open(BOOT_IMAGE) as f:
            d = f.read().strip()
        with open(os.path.join(d, "root-uuid")) as f:
            return d, f.read().strip()
    except OSError:
        return None, None


def _ext_uuid(path):
    """The UUID of the ext2/3/4 filesystem at ROOT_OFFSET of a raw disk file, or None."""
    try:
        with open(path, "rb") as f:
            f.seek(ROOT_OFFSET + 1024)
            sb = f.read(0x78)
    except OSError:
        return None
    if len(sb) < 0x78 or sb[0x38:0x3a] != b"\x53\xef":
        return None
    u = sb[0x68:0x78].hex()
    return "%s-%s-%s-%s-%s" % (u[:8], u[8:12], u[12:16], u[16:20], u[20:])


def _boot_volume_file(block_device_info):
    for bdm in (block_device_info or {}).get("block_device_mapping") or []:
        if bdm.get("boot_index") == 0 or bdm.get("mount_device") in ("/dev/vda", "/dev/sda"):
            return _volume_file(bdm.get("connection_info") or {})
    return None


class LabGuestDriver(fake.RescueBFVDriver):

    # ---- the fake VMs survive a restart of nova-compute
    _saved = os.path.join(lab_guest.LAB, "state", "nova", "fake-instances.json")

    def init_host(self, host):
        super().init_host(host)
        if os.path.exists(self._saved):
            with open(self._saved) as f:
                for uuid, vm in json.load(f).items():
                    self.instances[uuid] = fake.FakeInstance(vm["name"], vm["state"], uuid)

    def _save(self):
        vms = {uuid: {"name": vm.name, "state": vm.state} for uuid, vm in self.instances.items()}
        with open(self._saved + ".tmp", "w") as f:
            json.dump(vms, f)
        os.replace(self._saved + ".tmp", self._saved)

    # ---- a slow hypervisor, for the tests of a boot that times out: while this file holds a number,
    # every boot takes that many seconds more (nova-compute is eventlet-patched: only this build waits)
    _boot_delay = os.path.join(lab_guest.LAB, "state", "nova", "boot-delay")

    def spawn(self, context, instance, image_meta, injected_files, admin_password, allocations,
              network_info=None, block_device_info=None, power_on=True, accel_info=None):
        try:
            with open(self._boot_delay) as f:
                delay = float(f.read().strip() or 0)
        except (OSError, ValueError):
            delay = 0
        if delay > 0:
            LOG.info("lab: boot delayed by %ss (%s)", delay, self._boot_delay)
            time.sleep(delay)
        super().spawn(context, instance, image_meta, injected_files, admin_password, allocations,
                      network_info=network_info, block_device_info=block_device_info,
                      power_on=power_on, accel_info=accel_info)
        self._save()
        self._plan_boot(instance, block_device_info)

    # ---- real boots (see BOOT above)

    def _boot_files(self, uuid):
        return tuple(os.path.join(BOOT, uuid + ext) for ext in (".json", ".log", ".pid"))

    def _plan_boot(self, instance, block_device_info):
        """Record that this server boots for real, if its root volume holds the lab's bootable disk."""
        cache, uuid = _boot_cache()
        disk = _boot_volume_file(block_device_info)
        if not cache or not disk or _ext_uuid(disk) != uuid:
            return
        os.makedirs(BOOT, exist_ok=True)
        rec, log, _ = self._boot_files(instance.uuid)
        self._stop_boot(instance.uuid)
        with open(rec, "w") as f:
            json.dump({"disk": disk, "cache": cache, "rootUuid": uuid}, f)
        LOG.info("lab: %s boots %s under qemu TCG when its console is first read", instance.uuid, disk,
                 instance=instance)

    _qemu = {}   # uuid -> Popen of its qemu

    def _running_qemu(self, uuid):
        """The pid of this server's qemu if it runs."""
        p = self._qemu.get(uuid)
        if p is None:
            return None
        if p.poll() is not None:   # exited by itself (the guest powered off): reaped
            return None
        return p.pid

    def _start_boot(self, uuid):
        rec, log, pidfile = self._boot_files(uuid)
        with open(rec) as f:
            r = json.load(f)
        # the boot proof's qemu (test/repairs/boot-proof.test.ts), with the volume file as the disk
        args = ["qemu-system-x86_64", "-name", "osr-lab-" + uuid, "-accel", "tcg,thread=multi",
                "-cpu", "max", "-smp", "2", "-m", "1024", "-display", "none", "-monitor", "none",
                "-serial", "file:" + log, "-no-reboot", "-nic", "none",
                "-kernel", os.path.join(r["cache"], "vmlinuz"),
                "-initrd", os.path.join(r["cache"], "initrd.img"),
                # a short device timeout: a disk that is not there fails the boot in 20 s, not 90 s
                "-append", "root=UUID=%s ro console=ttyS0 systemd.default_timeout_start_sec=20 "
                           "systemd.default_device_timeout_sec=20 systemd.show_status=1" % r["rootUuid"],
                "-drive", "file=%s,format=raw,if=virtio,cache=writeback" % r["disk"]]
        open(log, "w").close()
        # not waited for (nova-compute is eventlet-patched: a wait would block it); in nova-compute's
        # process group, so lab:down stops it with nova-compute
        err = open(log + ".err", "w")
        self._qemu[uuid] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        err.close()
        with open(pidfile, "w") as f:
            f.write(str(self._qemu[uuid].pid))
        LOG.info("lab: %s booting %s under qemu (pid %s)", uuid, r["disk"], self._qemu[uuid].pid)

    def _stop_boot(self, uuid, forget=False):
        rec, log, pidfile = self._boot_files(uuid)
        p = self._qemu.pop(uuid, None)
        if p is not None and p.poll() is None:
            p.kill()
            for _ in range(100):   # the volume must be free before Nova detaches or deletes it
                if p.poll() is not None:
                    break
                time.sleep(0.05)
            LOG.info("lab: %s qemu stopped", uuid)
        for p in ([rec, log, log + ".err", pidfile] if forget else [pidfile]):
            if os.path.exists(p):
                os.unlink(p)

    def get_console_output(self, context, instance):
        rec, log, _ = self._boot_files(instance.uuid)
        if not os.path.exists(rec):
            return super().get_console_output(context, instance)
        vm = self.instances.get(instance.uuid)
        if vm and vm.state == power_state.RUNNING and not self._running_qemu(instance.uuid):
            self._start_boot(instance.uuid)
        try:
            with open(log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - CONSOLE_MAX))
                return f.read()
        except OSError:
            return b""

    def reboot(self, context, instance, *args, **kwargs):
        self._stop_boot(instance.uuid)   # the next console read boots it again
        super().reboot(context, instance, *args, **kwargs)

    def rescue(self, context, instance, *args, **kwargs):
        self._stop_boot(instance.uuid)
        super().rescue(context, instance, *args, **kwargs)

    def power_off(self, instance, *args, **kwargs):
        self._stop_boot(instance.uuid)
        super().power_off(instance, *args, **kwargs)
        self._save()

    def power_on(self, *args, **kwargs):
        super().power_on(*args, **kwargs)
        self._save()

    def unrescue(self, *args, **kwargs):
        super().unrescue(*args, **kwargs)
        self._save()

    # ---- createImage of a server whose disk is on the simulated compute host compute-1 (eph-1): the real
    # merged disk goes to Glance, as the libvirt driver's cold snapshot does it (nova/virt/libvirt/
    # driver.py snapshot: snapshot_extract = qemu-img convert of the chain into snapshots_directory, then
    # image_api.update with the file). Other servers get the fake driver's, which uploads nothing.
    _instances = os.path.join(lab_guest.LAB, "guests", "compute-1", "instances")

    def snapshot(self, context, instance, image_id, update_task_state):
        disk = os.path.join(self._instances, instance.uuid, "disk")
        if not os.path.exists(disk):
            return super().snapshot(context, instance, image_id, update_task_state)
        if instance.uuid not in self.instances:
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        image_api = glance.API()
        snapshot = image_api.get(context, image_id)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        with tempfile.TemporaryDirectory(dir=os.path.join(lab_guest.LAB, "state", "nova")) as tmp:
            out = os.path.join(tmp, "snapshot")
            # the overlay names its base by compute-1's path (/var/lib/nova/instances/_base/...), which is
            # .lab/guests/compute-1/instances/_base/... here: the chain is opened with that base named
            # explicitly (a json: spec), so the overlay itself is never changed
            info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", disk], check=True,
                                             capture_output=True, text=True).stdout)
            spec = {"driver": "qcow2", "file": {"driver": "file", "filename": disk}}
            if info.get("backing-filename"):
                base = os.path.join(self._instances, os.path.relpath(info["backing-filename"], "/var/lib/nova/instances"))
                spec["backing"] = {"driver": info.get("backing-filename-format", "raw"),
                                   "file": {"driver": "file", "filename": base}}
            subprocess.run(["qemu-img", "convert", "-O", "qcow2", "json:" + json.dumps(spec), out],
                           check=True, capture_output=True)
            LOG.info("lab: snapshot of %s extracted (%d bytes), uploading to image %s", instance.uuid,
                     os.path.getsize(out), image_id, instance=instance)
            update_task_state(task_state=task_states.IMAGE_UPLOADING,
                              expected_state=task_states.IMAGE_PENDING_UPLOAD)
            metadata = {"disk_format": "qcow2", "container_format": "bare", "name": snapshot["name"],
                        "properties": {"image_location": "snapshot", "image_state": "available",
                                       "owner_id": instance.project_id}}
            with open(out, "rb") as f:
                image_api.update(context, image_id, metadata, f)
        LOG.info("lab: snapshot image upload complete", instance=instance)

    # ---- volumes appear in the server's lab guest, if it has one

    def attach_volume(self, context, connection_info, instance, mountpoint,
                      disk_bus=None, device_type=None, encryption=None):
        super().attach_volume(context, connection_info, instance, mountpoint,
                              disk_bus=disk_bus, device_type=device_type, encryption=encryption)
        guest = instance.display_name
        path = _volume_file(connection_info)
        if lab_guest.is_guest(guest) and path:
            rec = lab_guest.attach(guest, _volume_id(connection_info), path, instance.uuid)
            LOG.info("lab guest %s: volume %s is %s (%s)", guest, rec["volume_id"],
                     rec["loop"], rec["link"], instance=instance)

    def detach_volume(self, context, connection_info, instance, mountpoint, encryption=None):
        guest = instance.display_name
        if lab_guest.is_guest(guest):
            lab_guest.detach(guest, _volume_id(connection_info))
            LOG.info("lab guest %s: volume %s removed", guest, _volume_id(connection_info),
                     instance=instance)
        super().detach_volume(context, connection_info, instance, mountpoint,
                              encryption=encryption)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        # Nova detaches a deleted server's volumes in cinder without calling detach_volume.
        self._stop_boot(instance.uuid, forget=True)
        super().destroy(context, instance, network_info, block_device_info=block_device_info,
                        destroy_disks=destroy_disks, destroy_secrets=destroy_secrets)
        # The fake driver remembers every vif it plugged, globally, and never forgets those of a
        # deleted server, so the port could never be attached to another server (a real hypervisor
        # unplugs them with the domain).
        for vif in network_info or []:
            self._interfaces.pop(vif["id"], None)
        self._save()
        if lab_guest.is_guest(instance.display_name):
            lab_guest.forget_instance(instance.display_name, instance.uuid)

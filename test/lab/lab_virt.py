"""Lab-only nova compute driver: nova's fake driver that supports volume-backed rescue, plus real
disks for the lab's guests. When Nova attaches a volume to a server that has a lab guest of the
same name (snap-mounter, ...), the volume's backing file shows up inside that guest as a block
device with its partitions and /dev/disk/by-id/virtio-<id[:20]> links; detach removes them.
Servers without a guest behave exactly as with the fake driver.
The fake driver's "running VMs" live in memory only; they are saved in .lab/state/nova so that
servers still run (and can be stopped) after a lab:down / lab:up.

Loaded by nova-compute as compute_driver = lab_virt.LabGuestDriver, with PYTHONPATH=test/lab.
"""
import json
import os
import time

from oslo_log import log as logging

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

    def spawn(self, *args, **kwargs):
        try:
            with open(self._boot_delay) as f:
                delay = float(f.read().strip() or 0)
        except (OSError, ValueError):
            delay = 0
        if delay > 0:
            LOG.info("lab: boot delayed by %ss (%s)", delay, self._boot_delay)
            time.sleep(delay)
        super().spawn(*args, **kwargs)
        self._save()

    def power_off(self, *args, **kwargs):
        super().power_off(*args, **kwargs)
        self._save()

    def power_on(self, *args, **kwargs):
        super().power_on(*args, **kwargs)
        self._save()

    def unrescue(self, *args, **kwargs):
        super().unrescue(*args, **kwargs)
        self._save()

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

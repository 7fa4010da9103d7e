"""Lab-only cinder driver: the stock NFS driver on a local directory, cloning in-use volumes the way
production backends (Ceph RBD, LVM) do, as a crash-consistent copy, so a server's root volume can
be cloned. Loaded by cinder-volume through PYTHONPATH=test/lab (see configure.sh and start.sh).
"""
import os
import subprocess

from cinder import exception
from cinder.volume.drivers import nfs


class LabNfsDriver(nfs.NfsDriver):
    # Copy the file directly. The stock path takes a temporary snapshot of an attached volume,
    # which waits for nova's assisted snapshot; the fake compute driver never performs it.
    _always_use_temp_snap_when_cloning = False

    @staticmethod
    def _validate_state(current_state, acceptable_states, obj_description='volume',
                        invalid_exc=exception.InvalidVolume):
        # The stock driver refuses to clone an in-use source volume.
        if obj_description == 'source volume' and current_state == 'in-use':
            return
        nfs.NfsDriver._validate_state(current_state, acceptable_states, obj_description,
                                      invalid_exc)

    def _copy_volume_image(self, src_path, dest_path):
        # Sparse copy (the stock one is shutil.copyfile): a 1 GiB volume holding 20 MB stays small.
        subprocess.run(['cp', '--sparse=always', src_path, dest_path], check=True)
        self._set_rw_permissions(dest_path)

    def _extend_volume(self, volume, size_gb):
        # Raw files (nfs_qcow2_volumes = false): grow the sparse file to the requested size.
        path = self.local_path(volume)
        if os.path.getsize(path) < size_gb * 1024 ** 3:
            os.truncate(path, size_gb * 1024 ** 3)

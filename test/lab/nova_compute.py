"""nova-compute with the lab's driver (lab_virt.py). Nova Zed loads a compute driver only from its
own nova.virt package, so this adds test/lab to that package's search path, then runs the stock
nova-compute. Started by start.sh as: /usr/bin/python3 nova_compute.py --config-file nova.conf
"""
import os
import sys

from nova.cmd.compute import main  # first: importing nova.cmd applies eventlet's monkey patching
import nova.virt

nova.virt.__path__.append(os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    sys.exit(main())

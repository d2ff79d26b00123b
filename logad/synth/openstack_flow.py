"""One OpenStack instance from boot request to delete, normal or with one kind of failure.

:class:`Instance` appends events to an :class:`~logad.synth.openstack_emitter.Emitter`; each
becomes one line of its service's file once the corpus is sorted by time. Half of the anomaly
kinds use only templates that normal instances use too (a step missing, an order or a count
that is off), so neither the level nor a unique token gives them away.
"""

from __future__ import annotations

from logad.synth.common import uuid4
from logad.synth.openstack_emitter import Emitter

__all__ = ["ANOMALY_KINDS", "Instance"]

#: Failure patterns; the first four show ERROR/WARNING lines, the last four only normal templates.
ANOMALY_KINDS = ("spawn_failure", "vif_timeout", "volume_attach_failure", "delete_failure",
                 "missing_steps", "unexpected_transition", "retry_storm", "slow_build")

_NOVA = "/usr/lib/python2.7/dist-packages/nova"
_SPAWN_FRAMES = (
    ("compute/manager.py", 2083, "_build_resources", "yield resources"),
    ("compute/manager.py", 1924, "_build_and_run_instance", "block_device_info=block_device_info)"),
    ("virt/libvirt/driver.py", 2678, "spawn", "destroy_disks_on_failure=True)"),
    ("virt/libvirt/driver.py", 4917, "_create_domain_and_network", "destroy_disks_on_failure)"),
)
_SPAWN_ERRORS = (
    "libvirtError: internal error: process exited while connecting to monitor: "
    "Cannot set up guest memory 'pc.ram': Cannot allocate memory",
    "libvirtError: Unable to write to monitor: Broken pipe",
    "ProcessExecutionError: Unexpected error while running command.",
    "libvirtError: operation failed: domain is no longer running",
)
_METADATA_PATHS = ("/openstack/2013-10-17", "/openstack/2013-10-17/meta_data.json",
                   "/openstack/2013-10-17/vendor_data.json", "/openstack/2012-08-10/meta_data.json",
                   "/latest/meta-data/", "/latest/meta-data/block-device-mapping/",
                   "/latest/meta-data/placement/availability-zone", "/latest/meta-data/local-ipv4")


class Instance:
    """One instance's life; ``kind`` is ``None`` for a normal one or one of :data:`ANOMALY_KINDS`."""

    def __init__(self, em: Emitter, t0: int, kind: str | None) -> None:
        rng = self.rng = em.rng
        self.em, self.t, self.kind = em, int(t0), kind
        self.uuid = uuid4(rng)
        self.host = rng.choice(em.hosts)
        self.project = rng.choice(em.projects)
        self.port = uuid4(rng)
        self.image = rng.choice(em.images)
        self.volume = uuid4(rng) if (rng.random() < 0.35 or kind == "volume_attach_failure") else None
        self.boot_req = em.req(self.project)
        self.tag = f"[instance: {self.uuid}] "
        self.ip = f"10.11.21.{rng.randint(2, 250)}"
        self.mem, self.disk, self.vcpu = rng.choice(((512, 1, 1), (2048, 20, 1), (4096, 40, 2)))
        self.attached = False
        self.skip: set[str] = set()
        self.twist = ""
        if kind == "missing_steps":
            self.skip = set(rng.sample(("claim_ok", "resumed", "build_took", "vif_event", "destroyed",
                                        "dealloc"), rng.randint(1, 2)))
        elif kind == "unexpected_transition":
            self.twist = rng.choice(("resume_first", "start_after_delete", "stop_while_spawning",
                                     "double_terminate"))
        elif kind == "retry_storm":
            self.twist = rng.choice(("reschedule", "event_storm", "sync_storm"))

    # -- helpers -------------------------------------------------------------------------
    def adv(self, lo: int, hi: int) -> int:
        self.t += self.rng.randint(lo, hi)
        return self.t

    def compute(self, level: str, comp: str, addr: str, content: str, tagged: bool = True) -> None:
        pid = self.em.pids["nova-compute"][self.em.hosts.index(self.host)]
        self.em.emit(self.t, "nova-compute", level, comp, addr, (self.tag if tagged else "") + content, pid)

    def lifecycle(self, event: str) -> None:
        self.compute("INFO", "nova.compute.manager", self.em.lifecycle_req[self.host],
                     f"VM {event} (Lifecycle Event)")

    def poll(self, t: int, status: int = 200) -> None:
        self.em.wsgi(t, "nova-api", self.em.req(self.project), "GET",
                     f"/v2/{self.project[1]}/servers/{self.uuid}", status, 1708 if status == 200 else 216,
                     self.rng.uniform(0.08, 0.3))

    def traceback(self, addr: str, frames: tuple, last: str) -> None:
        self.compute("ERROR", "nova.compute.manager", addr, "Traceback (most recent call last):")
        for path, line, func, code in frames:
            self.compute("ERROR", "nova.compute.manager", addr, f'  File "{_NOVA}/{path}", line {line}, in {func}')
            self.compute("ERROR", "nova.compute.manager", addr, f"    {code}")
        self.compute("ERROR", "nova.compute.manager", addr, last)

    # -- the life ------------------------------------------------------------------------
    def run(self) -> int:
        """Emit every line of this instance; return the time (ms) of the last one."""
        self.create()
        attempts = self.rng.randint(2, 4) if self.twist == "reschedule" else 1
        for _ in range(attempts):
            self.schedule()
            self.claims()
        if self.kind == "spawn_failure":
            self.image_and_network()
            self.spawn_failure()
        elif self.kind == "vif_timeout":
            self.image_and_network()
            self.vif_timeout()
        else:
            self.image_and_network()
            self.spawn(slow=self.kind == "slow_build")
        return self.t

    def create(self) -> None:
        em, t = self.em, self.t
        em.keystone(t, validate=False)
        em.keystone(self.adv(15, 60), validate=True)
        em.glance(self.adv(10, 40), em.req(self.project), f"/v2/images/{self.image}", 200, 1053)
        em.wsgi(self.adv(100, 400), "nova-api", self.boot_req, "POST", f"/v2/{self.project[1]}/servers",
                202, 733, self.rng.uniform(0.3, 0.7))

    def schedule(self) -> None:
        em, h = self.em, self.host
        em.emit(self.adv(200, 600), "nova-scheduler", "INFO", "nova.scheduler.filter_scheduler", self.boot_req,
                f"{self.tag}Selected host: WeighedHost [host: ({h}, {h}) ram: {self.rng.randint(40, 63) * 1024}MB "
                f"disk: {self.rng.randint(5, 14) * 1024}MB io_ops: {self.rng.randint(0, 3)} "
                f"instances: {self.rng.randint(0, 6)}]")
        em.emit(self.adv(20, 80), "nova-conductor", "INFO", "nova.conductor.manager", self.boot_req,
                f"{self.tag}Sending build request to compute host {h}")

    def claims(self) -> None:
        r, a = self.rng, self.boot_req
        used = r.randint(0, 6)
        lines = (f"Attempting claim: memory {self.mem} MB, disk {self.disk} GB, vcpus {self.vcpu} CPU",
                 f"Total memory: 64172 MB, used: {512 + used * 2048}.00 MB",
                 f"memory limit: 96258.00 MB, free: {96258 - 512 - used * 2048}.00 MB",
                 f"Total disk: 15 GB, used: {used * 20}.00 GB",
                 "disk limit not specified, defaulting to unlimited",
                 f"Total vcpu: 16 VCPU, used: {used}.00 VCPU",
                 "vcpu limit not specified, defaulting to unlimited")
        self.adv(300, 900)
        for text in lines:
            self.compute("INFO", "nova.compute.claims", a, text)
            self.adv(0, 1)
        if "claim_ok" not in self.skip:
            self.adv(25, 40)
            self.compute("INFO", "nova.compute.claims", a, "Claim successful")
        self.claim_t = self.t

    def image_and_network(self) -> None:
        em, r = self.em, self.rng
        self.adv(400, 700)
        self.compute("INFO", "nova.virt.libvirt.driver", self.boot_req, "Creating image")
        self.image_t = self.t
        if r.random() < 0.3:
            em.glance(self.adv(50, 200), em.req(self.project), f"/v2/images/{self.image}/file", 200,
                      r.randint(12, 900) * 1048576)
        sp = em.req(em.service_project)
        em.wsgi(self.adv(50, 300), "neutron-server", sp, "GET",
                f"/v2.0/ports.json?tenant_id={self.project[1]}&device_id={self.uuid}", 200, 186,
                r.uniform(0.02, 0.08))
        em.wsgi(self.adv(100, 400), "neutron-server", sp, "POST", "/v2.0/ports.json", 201, 1061,
                r.uniform(0.2, 0.6))

    def vif_event(self, name: str = "network-vif-plugged", found: bool = True) -> None:
        em, sp = self.em, self.em.req(self.em.service_project)
        if found:
            em.emit(self.t, "nova-api", "INFO", "nova.api.openstack.compute.server_external_events", sp,
                    f"Creating event {name}:{self.port} for instance {self.uuid}")
        else:
            em.emit(self.t, "nova-api", "INFO", "nova.api.openstack.wsgi", sp,
                    "HTTP exception thrown: No instances found for any event")
        em.wsgi(self.adv(3, 10), "nova-api", sp, "POST", f"/v2/{em.service_project[1]}/os-server-external-events",
                200 if found else 404, 380 if found else 296, self.rng.uniform(0.05, 0.12))
        em.emit(self.adv(2, 20), "neutron-server", "INFO", "neutron.notifiers.nova", "-",
                f"Nova event response: {{u'status': u'{'completed' if found else 'failed'}', u'tag': u'{self.port}', "
                f"u'name': u'{name}', u'server_uuid': u'{self.uuid}', u'code': {200 if found else 404}}}")

    def start_lifecycle(self) -> None:
        self.adv(9000, 14000)
        if self.twist == "resume_first":
            self.lifecycle("Resumed")
            self.adv(5, 40)
        self.lifecycle("Started")
        self.adv(40, 90)
        self.lifecycle("Paused")
        self.adv(100, 200)
        self.compute("INFO", "nova.compute.manager", self.em.lifecycle_req[self.host],
                     "During sync_power_state the instance has a pending task (spawning). Skip.")

    def spawn(self, slow: bool = False) -> None:
        em, r = self.em, self.rng
        self.start_lifecycle()
        if self.twist == "stop_while_spawning":
            self.adv(500, 3000)
            self.lifecycle("Stopped")
            self.adv(800, 4000)
            self.lifecycle("Started")
        if self.twist == "sync_storm" or slow:
            for _ in range(r.randint(5, 12)):
                self.adv(2000, 20000 if slow else 4000)
                self.lifecycle(r.choice(("Paused", "Resumed")) if self.twist == "sync_storm" else "Paused")
                self.compute("INFO", "nova.compute.manager", em.lifecycle_req[self.host],
                             "During sync_power_state the instance has a pending task (spawning). Skip.")
        self.adv(4000, 7000)
        for _ in range(r.randint(8, 25) if slow else r.randint(1, 3)):
            self.poll(r.randint(self.claim_t, self.t))
        if "vif_event" not in self.skip:
            for _ in range(r.randint(3, 6) if self.twist == "event_storm" else 1):
                self.vif_event()
                if self.twist == "event_storm":
                    self.adv(50, 900)
        self.adv(5, 20)
        if "resumed" not in self.skip:
            self.lifecycle("Resumed")
            self.adv(3, 8)
            self.compute("INFO", "nova.virt.libvirt.driver", "-", "Instance spawned successfully.")
        self.adv(1, 3)
        self.compute("INFO", "nova.compute.manager", self.boot_req,
                     f"Took {(self.t - self.image_t) / 1000:.2f} seconds to spawn the instance on the hypervisor.")
        if r.random() < 0.7:
            self.adv(100, 150)
            self.compute("INFO", "nova.compute.manager", em.lifecycle_req[self.host],
                         "During sync_power_state the instance has a pending task (spawning). Skip.")
            self.adv(1, 3)
            self.lifecycle("Resumed")
        if "build_took" not in self.skip:
            self.adv(50, 120)
            self.compute("INFO", "nova.compute.manager", self.boot_req,
                         f"Took {(self.t - self.claim_t) / 1000 + r.uniform(0.5, 1.5):.2f} seconds to build instance.")
        self.metadata()
        if self.volume:
            self.attach_volume()
        self.live()
        self.delete()

    def metadata(self) -> None:
        self.adv(3000, 12000)
        for path in self.rng.sample(_METADATA_PATHS, self.rng.randint(3, 7)):
            self.em.emit(self.adv(5, 400), "nova-api", "INFO", "nova.metadata.wsgi.server", "-",
                         f'{self.ip},10.11.10.1 "GET {path} HTTP/1.1" status: 200 '
                         f"len: {self.rng.randint(120, 1000)} time: {self.rng.uniform(0.0007, 0.003):.7f}")
        if self.rng.random() < 0.4:
            self.em.emit(self.adv(5, 200), "nova-api", "INFO", "nova.metadata.wsgi.server", "-",
                         f'{self.ip},10.11.10.1 "GET /openstack/2013-10-17/user_data HTTP/1.1" status: 404 '
                         f"len: 176 time: {self.rng.uniform(0.0007, 0.003):.7f}")

    def attach_volume(self) -> None:
        em, r = self.em, self.rng
        req = em.req(self.project)
        em.wsgi(self.adv(2000, 9000), "nova-api", req, "POST",
                f"/v2/{self.project[1]}/servers/{self.uuid}/os-volume_attachments", 200, 391, r.uniform(0.3, 0.9))
        tries = 1
        if self.kind == "volume_attach_failure":
            tries = 2 if r.random() < 0.5 else 1
        for attempt in range(tries):
            self.adv(200, 800)
            self.compute("INFO", "nova.compute.manager", req, f"Attaching volume {self.volume} to /dev/vdb")
            creq = f"req-{uuid4(r)} {self.project[0]} {self.project[1]} - - -"
            em.emit(self.adv(50, 300), "cinder-volume", "INFO", "cinder.volume.manager", creq,
                    "Initialize volume connection completed successfully.")
            if self.kind == "volume_attach_failure" and attempt == 0:
                em.emit(self.adv(800, 3000), "cinder-volume", "ERROR", "cinder.volume.manager", creq,
                        f"Volume {self.volume}: driver error when trying to attach: iSCSI target not found")
                self.compute("ERROR", "nova.compute.manager", req,
                             f"Failed to attach {self.volume} at /dev/vdb")
                self.traceback(req, (("virt/block_device.py", 256, "attach", "device_type=self['device_type'], encryption=encryption)"),
                                     ("virt/libvirt/driver.py", 1215, "attach_volume", "self._connect_volume(connection_info, disk_info)")),
                               f"VolumeDeviceNotFound: Volume device not found at /dev/disk/by-path/"
                               f"ip-10.11.10.1:3260-iscsi-iqn.2010-10.org.openstack:volume-{self.volume}-lun-1.")
                continue
            em.emit(self.adv(300, 900), "cinder-volume", "INFO", "cinder.volume.manager", creq,
                    "Attach volume completed successfully.")
            self.attached = True

    def live(self) -> None:
        r = self.rng
        self.adv(5000, 60000)
        for _ in range(r.randint(0, 2)):
            self.poll(self.adv(1000, 10000))
        for event, chance in (("Paused", 0.15), ("Stopped", 0.1)):
            if r.random() < chance:
                self.em.wsgi(self.t, "nova-api", self.em.req(self.project), "POST",
                             f"/v2/{self.project[1]}/servers/{self.uuid}/action", 202, 0, r.uniform(0.1, 0.4))
                self.adv(100, 600)
                self.lifecycle(event)
                self.adv(3000, 30000)
                self.em.wsgi(self.t, "nova-api", self.em.req(self.project), "POST",
                             f"/v2/{self.project[1]}/servers/{self.uuid}/action", 202, 0, r.uniform(0.1, 0.4))
                self.adv(100, 600)
                self.lifecycle("Resumed" if event == "Paused" else "Started")

    def delete(self, retry: bool = False) -> None:
        em, r = self.em, self.rng
        req = em.req(self.project)
        em.keystone(self.adv(1000, 5000), validate=False)
        em.wsgi(self.adv(100, 300), "nova-api", req, "DELETE", f"/v2/{self.project[1]}/servers/{self.uuid}",
                204, 0, r.uniform(0.1, 0.3))
        start = self.adv(50, 200)
        self.compute("INFO", "nova.compute.manager", req, "Terminating instance")
        if self.twist == "double_terminate":
            self.adv(1, 5)
            self.compute("INFO", "nova.virt.libvirt.driver", "-", "Instance destroyed successfully.")
            self.adv(200, 900)
            self.compute("INFO", "nova.compute.manager", req, "Terminating instance")
        if self.kind == "delete_failure" and not retry:
            self.adv(2000, 8000)
            self.compute("ERROR", "nova.compute.manager", req, "Setting instance vm_state to ERROR")
            self.traceback(req, (("compute/manager.py", 2378, "do_terminate_instance", "self._delete_instance(context, instance, bdms, quotas)"),
                                 ("virt/libvirt/driver.py", 882, "_destroy", "instance=instance)")),
                           f"libvirtError: Failed to terminate process {r.randint(2000, 60000)} with SIGKILL: "
                           "Device or resource busy")
            if r.random() < 0.6:
                self.adv(20000, 90000)
                self.delete(retry=True)
            return
        if self.volume and self.attached:
            self.adv(100, 300)
            self.compute("INFO", "nova.compute.manager", req, f"Detaching volume {self.volume}")
            em.emit(self.adv(200, 600), "cinder-volume", "INFO", "cinder.volume.manager",
                    f"req-{uuid4(r)} {self.project[0]} {self.project[1]} - - -", "Detach volume completed successfully.")
        self.adv(300, 900)
        self.compute("INFO", "nova.compute.manager", "-", "VM Stopped (Lifecycle Event)")
        if "destroyed" not in self.skip:
            self.adv(1, 5)
            self.compute("INFO", "nova.virt.libvirt.driver", "-", "Instance destroyed successfully.")
        self.adv(600, 900)
        self.compute("INFO", "nova.virt.libvirt.driver", req, f"Deleting instance files /var/lib/nova/instances/{self.uuid}_del")
        if "destroyed" not in self.skip:
            self.adv(1, 3)
            self.compute("INFO", "nova.virt.libvirt.driver", req,
                         f"Deletion of /var/lib/nova/instances/{self.uuid}_del complete")
        self.adv(1, 3)
        self.compute("INFO", "nova.compute.manager", req,
                     f"Took {(self.t - start) / 1000:.2f} seconds to destroy the instance on the hypervisor.")
        self.deallocate(req, start=self.t)
        if self.twist == "start_after_delete":
            self.adv(500, 5000)
            self.lifecycle("Started")
            self.adv(40, 90)
            self.lifecycle("Resumed")
        self.poll(self.adv(500, 3000), status=404)

    def deallocate(self, req: str, start: int) -> None:
        em, r = self.em, self.rng
        em.wsgi(self.adv(100, 300), "neutron-server", em.req(em.service_project), "DELETE",
                f"/v2.0/ports/{self.port}.json", 204, 168, r.uniform(0.1, 0.4))
        self.adv(200, 400)
        if "dealloc" not in self.skip:
            self.compute("INFO", "nova.compute.manager", req,
                         f"Took {(self.t - start) / 1000 + 0.3:.2f} seconds to deallocate network for instance.")
        self.adv(100, 400)
        self.vif_event("network-vif-deleted", found=False)

    def _fail_build(self, last: str) -> None:
        """After a failed spawn: clean up, then reschedule elsewhere or give up with NoValidHost."""
        em, r = self.em, self.rng
        self.compute("ERROR", "nova.compute.manager", self.boot_req, "Instance failed to spawn")
        self.traceback(self.boot_req, _SPAWN_FRAMES, last)
        self.adv(5, 50)
        self.compute("INFO", "nova.compute.manager", self.boot_req, "Terminating instance")
        self.adv(1, 10)
        self.compute("INFO", "nova.virt.libvirt.driver", "-", "Instance destroyed successfully.")
        self.deallocate(self.boot_req, start=self.t)
        if r.random() < 0.5 and len(em.hosts) > 1:
            self.compute("INFO", "nova.compute.manager", self.boot_req,
                         f"Build of instance {self.uuid} was re-scheduled: {last.split(': ', 1)[-1]}")
            self.host = next(h for h in em.hosts if h != self.host)
            self.port = uuid4(r)
            self.schedule()
            self.claims()
            self.image_and_network()
            self.spawn()
            return
        em.emit(self.adv(300, 900), "nova-conductor", "WARNING", "nova.scheduler.utils", self.boot_req,
                "Failed to compute_task_build_instances: No valid host was found. "
                "There are not enough hosts available.")
        em.emit(self.adv(1, 5), "nova-conductor", "WARNING", "nova.scheduler.utils", self.boot_req,
                f"{self.tag}Setting instance to ERROR state.")
        self.poll(self.adv(2000, 8000))
        req = em.req(self.project)
        em.wsgi(self.adv(5000, 30000), "nova-api", req, "DELETE", f"/v2/{self.project[1]}/servers/{self.uuid}",
                204, 0, r.uniform(0.05, 0.2))
        self.poll(self.adv(500, 3000), status=404)

    def spawn_failure(self) -> None:
        self.adv(2000, 6000)
        self._fail_build(self.rng.choice(_SPAWN_ERRORS))

    def vif_timeout(self) -> None:
        self.start_lifecycle()
        self.adv(300000, 300500)
        self.compute("WARNING", "nova.virt.libvirt.driver", self.boot_req,
                     f"Timeout waiting for [('network-vif-plugged', u'{self.port}')] for instance with "
                     "vm_state building and task_state spawning.")
        self.adv(5, 50)
        self._fail_build("VirtualInterfaceCreateException: Virtual Interface creation failed")

"""Kernel command-line options both embedded templates boot with.

Each is there because it costs a TCG guest measurable CPU at every boot:

- ``quiet``: every console line is an emulated UART write; the serial console
  stays for ``lago console`` and the readiness line.
- ``cryptomgr.notests``: the crypto self-tests, about 0.3 CPU-seconds.
- ``acpi=noirq``: PCI interrupts routed by the BIOS's table instead of ACPI
  methods run in the AML interpreter for each device: about 2 of the 6
  CPU-seconds a ``tiny`` VM took to port 22, 5 or more of ``debian12``'s.
  ACPI itself stays, for the power button.
- ``pci=nomsi``: without ACPI routing the kernel has no MSI domain and warns
  at every virtio device; plain interrupt lines serve a test VM as well.
"""

FAST_BOOT = "quiet cryptomgr.notests acpi=noirq pci=nomsi"

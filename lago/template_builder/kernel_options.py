"""Kernel command-line options of the embedded templates.

Each is there because it costs a TCG guest measurable CPU at every boot:

- ``quiet``: every console line is an emulated UART write; the serial console
  stays for ``lago console`` and the readiness line.
- ``cryptomgr.notests``: the crypto self-tests, about 0.3 CPU-seconds.

``tiny`` also boots with ``acpi=noirq pci=nomsi``: PCI interrupts routed by
the BIOS's table instead of ACPI methods run in the AML interpreter for each
device, about 1.5 of the 5 CPU-seconds a ``tiny`` VM took to port 22 (ACPI
itself stays, for the power button); without ACPI routing the kernel has no
MSI domain and warns at every virtio device, hence plain interrupt lines.
``debian12`` does not: it spends as much CPU with them, but its disk-heavy
boot then overlaps less of qemu's I/O work with the guest's (13.8 s to port
22 without them, 21.3 s with them, on an idle machine).
"""

FAST_BOOT = "quiet cryptomgr.notests"
INTERRUPT_LINES = "acpi=noirq pci=nomsi"
